"""Derivatives of a 10,000 × 14,000 RGB TIFF: our pipeline vs bare pyvips making the same outputs.

    make bench NAME=derivatives            (or DATABASE_URL=… REDIS_URL=… .venv/bin/python benchmarks/derivatives.py)

A fresh uncompressed RGB TIFF (unique bytes each run) is written with pyvips. Each side runs in
its own child process, the shape of a Celery prefork child, and its peak RSS is read with wait4():

- ours: `image_asset_process` for an image received into a benchmark batch: streamed SHA-256,
  duplicate check, sniff, header-only caps, move to the master key, barcode scan on a
  2,500 px copy, thumb-256 and web-2048 from that copy, IIIF level-0 tiles with dzsave, every
  file stored through Django's storage (local disk) by temp file and rename, rows in PostgreSQL.
- baseline: the same three outputs from bare pyvips calls in one process (thumbnail → web and
  thumb JPEGs, dzsave layout=iiif3 from a sequential load), written straight to a folder.

Last line: RESULT name=derivatives ours=<s> baseline=<s> ratio=<x> peak_rss_mb=<ours child MB>.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402


def make_master(path: Path, width: int, height: int) -> None:
    import pyvips

    seed = random.randrange(1, 250)
    x = pyvips.Image.xyz(width, height)
    image = ((x[0] * 251 // width) + seed).bandjoin([(x[1] * 241 // height), (x[0] + x[1]) % 256]).cast("uchar")
    image.copy(interpretation="srgb").tiffsave(str(path), compression="none")


def child_baseline(master: Path, out: Path) -> dict:
    import pyvips

    started = time.perf_counter()
    web = pyvips.Image.thumbnail(str(master), 2048, height=2048, size="down").copy_memory()
    web.jpegsave(str(out / "web-2048.jpg"), Q=85, keep="none", optimize_coding=True)
    web.thumbnail_image(256, height=256).jpegsave(str(out / "thumb-256.jpg"), Q=85, keep="none", optimize_coding=True)
    pyvips.Image.new_from_file(str(master), access="sequential").dzsave(
        str(out / "iiif"), layout="iiif3", tile_size=512, overlap=0, id="iiif", suffix=".jpg[Q=85,keep=none]")
    return {"seconds": time.perf_counter() - started}


def child_ours(master: Path, media: Path) -> dict:
    os.environ["MEDIA_ROOT"] = str(media)
    _common.setup()
    from imaging.models import ImageAsset
    from imaging.services import image_asset_process, image_asset_receive, imaging_batch_create
    from institutions.models import Institution

    institution, _ = Institution.objects.get_or_create(code="BENCH", defaults={"name": "Benchmark Museum"})
    batch = imaging_batch_create(institution=institution, name="derivatives benchmark")
    with open(master, "rb") as f:
        asset = image_asset_receive(batch=batch, name="BENCH0000001.tif", source=f, size=master.stat().st_size)
    started = time.perf_counter()
    status = image_asset_process(asset_id=asset.pk)
    seconds = time.perf_counter() - started
    asset.refresh_from_db()
    files = sum(1 for p in (media / "derivatives").rglob("*") if p.is_file())
    result = {"seconds": seconds, "status": status, "files": files, "error": asset.error_text,
              "derivatives": list(asset.derivatives.values_list("spec", "bytes"))}
    ImageAsset.objects.filter(pk=asset.pk).delete()  # a rerun with new bytes starts clean
    return result


def run_child(kind: str, master: Path, out: Path) -> tuple[dict, float]:
    """Run one side in a fresh process; returns its JSON answer and its peak RSS in MB."""
    proc = subprocess.Popen([sys.executable, __file__, "--child", kind, str(master), str(out)],
                            stdout=subprocess.PIPE, env={**os.environ, "DJANGO_SETTINGS_MODULE": "collections_portal.settings.base"})
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{kind} child failed ({proc.returncode})")
    return json.loads(output.decode().strip().splitlines()[-1]), usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, default=10_000)
    parser.add_argument("--height", type=int, default=14_000)
    parser.add_argument("--child", nargs=3, metavar=("KIND", "MASTER", "OUT"))
    args = parser.parse_args()
    if args.child:
        kind, master, out = args.child
        answer = child_baseline(Path(master), Path(out)) if kind == "baseline" else child_ours(Path(master), Path(out))
        print(json.dumps(answer))
        return

    _common.setup()  # migrate once in the parent, so the child times only the pipeline
    work = Path(tempfile.mkdtemp(prefix="bench-derivatives-"))
    try:
        master = work / "master.tif"
        started = time.perf_counter()
        make_master(master, args.width, args.height)
        print(f"[bench] {args.width} x {args.height} RGB TIFF, {master.stat().st_size / 1e6:,.0f} MB, "
              f"made in {time.perf_counter() - started:.1f} s", flush=True)
        (work / "baseline").mkdir()
        baseline, baseline_rss = run_child("baseline", master, work / "baseline")
        ours, ours_rss = run_child("ours", master, work / "media")
        base_files = sum(1 for p in (work / "baseline").rglob("*") if p.is_file())
        print(f"[bench] baseline {baseline['seconds']:.2f} s, peak RSS {baseline_rss:.0f} MB, {base_files} files", flush=True)
        print(f"[bench] ours {ours['seconds']:.2f} s, peak RSS {ours_rss:.0f} MB, status {ours['status']}, "
              f"{ours['files']} derivative files {ours['derivatives']} {ours['error']}", flush=True)
        print(_common.result_line("derivatives", ours["seconds"], baseline["seconds"]) + f" peak_rss_mb={ours_rss:.0f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
