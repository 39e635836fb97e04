"""Barcodes on real-size herbarium sheets: our identify stage vs the 2,500 px pass alone.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_barcodes REDIS_URL=redis://127.0.0.1:6379/9 \
        .venv/bin/python benchmarks/barcodes.py [--count 60] [--seed 1] [--no-memory]

The corpus (drawn once with seeds/sheets.py and kept in .local/bench/, so reruns start at once)
is `--count` sheets of 6,000 × 9,000 px at 600 ppi, as herbarium lines scan them:

- Code 128 labels 2.5 to 4 cm wide whose narrowest bar is 0.12 to 0.25 mm (about 3 to 6 px),
  as different label printers make them;
- numbers in four institutions' styles: `BM` + 9 digits, `E00` + 6 digits, `K000` + 6 digits
  and plain digits, one benchmark collection per style with its barcode pattern;
- turned up to ±10° (half of them), some slightly out of focus, most JPEG (quality 60 to 95),
  a few LZW TIFF;
- a colour chart with its own QR code (a web address) or a printed name on some, and on some a
  second label carrying a preparation barcode.

Each sheet is timed two ways, alternately, on the same file:

- ours: the pipeline's identify stage on an image row whose master is the sheet: the ~2,500 px
  scan copy read, the codes looked up, and, when nothing links, the master read again at full
  resolution in strips. It counts as read when the image links to the sheet's specimen.
- baseline: the 2,500 px pass alone (scan copy + zxing-cpp), read when it finds any code of the
  sheet's labels.

Then, unless --no-memory, a 10,000 × 14,000 uncompressed TIFF sheet with 0.12 mm bars goes through
the identify stage in a child process, which reports its peak RSS (VmHWM).

Last line: RESULT name=barcodes ours=<s per image> baseline=<s per image> ratio=<x>
read_rate=<0..1> baseline_read_rate=<0..1> [peak_rss_mb=<MB>].
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
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

CORPUS_VERSION = 1  # bump when the corpus's design changes, so cached sheets are drawn again
INSTITUTION = "BARC"
# (collection code, name, barcode pattern, a number in its style)
STYLES = (
    ("NHM", "BM-style sheets", r"^BM\d{9}$", lambda r: f"BM{r.randrange(1, 10**9):09d}"),
    ("RBGE", "E00-style sheets", r"^E\d{8}$", lambda r: f"E00{r.randrange(1, 10**6):06d}"),
    ("KEW", "K000-style sheets", r"^K\d{9}$", lambda r: f"K000{r.randrange(1, 10**6):06d}"),
    ("PLAIN", "Plain-number sheets", r"^\d{6,8}$", lambda r: f"{r.randrange(10**7, 10**8)}"),
)


@dataclass
class Item:
    name: str
    style: str
    catalog_number: str
    preparation_barcode: str = ""
    bar_mm: float = 0.2
    width_mm: float = 30.0
    rotation: float = 0.0
    blur: float = 0.0
    quality: int = 0  # 0: LZW TIFF
    chart: str = ""
    chart_text: str = ""
    labels: list = field(default_factory=list)


def plan(count: int, seed: int) -> list[Item]:
    rng = random.Random(seed)
    items = []
    for i in range(count):
        style, _name, _pattern, number = STYLES[i % len(STYLES)]
        item = Item(name="", style=style, catalog_number=number(rng))
        item.bar_mm = round(0.12 + 0.13 * (i * 7 % count) / max(1, count - 1), 3)  # spread evenly, shuffled by 7
        item.width_mm = round(rng.uniform(25, 40), 1)
        item.rotation = round(rng.uniform(-10, 10), 1) if i % 2 else 0.0
        item.blur = round(rng.uniform(0.5, 1.0), 2) if i % 5 == 3 else 0.0
        item.quality = 0 if i % 12 == 5 else rng.choice((60, 70, 80, 85, 90, 95))
        if i % 3 == 0:
            item.chart = f"https://colour-charts.example.org/chart/{rng.randrange(1000, 9999)}"
        elif i % 3 == 1 and i % 2 == 0:
            item.chart_text = "Colour reference"
        if i % 5 == 1:
            item.preparation_barcode = f"P{rng.randrange(10**7, 10**8)}"
        item.name = f"sheet_{i:03d}{'.tif' if item.quality == 0 else '.jpg'}"
        items.append(item)
    return items


def sheet_of(item: Item, seed: int):
    from seeds.sheets import Label, Sheet

    labels = [Label(item.catalog_number, bar_mm=item.bar_mm, width_mm=item.width_mm)]
    if item.preparation_barcode:
        labels.append(Label(item.preparation_barcode, bar_mm=item.bar_mm, width_mm=item.width_mm, heading="PREPARATION"))
    # Few distinct plants (drawing one takes seconds); labels, places and everything else vary.
    rng = random.Random(f"{seed}:{item.name}")
    places = tuple((rng.uniform(0.04, 0.32), rng.uniform(0.55, 0.66) + 0.1 * k) for k in range(len(labels)))
    return Sheet(labels=tuple(labels), seed=rng.randrange(6), rotation=item.rotation, blur=item.blur,
                 chart=item.chart or None, chart_text=item.chart_text or None, label_places=places)


def corpus_build(folder: Path, count: int, seed: int) -> list[Item]:
    """Draw the corpus into `folder` once; a later run with the same count and seed reuses it."""
    from seeds.sheets import sheet_write

    done = folder / "corpus.json"
    if done.exists():
        return [Item(**d) for d in json.loads(done.read_text())]
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    items = plan(count, seed)
    started = time.perf_counter()
    for i, item in enumerate(items):
        sheet_write(sheet_of(item, seed), folder / item.name, quality=item.quality or None, compression="lzw")
        if (i + 1) % 10 == 0:
            print(f"[bench] drew {i + 1}/{len(items)} sheets in {time.perf_counter() - started:.0f} s", flush=True)
    done.write_text(json.dumps([asdict(i) for i in items]))
    return items


def institution_ensure(items: list[Item]):
    """The benchmark institution, a collection per style and a specimen per sheet (only what is missing)."""
    from institutions.services import collection_upsert, institution_upsert
    from specimens.models import Preparation, Specimen
    from specimens.services import preparation_add, specimen_create

    institution = institution_upsert(code=INSTITUTION, name="Barcode Benchmark Herbarium", city="London")
    collections = {code: collection_upsert(institution=institution, code=code, name=name, discipline="Botany",
                                           barcode_pattern=pattern) for code, name, pattern, _ in STYLES}
    have = set(Specimen.objects.filter(institution=institution).values_list("catalog_number", flat=True))
    preparations = set(Preparation.objects.filter(institution=institution).values_list("barcode", flat=True))
    for item in items:
        if item.catalog_number not in have:
            specimen = specimen_create(collection=collections[item.style],
                                       data={"catalog_number": item.catalog_number})
        else:
            specimen = Specimen.objects.get(institution=institution, catalog_number=item.catalog_number)
        if item.preparation_barcode and item.preparation_barcode not in preparations:
            preparation_add(specimen=specimen, preparation_type="sheet", barcode=item.preparation_barcode)
    return institution


def _sniff(path: Path) -> str:
    from imaging import images

    with open(path, "rb") as f:
        return images.sniff(f.read(16))


def asset_for(institution, batch, path: Path):
    """An image row whose master is the corpus file itself (MEDIA_ROOT is the corpus folder)."""
    from imaging import images
    from imaging.models import ImageAsset

    mime = _sniff(path)
    header = images.read_header(path, mime, images.Limits())
    return ImageAsset.objects.create(batch=batch, institution=institution, original_name=f"DSC_{path.stem}{path.suffix}",
                                     master_key=path.name, sha256=f"bench{path.stem}", mime_type=mime,
                                     width=header.width, height=header.height, status=ImageAsset.Status.VALIDATED)


def identify(asset, work: Path) -> int | None:
    """Our identify stage on `asset`, rolled back; returns the specimen it linked."""
    from django.db import transaction

    from imaging import services

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    with transaction.atomic():
        services._stage_identify(asset, work)
        specimen_id = asset.specimen_id
        transaction.set_rollback(True)
    return specimen_id


def small_pass(path: Path, work: Path) -> list[str]:
    from imaging import images

    target = work / "baseline-scan.tif"
    scan = images.scan_copy(path, _sniff(path), size=2500, target=target)
    found = [b["text"] for b in images.read_barcodes(scan)]
    target.unlink(missing_ok=True)
    return found


def child_memory(path: Path, work: Path) -> dict:
    """The identify stage on one big master, in this (child) process: its peak RSS is the measure."""
    os.environ["MEDIA_ROOT"] = str(path.parent)
    _common.setup()
    from imaging.models import ImagingBatch
    from institutions.models import Institution

    institution = Institution.objects.get(code=INSTITUTION)
    batch = ImagingBatch.objects.create(institution=institution, name="barcodes memory")
    asset = asset_for(institution, batch, path)
    started = time.perf_counter()
    specimen_id = identify(asset, work)
    seconds = time.perf_counter() - started
    codes = [c["text"] for c in asset.barcodes]
    asset.delete()
    batch.delete()
    return {"seconds": seconds, "linked": specimen_id is not None, "codes": codes, "peak_rss_mb": _peak_rss_mb()}


def _peak_rss_mb() -> float:
    """This process's peak RSS since exec (VmHWM). Not ru_maxrss: Linux carries over into it the
    RSS of the parent the child was forked from, here the process that drew the big sheet."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def memory_run(work: Path, seed: int) -> float:
    from seeds.sheets import Label, Sheet, sheet_write
    from specimens.models import Specimen

    number = Specimen.objects.filter(institution__code=INSTITUTION, collection__code="NHM").values_list(
        "catalog_number", flat=True).first()
    path = work / "big" / "master-10000x14000.tif"
    path.parent.mkdir()
    started = time.perf_counter()
    sheet_write(Sheet(labels=(Label(number, bar_mm=0.12, width_mm=36),), width=10_000, height=14_000, seed=seed), path)
    print(f"[bench] 10,000 x 14,000 TIFF ({path.stat().st_size / 1e6:,.0f} MB) drawn in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    proc = subprocess.Popen([sys.executable, __file__, "--child", str(path), str(work / "child-work")],
                            stdout=subprocess.PIPE, env={**os.environ, "DJANGO_SETTINGS_MODULE": "collections_portal.settings.base"})
    output = proc.stdout.read()
    if proc.wait() != 0:
        sys.exit("memory child failed")
    answer = json.loads(output.decode().strip().splitlines()[-1])
    rss = answer["peak_rss_mb"]
    print(f"[bench] 10,000 x 14,000 master: identify {answer['seconds']:.1f} s, peak RSS {rss:.0f} MB, "
          f"linked={answer['linked']} codes={answer['codes']}", flush=True)
    path.unlink()
    return rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-memory", action="store_true", help="skip the 10,000 x 14,000 peak-RSS run")
    parser.add_argument("--child", nargs=2, metavar=("MASTER", "WORK"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child_memory(Path(args.child[0]), Path(args.child[1]))))
        return

    folder = _common.ROOT / ".local" / "bench" / f"barcodes-v{CORPUS_VERSION}-{args.count}-{args.seed}"
    os.environ["MEDIA_ROOT"] = str(folder)  # the corpus files are the masters
    _common.setup()
    items = corpus_build(folder, args.count, args.seed)
    from imaging.models import ImageAsset, ImagingBatch

    institution = institution_ensure(items)
    ImageAsset.objects.filter(institution=institution).delete()
    ImagingBatch.objects.filter(institution=institution).delete()
    batch = ImagingBatch.objects.create(institution=institution, name="barcodes benchmark")
    specimens = dict(institution.specimens.values_list("catalog_number", "pk"))
    work = Path(tempfile.mkdtemp(prefix="bench-barcodes-"))
    print(f"[bench] {len(items)} sheets of 6,000 x 9,000 at 600 ppi; {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    ours_total = base_total = 0.0
    ours_read = base_read = 0
    misses = []
    try:
        for i, item in enumerate(items):
            path = folder / item.name
            asset = asset_for(institution, batch, path)
            started = time.perf_counter()
            linked = identify(asset, work / "ours")
            middle = time.perf_counter()
            found = small_pass(path, work)
            base_total += time.perf_counter() - middle
            ours_total += middle - started
            ok = linked == specimens[item.catalog_number]
            ours_read += ok
            base_read += any(code in found for code in (item.catalog_number, item.preparation_barcode) if code)
            if not ok:
                misses.append((item.name, item.bar_mm, item.rotation, item.blur, item.quality, asset.error_text[:200]))
            asset.delete()
            if (i + 1) % 10 == 0:
                print(f"[bench] {i + 1}/{len(items)}: ours {ours_total / (i + 1):.2f} s/image, read {ours_read}; "
                      f"2,500 px pass {base_total / (i + 1):.2f} s/image, read {base_read}", flush=True)
        for miss in misses:
            print(f"[bench] not linked: {miss}", flush=True)
        rss = None if args.no_memory else memory_run(work, args.seed)
    finally:
        batch.delete()
        shutil.rmtree(work, ignore_errors=True)
    n = len(items)
    line = _common.result_line("barcodes", ours_total / n, base_total / n)
    line += f" read_rate={ours_read / n:.3f} baseline_read_rate={base_read / n:.3f}"
    print(line + (f" peak_rss_mb={rss:.0f}" if rss is not None else ""))


if __name__ == "__main__":
    main()
