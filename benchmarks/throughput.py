"""Images per hour through real Celery workers: a mixed batch on 1 worker, then on 2.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/portal_throughput REDIS_URL=redis://127.0.0.1:6379/11 \
        .venv/bin/python benchmarks/throughput.py [--count 200] [--seed 1]

The batch (made once with pyvips and kept in .local/bench/, so reruns start at once) looks like
a day of a digitisation line: herbarium sheets and insect drawers 2,000–6,000 px on the long
side, half uncompressed or LZW TIFF masters and half JPEG, with paper noise, plant shapes, a
colour chart and a label. Most carry a Code 128 barcode of a specimen of the benchmark
collection (several images per specimen); some are named by the file-name rule
(`TPUT00000012_2.jpg`) without a barcode; some match nothing (an unknown barcode, or no code at
all); a few are byte-for-byte duplicates of earlier files.

With --full-size the masters are full-size herbarium sheets as scanning lines deliver them,
40–65 MP (7,750–9,850 px on the long side at 600 ppi), drawn by seeds/sheets.py with Code 128
labels whose bars (0.12–0.25 mm) the 2,500 px copy cannot read, so most images take the
full-resolution barcode pass too (kept in .local/bench/throughput-v…-full-…).

Each run starts N real `celery worker` processes (prefork, concurrency 1, the production
settings: acks late, prefetch 1) on their own queues, then receives the whole batch through
`image_asset_receive` (stored, recorded, enqueued after commit, as `ingest_images` does) and
waits until every image has settled. The clock runs from the first file received to the last
image settled, so it holds upload, checksum, checks, barcode scan, derivatives and linking.
Before each run the benchmark institution's images and the storage root are cleared, so both
runs do the same work. The outcome (linked / unmatched / duplicates) is checked against the
batch's design before the times are reported.

Last line: RESULT name=throughput ours=<s with 2 workers> baseline=<s with 1 worker> ratio=<ours/baseline>.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

INSTITUTION = "TPUT"
BARCODE_PATTERN = r"^TPUT\d{8}$"
BATCH_VERSION = 3  # bump when the batch's design changes, so cached files are made again
IMAGES_PER_SPECIMEN = 2.4  # NHM record day: 4,621 specimens, ~11,000 images
UNKNOWN_SERIAL = 90_000_000  # barcodes from here on match no specimen


@dataclass
class Item:
    name: str
    kind: str  # barcode | filename | unmatched | duplicate
    code: str = ""  # the catalogue number on the barcode or in the name
    width: int = 0
    height: int = 0
    source: str = ""  # a duplicate: the name of the file it copies


# --- the batch --------------------------------------------------------------------------------


def plan(count: int, seed: int, full_size: bool = False) -> list[Item]:
    """What each file is; the same count and seed give the same batch."""
    rng = random.Random(seed)
    n_dup = max(1, round(count * 0.04))
    n_unmatched = max(1, round(count * 0.15))
    n_filename = max(1, round(count * 0.15))
    kinds = ["filename"] * n_filename + ["unmatched"] * n_unmatched
    kinds += ["barcode"] * (count - n_dup - len(kinds))
    rng.shuffle(kinds)
    items: list[Item] = []
    per_specimen: dict[int, int] = {}
    for i, kind in enumerate(kinds):
        long_side = rng.randint(7750, 9850) if full_size else rng.randint(2000, 6000)  # full size: 40–65 MP
        short_side = round(long_side / (1.5 if full_size else rng.choice((1.45, 1.45, 1.5))))
        width, height = (short_side, long_side) if rng.random() < 0.7 else (long_side, short_side)
        serial = 1 + int(i / IMAGES_PER_SPECIMEN)
        per_specimen[serial] = order = per_specimen.get(serial, 0) + 1
        ext = ".tif" if i % 2 == 0 else ".jpg"
        if kind == "filename":
            code = f"TPUT{serial:08d}"
            name = f"{code}_{order}{ext}"
        elif kind == "unmatched" and rng.random() < 0.5:
            code, name = f"TPUT{UNKNOWN_SERIAL + i:08d}", f"DSC_{10000 + i}{ext}"
        elif kind == "unmatched":
            code, name = "", f"IMG_{10000 + i}{ext}"
        else:
            code, name = f"TPUT{serial:08d}", f"DSC_{10000 + i}{ext}"
        items.append(Item(name=name, kind=kind, code=code, width=width, height=height))
    # Duplicates: the same bytes delivered again later in the day under another name.
    for j in range(n_dup):
        source = items[rng.randrange(0, len(items) // 2)]
        at = rng.randrange(len(items) // 2, len(items) + 1)
        items.insert(at, Item(name=f"COPY_{j:03d}_{source.name}", kind="duplicate", source=source.name))
    return items


def _barcode(text: str, scale: int):
    import pyvips
    import zxingcpp

    code = zxingcpp.write_barcode_to_image(zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.Code128), scale=scale)
    height, width = code.shape[:2]
    bars = pyvips.Image.new_from_memory(bytes(memoryview(code)), width, height, 1, "uchar")
    return bars.resize(1, vscale=max(1.0, 8 * scale / height), kernel="nearest") if height < 8 * scale else bars


def draw(item: Item, rng: random.Random):
    """A sheet: paper with sensor noise, plant-like shapes, a colour chart, a label and barcode."""
    import pyvips

    w, h = item.width, item.height
    paper = [rng.randint(215, 240), rng.randint(205, 230), rng.randint(180, 210)]
    # Sensor noise from one odd-sized tile repeated (full-size gaussnoise is 3x slower to make).
    tile = pyvips.Image.gaussnoise(509, 509, sigma=5, seed=rng.randrange(1 << 30)).copy_memory()
    noise = tile.replicate(math.ceil(w / 509), math.ceil(h / 509)).crop(0, 0, w, h)
    image = noise.bandjoin([noise, noise]) + paper
    image = image.cast("uchar").copy(interpretation="srgb")
    for _ in range(rng.randint(4, 9)):  # leaves: ellipses in greens and browns, each in its own box
        a, b = int(rng.uniform(0.03, 0.12) * w), int(rng.uniform(0.02, 0.08) * h)
        x0, y0 = rng.randint(0, w - 2 * a), rng.randint(0, int(0.75 * h) - 2 * b)
        xy = pyvips.Image.xyz(2 * a, 2 * b)
        mask = (((xy[0] - a) / a) ** 2 + ((xy[1] - b) / b) ** 2) < 1
        leaf = mask.ifthenelse([rng.randint(40, 110), rng.randint(70, 140), rng.randint(20, 70)],
                               image.crop(x0, y0, 2 * a, 2 * b))
        image = image.insert(leaf.cast("uchar"), x0, y0)
    cell = max(24, w // 60)
    for k in range(12):  # a colour chart along the bottom edge
        patch = (pyvips.Image.black(cell, cell, bands=3) + [(k * 97) % 256, (k * 53) % 256, (k * 29) % 256]).cast("uchar")
        image = image.insert(patch.copy(interpretation="srgb"), cell + k * cell, h - 2 * cell)
    if item.code and item.kind != "filename":
        scale = max(2, math.ceil(max(w, h) / 1000))
        bars = _barcode(item.code, scale)
        margin = 6 * scale
        label = bars.embed(margin, margin, bars.width + 2 * margin, bars.height + 2 * margin, extend="white")
        label = label.colourspace("srgb")
        image = image.insert(label, w - label.width - cell, h - label.height - 3 * cell)
    return image


def draw_full_size(item: Item, rng: random.Random):
    """A full-size herbarium sheet from seeds/sheets.py: its Code 128 label printed with the narrow
    bars (0.12–0.25 mm at 600 ppi) that the 2,500 px copy cannot read, so the full-resolution pass runs."""
    from seeds.sheets import Label, Sheet, sheet_image

    labels = (Label(item.code, bar_mm=round(rng.uniform(0.12, 0.25), 3), width_mm=rng.uniform(25, 40)),) \
        if item.code and item.kind != "filename" else ()
    return sheet_image(Sheet(labels=labels, width=item.width, height=item.height, seed=rng.randrange(4),
                             rotation=rng.choice((0.0, rng.uniform(-5, 5))), chart_text="Colour reference",
                             label_places=((rng.uniform(0.05, 0.3), rng.uniform(0.6, 0.75)),)))


def batch_build(folder: Path, count: int, seed: int, full_size: bool = False) -> list[Item]:
    """Write the batch into `folder` once; a later run with the same count and seed reuses it."""
    done = folder / "batch.json"
    if done.exists():
        return [Item(**d) for d in json.loads(done.read_text())]
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    items = plan(count, seed, full_size)
    started, total = time.perf_counter(), 0
    for i, item in enumerate(items):
        target = folder / item.name
        if item.kind == "duplicate":
            shutil.copyfile(folder / item.source, target)
        else:
            image = (draw_full_size if full_size else draw)(item, random.Random(f"{seed}:{item.name}"))
            if target.suffix == ".tif":
                image.tiffsave(str(target), compression="lzw" if i % 3 == 0 else "none", predictor="horizontal")
            else:
                image.jpegsave(str(target), Q=90)
        total += target.stat().st_size
        if (i + 1) % (5 if full_size else 25) == 0:
            print(f"[bench] made {i + 1}/{len(items)} images ({total / 1e9:.1f} GB) in "
                  f"{time.perf_counter() - started:.0f} s", flush=True)
    done.write_text(json.dumps([asdict(i) for i in items]))
    return items


def expected(items: list[Item], known: set[str]) -> dict:
    linked = sum(1 for i in items if i.kind in ("barcode", "filename") and i.code in known)
    duplicates = sum(1 for i in items if i.kind == "duplicate")
    return {"processed": len(items), "linked": linked, "unmatched": len(items) - linked - duplicates,
            "duplicates": duplicates}


# --- workers ----------------------------------------------------------------------------------


class Workers:
    """N `celery worker` processes, each prefork with one child, on this run's queues."""

    def __init__(self, n: int, *, media: Path, prefix: str, log: Path):
        self.n, self.media, self.prefix, self.log_path = n, media, prefix, log
        self.names = [f"tput{k}-{os.getpid()}@{os.uname().nodename}" for k in range(n)]
        self.processes: list[subprocess.Popen] = []

    def __enter__(self):
        from collections_portal.celery import app

        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "collections_portal.settings.base", "DJANGO_DEBUG": "false",
               "MEDIA_ROOT": str(self.media), "CELERY_QUEUE_PREFIX": self.prefix}
        self.log = open(self.log_path, "a")
        for name in self.names:
            self.processes.append(subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "collections_portal", "worker", "-l", "warning",
                 "-Q", f"{self.prefix}imaging,{self.prefix}default", "--concurrency", "1", "--pool", "prefork",
                 "-n", name, "--without-gossip", "--without-mingle", "--without-heartbeat"],
                cwd=_common.ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True))
        deadline = time.monotonic() + 90
        while True:
            replies = {name for reply in app.control.ping(destination=self.names, timeout=0.5) for name in reply}
            if replies == set(self.names):
                return self
            self.check()
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers not ready after 90 s; see {self.log_path}")

    def check(self) -> None:
        for process in self.processes:
            if process.poll() is not None:
                raise RuntimeError(f"a worker exited ({process.returncode}); see {self.log_path}")

    def __exit__(self, *exc):
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.log.close()


def purge(prefix: str) -> None:
    from collections_portal.celery import app

    with app.connection_for_write() as conn:
        for queue in ("imaging", "default"):
            conn.default_channel.queue_purge(f"{prefix}{queue}")


def clear(institution) -> None:
    """Remove the benchmark institution's images (duplicates point at their first: those go first)."""
    from imaging.models import Derivative, ImageAsset, ImagingBatch

    Derivative.objects.filter(asset__institution=institution).delete()
    ImageAsset.objects.filter(institution=institution, duplicate_of__isnull=False).delete()
    ImageAsset.objects.filter(institution=institution).delete()
    ImagingBatch.objects.filter(institution=institution).delete()


def run(n_workers: int, *, institution, files: list[Path], media: Path, prefix: str, log: Path,
        timeout: float) -> tuple[float, float, dict]:
    from imaging.models import ImageAsset
    from imaging.selectors import imaging_batch_counts
    from imaging.services import imaging_batch_create, imaging_batch_ingest_paths

    clear(institution)
    shutil.rmtree(media, ignore_errors=True)  # the previous run's masters and derivatives
    media.mkdir(parents=True)
    purge(prefix)
    with Workers(n_workers, media=media, prefix=prefix, log=log) as workers:
        batch = imaging_batch_create(institution=institution, name=f"throughput {n_workers} worker(s)")
        started = time.perf_counter()
        imaging_batch_ingest_paths(batch=batch, paths=files)
        received = time.perf_counter() - started
        deadline = time.monotonic() + timeout
        while (counts := imaging_batch_counts(batch=batch))["waiting"]:
            workers.check()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{counts['waiting']} images still waiting after {timeout:.0f} s; see {log}")
            time.sleep(0.25)
        seconds = time.perf_counter() - started
    failed = list(ImageAsset.objects.filter(batch=batch, status="failed").exclude(error_code="duplicate")
                  .values_list("original_name", "error_code", "error_text")[:5])
    return seconds, received, {**counts, "failed": failed}


# --- main -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="images in the batch (about 4 %% duplicates)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, nargs=2, default=(1, 2), metavar=("BASELINE", "OURS"))
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for one run")
    parser.add_argument("--full-size", action="store_true",
                        help="full-size herbarium masters, 40–65 MP, drawn by seeds/sheets.py with narrow-bar labels")
    args = parser.parse_args()

    prefix = f"bench-tput-{os.getpid()}-"
    work = Path(tempfile.mkdtemp(prefix="bench-throughput-"))
    media = work / "media"
    os.environ["CELERY_QUEUE_PREFIX"] = prefix  # this process enqueues to the workers' queues
    os.environ["MEDIA_ROOT"] = str(media)  # and stores the received files where they read them
    _common.setup()
    from institutions.services import collection_upsert, institution_upsert
    from specimens.models import Specimen
    from seeds.synthetic import specimens_generate_timed

    institution = institution_upsert(code=INSTITUTION, name="Throughput Benchmark Herbarium", city="London")
    collection = collection_upsert(institution=institution, code="SHEETS", name="Imaged sheets",
                                   discipline="Botany", barcode_pattern=BARCODE_PATTERN)
    wanted = math.ceil(args.count / IMAGES_PER_SPECIMEN) + 1
    have = Specimen.objects.filter(collection=collection).count()
    if have < wanted:
        added, seconds = specimens_generate_timed(collection=collection, count=wanted - have, seed=args.seed)
        print(f"[bench] generated {added:,} specimens in {seconds:.1f} s", flush=True)
    known = set(Specimen.objects.filter(collection=collection).values_list("catalog_number", flat=True))

    size_tag = "-full" if args.full_size else ""
    folder = _common.ROOT / ".local" / "bench" / f"throughput-v{BATCH_VERSION}{size_tag}-{args.count}-{args.seed}"
    items = batch_build(folder, args.count, args.seed, args.full_size)
    files = [folder / item.name for item in items]
    size = sum(f.stat().st_size for f in files)
    tiffs = sum(1 for f in files if f.suffix == ".tif")
    megapixels = sum(i.width * i.height for i in items if i.kind != "duplicate") / 1e6
    print(f"[bench] batch: {len(files)} files, {tiffs} TIFF / {len(files) - tiffs} JPEG, {size / 1e9:.2f} GB, "
          f"{megapixels / max(1, len(files)):.1f} MP a file on average; {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    want = expected(items, known)

    results = {}
    try:
        for n in args.workers:
            seconds, received, counts = run(n, institution=institution, files=files, media=media,
                                            prefix=prefix, log=work / f"workers-{n}.log", timeout=args.timeout)
            got = {k: counts[k] for k in want}
            per_hour = len(files) / seconds * 3600
            print(f"[bench] {n} worker(s): {seconds:.1f} s ({received:.1f} s receiving), {per_hour:,.0f} images/h, "
                  f"{per_hour * 24:,.0f} a day, 11,000 images in {11_000 / per_hour:.1f} h; {got}", flush=True)
            if got != want:
                sys.exit(f"[bench] outcome differs from the batch's design: want {want}, got {got}; "
                         f"failed: {counts['failed']}")
            results[n] = seconds
    finally:
        from institutions.models import Institution

        clear(Institution.objects.get(code=INSTITUTION))
        purge(prefix)
        shutil.rmtree(work, ignore_errors=True)
    baseline_n, ours_n = args.workers
    scaling = results[baseline_n] / results[ours_n]
    print(f"[bench] scaling {baseline_n} → {ours_n} workers: {scaling:.2f}x the images per hour", flush=True)
    print(_common.result_line("throughput", results[ours_n], results[baseline_n]))


if __name__ == "__main__":
    main()
