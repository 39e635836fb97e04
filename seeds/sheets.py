"""Synthetic herbarium sheets that look and scan like the real thing, drawn with pyvips.

A sheet is cream mounting paper (6,000 × 9,000 px at 600 ppi by default, a 25 × 38 cm sheet)
with a pressed plant, strips of mounting tape, a printed determination label with text, one or
more Code 128 barcode labels printed at a chosen bar size, and optionally a colour chart with
its own QR code or printed name. The whole scan can be turned a few degrees, blurred, and saved
as JPEG, as scanning lines deliver it. Nothing is random unless a seed says so, so a sheet can
be drawn again from its spec.

How to call it (the benchmark `benchmarks/barcodes.py` and the demo images both do)::

    from seeds.sheets import Label, Sheet, sheet_write, sheet_for

    # Everything spelled out: a 3.6 cm NHM label whose narrowest bar is 0.12 mm (~2.8 px).
    sheet = Sheet(labels=(Label("BM001234567", bar_mm=0.12, width_mm=36),),
                  taxon="Quercus robur L.", rotation=4.0, blur=0.8, chart="https://example.org/chart/7")
    sheet_write(sheet, Path("BM001234567.jpg"), quality=85)   # .tif writes an uncompressed TIFF

    # A plausible sheet for a catalogue number, varied by the seed (demo data):
    sheet_write(sheet_for("K000123456", seed=7), Path("K000123456.jpg"))

    image = sheet_image(sheet)   # the pyvips image itself, not yet written

`Label(text, bar_mm, width_mm)`: `text` is what the barcode holds; `bar_mm` the narrowest bar
(0.12 to 0.25 mm for the label printers museums use; a 203 dpi thermal printer makes 0.125);
`width_mm` the label paper, widened when the barcode needs more room. `Sheet.chart` is the
text of the colour chart's QR code (a URL, say), `chart_text` a printed name on the chart
instead or as well; `Sheet.ppi` scales everything, so `Sheet(width=1500, height=2250, ppi=150)`
draws a quick small sheet for tests.
"""

from __future__ import annotations

import functools
import logging
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

import pyvips
import zxingcpp

logging.getLogger("pyvips").setLevel(logging.WARNING)  # libvips' per-operation chatter

PAPER = (238, 233, 216)
LABEL_PAPER = (251, 250, 246)
INK = (24, 22, 20)
LEAF_GREENS = ((84, 96, 50), (104, 108, 58), (72, 82, 44), (118, 112, 66), (96, 88, 52))
STEM = (98, 82, 52)
TAPE = (226, 220, 196)
# A 24-patch chart in the order of the classic colour checker (approximate sRGB).
CHART_PATCHES = (
    (115, 82, 68), (194, 150, 130), (98, 122, 157), (87, 108, 67), (133, 128, 177), (103, 189, 170),
    (214, 126, 44), (80, 91, 166), (193, 90, 99), (94, 60, 108), (157, 188, 64), (224, 163, 46),
    (56, 61, 150), (70, 148, 73), (175, 54, 60), (231, 199, 31), (187, 86, 149), (8, 133, 161),
    (243, 243, 242), (200, 200, 200), (160, 160, 160), (122, 122, 121), (85, 85, 85), (52, 52, 52),
)
TAXA = (
    "Quercus robur L.", "Ranunculus acris L.", "Digitalis purpurea L.", "Primula vulgaris Huds.",
    "Hedera helix L.", "Salix caprea L.", "Geranium robertianum L.", "Silene dioica (L.) Clairv.",
    "Vicia sepium L.", "Lathyrus pratensis L.", "Succisa pratensis Moench", "Mentha aquatica L.",
)
PLACES = (
    "England: Surrey, Box Hill, chalk grassland", "Scotland: Perthshire, Ben Lawers, wet flush",
    "Wales: Snowdonia, Cwm Idwal, ledges", "England: Norfolk, Wicken Fen, fen margin",
    "England: Cornwall, The Lizard, serpentine heath", "Scotland: Midlothian, Pentland Hills, burnside",
)
COLLECTORS = ("A. Smith", "E. Armitage", "J. Hooker", "M. Gibbs", "R. Kent", "D. Allen")


@dataclass(frozen=True)
class Label:
    text: str  # what the Code 128 symbol holds
    bar_mm: float = 0.2  # narrowest bar (one module) as printed
    width_mm: float = 40.0  # label paper; widened when the symbol needs more room
    heading: str = "NATURAL HISTORY MUSEUM"


@dataclass(frozen=True)
class Sheet:
    labels: tuple[Label, ...] = ()
    width: int = 6000
    height: int = 9000
    ppi: int = 600
    taxon: str = "Quercus robur L."
    locality: str = PLACES[0]
    collector: str = "A. Smith 1234"
    date: str = "14 June 1931"
    chart: str | None = None  # the colour chart's QR code text; None with no chart_text: no chart
    chart_text: str | None = None  # a printed name on the chart
    rotation: float = 0.0  # degrees, the whole scan; positive turns clockwise
    blur: float = 0.0  # Gaussian sigma in px, for a scan slightly out of focus
    seed: int = 0  # varies the plant, the label places and the paper
    label_places: tuple[tuple[float, float], ...] = field(default=())  # (x, y) as fractions; default: bottom right


def _px(sheet: Sheet, mm: float) -> float:
    return mm * sheet.ppi / 25.4


def _solid(width: int, height: int, colour) -> pyvips.Image:
    return (pyvips.Image.black(max(1, width), max(1, height), bands=3) + list(colour)).cast("uchar").copy(
        interpretation="srgb")


# --- the plant, drawn at a quarter of the size and enlarged: soft edges, as a pressed plant scans ---


def _shape(mask: pyvips.Image, colour, angle: float) -> pyvips.Image:
    """An RGBA patch: `colour` where `mask` (0/255) is set, turned by `angle` degrees."""
    rgba = _solid(mask.width, mask.height, colour).bandjoin(mask).copy(interpretation="srgb")
    return rgba.rotate(angle) if angle else rgba


def _leaf(length: int, width: int, colour, angle: float) -> pyvips.Image:
    xyz = pyvips.Image.xyz(max(2, length), max(2, width))
    u = (xyz[0] - length / 2) / (length / 2)
    v = (xyz[1] - width / 2) / (width / 2)
    blade = v.abs() < (1 - u * u)
    rib = (v.abs() < 0.08) & (u.abs() < 0.9)
    shade = [max(0, c - 28) for c in colour]
    rgb = rib.ifthenelse(shade, colour).cast("uchar")
    return rgb.bandjoin(blade.cast("uchar")).copy(interpretation="srgb").rotate(angle)


def _stroke(x0: float, y0: float, x1: float, y1: float, thick: float, colour):
    length = max(2, int(math.hypot(x1 - x0, y1 - y0)) + int(thick))
    mask = _solid(length, max(2, int(thick)), (255,))[0]
    return _shape(mask, colour, math.degrees(math.atan2(y1 - y0, x1 - x0))), (x0 + x1) / 2, (y0 + y1) / 2


def _paste(canvas: pyvips.Image, patch: pyvips.Image, cx: float, cy: float) -> pyvips.Image:
    """Composite an RGBA patch centred on (cx, cy), touching only the pixels under it."""
    x, y = int(cx - patch.width / 2), int(cy - patch.height / 2)
    left, top = max(0, x), max(0, y)
    right, bottom = min(canvas.width, x + patch.width), min(canvas.height, y + patch.height)
    if right <= left or bottom <= top:
        return canvas
    patch = patch.crop(left - x, top - y, right - left, bottom - top)
    under = canvas.crop(left, top, right - left, bottom - top)
    return canvas.insert(under.composite2(patch, "over").flatten().cast("uchar"), left, top)


@functools.lru_cache(maxsize=8)  # a corpus reuses a few plants; drawing one takes seconds
def _plant(width: int, height: int, seed: int) -> pyvips.Image:
    rng = random.Random(seed)
    canvas = _solid(width, height, PAPER).copy_memory()
    base_x, base_y, top_y = width * rng.uniform(0.35, 0.55), height * 0.86, height * rng.uniform(0.10, 0.18)
    shapes = []
    # Main stem, gently curving, with a branch every so often; leaves alternate along both.
    steps = 18
    points = [(base_x + math.sin(i / steps * math.pi * rng.uniform(0.6, 1.4)) * width * 0.08,
               base_y - (base_y - top_y) * i / steps) for i in range(steps + 1)]
    stems = [(points, width * 0.006)]
    for i in range(3, steps - 2, 3):
        side = rng.choice((-1, 1))
        x0, y0 = points[i]
        reach = width * rng.uniform(0.15, 0.28)
        branch = [(x0 + side * reach * t, y0 - reach * 0.7 * t - rng.uniform(0, 8) * t) for t in (0, 0.25, 0.5, 0.75, 1)]
        stems.append((branch, width * 0.0035))
    for path, thick in stems:
        for (x0, y0), (x1, y1) in zip(path, path[1:]):
            shapes.append(_stroke(x0, y0, x1, y1, thick, STEM))
        for j, (x, y) in enumerate(path[1:], start=1):
            side = 1 if j % 2 else -1
            length = int(width * rng.uniform(0.07, 0.12))
            angle = side * rng.uniform(20, 65) + (180 if side < 0 else 0)
            leaf = _leaf(length, int(length * rng.uniform(0.3, 0.45)), rng.choice(LEAF_GREENS), angle)
            dx, dy = math.cos(math.radians(angle)) * length / 2, math.sin(math.radians(angle)) * length / 2
            shapes.append((leaf, x + dx, y + dy))
        tip_x, tip_y = path[-1]
        for k in range(5):  # a flower head: petals round the tip
            angle = k * 72 + rng.uniform(0, 30)
            petal = _leaf(int(width * 0.03), int(width * 0.016), (196, 172, 96), angle)
            shapes.append((petal, tip_x + math.cos(math.radians(angle)) * width * 0.014,
                           tip_y + math.sin(math.radians(angle)) * width * 0.014))
    for _ in range(7):  # roots
        angle = rng.uniform(50, 130)
        r = width * rng.uniform(0.03, 0.07)
        shapes.append(_stroke(base_x, base_y, base_x + math.cos(math.radians(angle)) * r,
                              base_y + math.sin(math.radians(angle)) * r, width * 0.0015, (120, 96, 60)))
    for _ in range(3):  # mounting tape over the stem
        x, y = points[rng.randrange(2, steps - 1)]
        tape = _solid(int(width * 0.06), int(width * 0.012), TAPE).bandjoin(200).copy(interpretation="srgb")
        shapes.append((tape.rotate(rng.uniform(-20, 20)), x, y))
    for patch, cx, cy in shapes:
        canvas = _paste(canvas, patch, cx, cy)
    return canvas.copy_memory()


# --- labels ------------------------------------------------------------------------------------


def _text(markup: str, sheet: Sheet, points: float, width: int, font: str = "serif") -> pyvips.Image:
    """Black text on label paper, `points` high at the sheet's ppi."""
    mask = pyvips.Image.text(markup, font=f"{font} {points}", dpi=sheet.ppi, width=width, rgba=False)
    paper = _solid(mask.width, mask.height, LABEL_PAPER)
    return (paper - (mask.cast("float") / 255).bandjoin([mask.cast("float") / 255] * 2)
            * [LABEL_PAPER[i] - INK[i] for i in range(3)]).cast("uchar").copy(interpretation="srgb")


def _stack(parts: list[pyvips.Image], width: int, gap: int, margin: int) -> pyvips.Image:
    height = sum(p.height for p in parts) + gap * (len(parts) - 1) + 2 * margin
    label = _solid(width, height, LABEL_PAPER)
    y = margin
    for part in parts:
        label = label.insert(part, max(margin, (width - part.width) // 2), y)
        y += part.height + gap
    return label


def code128_bars(text: str, *, module_px: float, height: int) -> pyvips.Image:
    """A Code 128 symbol with quiet zones, one module `module_px` wide (fractions blend as a scan does)."""
    symbol = zxingcpp.write_barcode_to_image(zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.Code128), scale=1)
    modules = symbol.shape[1]
    row = pyvips.Image.new_from_memory(bytes(memoryview(symbol))[:modules], modules, 1, 1, "uchar")
    bars = row.resize(module_px, vscale=height, kernel="linear")
    return bars.colourspace("srgb")


def barcode_label(label: Label, sheet: Sheet) -> pyvips.Image:
    module = _px(sheet, label.bar_mm)
    bars = code128_bars(label.text, module_px=module, height=int(_px(sheet, 7)))
    width = max(int(_px(sheet, label.width_mm)), bars.width + int(_px(sheet, 2)))
    bars = bars.embed(0, 0, bars.width, bars.height, extend="white") * [LABEL_PAPER[i] / 255 for i in range(3)]
    parts = [_text(label.heading, sheet, 5, width, font="sans bold"), bars.cast("uchar"),
             _text(_escape(label.text), sheet, 6, width, font="monospace")]
    return _frame(_stack(parts, width, int(_px(sheet, 0.6)), int(_px(sheet, 1.5))), sheet)


def determination_label(sheet: Sheet) -> pyvips.Image:
    width = int(_px(sheet, 95))
    lines = [
        _text("<b>HERBARIUM</b>", sheet, 9, width),
        _text(f"<i>{_escape(sheet.taxon)}</i>", sheet, 10, width),
        _text(_escape(sheet.locality), sheet, 8, width),
        _text(f"Coll. {_escape(sheet.collector)}    {_escape(sheet.date)}", sheet, 8, width),
        _text("Det. conf. 1987", sheet, 7, width),
    ]
    return _frame(_stack(lines, width, int(_px(sheet, 1.2)), int(_px(sheet, 4))), sheet)


def colour_chart(sheet: Sheet) -> pyvips.Image:
    patch, gap = int(_px(sheet, 9)), int(_px(sheet, 1))
    width, height = 6 * patch + 7 * gap, 4 * patch + 5 * gap
    chart = _solid(width, height, (30, 30, 30))
    for i, colour in enumerate(CHART_PATCHES):
        chart = chart.insert(_solid(patch, patch, colour), gap + (i % 6) * (patch + gap), gap + (i // 6) * (patch + gap))
    extras = []
    if sheet.chart:
        qr = zxingcpp.write_barcode_to_image(zxingcpp.create_barcode(sheet.chart, zxingcpp.BarcodeFormat.QRCode), scale=1)
        h, w = qr.shape[:2]
        code = pyvips.Image.new_from_memory(bytes(memoryview(qr)), w, h, 1, "uchar")
        extras.append(code.resize(max(1, round(_px(sheet, 0.5))), kernel="nearest").colourspace("srgb"))
    if sheet.chart_text:
        extras.append(_text(_escape(sheet.chart_text), sheet, 7, int(_px(sheet, 50)), font="sans"))
    for extra in extras:
        joined = _solid(chart.width + extra.width + gap * 2, max(chart.height, extra.height), (255, 255, 255))
        chart = joined.insert(chart, 0, 0).insert(extra, chart.width + gap, 0)
    return chart


def _frame(label: pyvips.Image, sheet: Sheet) -> pyvips.Image:
    """A thin printed border and a soft shadow line, so the label reads as a separate paper."""
    edge = max(1, int(_px(sheet, 0.15)))
    framed = _solid(label.width + 2 * edge, label.height + 2 * edge, (120, 118, 110)).insert(label, edge, edge)
    return framed


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- the sheet ---------------------------------------------------------------------------------


def _paper(sheet: Sheet, rng: random.Random) -> pyvips.Image:
    """Mounting paper with a faint uneven tone, made small and enlarged (cheap, no JPEG noise)."""
    small = pyvips.Image.gaussnoise(max(2, sheet.width // 64), max(2, sheet.height // 64), sigma=3, mean=0,
                                    seed=rng.randrange(1 << 30))
    tone = small.resize(64, kernel="linear").crop(0, 0, min(sheet.width, small.width * 64), min(sheet.height, small.height * 64))
    tone = tone.embed(0, 0, sheet.width, sheet.height, extend="copy")
    return (tone.bandjoin([tone, tone]) + list(PAPER)).cast("uchar").copy(interpretation="srgb")


def sheet_image(sheet: Sheet) -> pyvips.Image:
    """The whole scanned sheet as an sRGB pyvips image (computed when written)."""
    rng = random.Random(sheet.seed)
    quarter = _plant(sheet.width // 4, sheet.height // 4, sheet.seed)
    plant = quarter.resize(sheet.width / quarter.width, vscale=sheet.height / quarter.height, kernel="linear")
    # The plant's paper colour becomes the uneven mounting paper.
    paper = _paper(sheet, rng)
    is_paper = (plant - list(PAPER)).abs().bandor() < 6
    image = is_paper.ifthenelse(paper, plant)

    det = determination_label(sheet)
    margin = int(_px(sheet, 12))
    image = image.insert(det, sheet.width - det.width - margin, sheet.height - det.height - margin)
    places = list(sheet.label_places) or [(0.08 + 0.05 * i, 0.72 - 0.09 * i) for i in range(len(sheet.labels))]
    for label, (fx, fy) in zip(sheet.labels, places):
        tag = barcode_label(label, sheet)
        x = min(max(0, int(fx * sheet.width)), sheet.width - tag.width)
        y = min(max(0, int(fy * sheet.height)), sheet.height - tag.height)
        image = image.insert(tag, x, y)
    if sheet.chart or sheet.chart_text:
        chart = colour_chart(sheet)
        image = image.insert(chart, margin, margin)
    if sheet.rotation:
        # Turned on the scanner bed: the scan keeps its size, the corners fill with paper.
        turned = image.similarity(angle=sheet.rotation, background=list(PAPER))
        image = turned.crop((turned.width - sheet.width) // 2, (turned.height - sheet.height) // 2,
                            sheet.width, sheet.height)
    if sheet.blur:
        image = image.gaussblur(sheet.blur, precision="integer")
    return image.cast("uchar").copy(interpretation="srgb", xres=sheet.ppi / 25.4, yres=sheet.ppi / 25.4)


def sheet_write(sheet: Sheet, path: Path, *, quality: int | None = None, compression: str = "none") -> Path:
    """Write the sheet to `path`: JPEG for .jpg/.jpeg (at `quality`, default 90), else a TIFF
    (uncompressed, or `compression="lzw"` / `"deflate"` as some scanning software writes)."""
    image = sheet_image(sheet)
    path = Path(path)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        image.jpegsave(str(path), Q=quality or 90, keep="none")
    else:
        image.tiffsave(str(path), compression=compression, predictor="horizontal" if compression != "none" else "none",
                       keep="none")
    return path


def sheet_for(catalog_number: str, *, seed: int = 0, width: int = 6000, height: int = 9000, ppi: int = 600,
              bar_mm: float = 0.2, chart: bool = True) -> Sheet:
    """A plausible sheet for one catalogue number (demo images): varied plant, label and place by seed."""
    rng = random.Random(f"{catalog_number}:{seed}")
    return Sheet(
        labels=(Label(catalog_number, bar_mm=bar_mm, width_mm=rng.uniform(30, 40)),),
        width=width, height=height, ppi=ppi, seed=rng.randrange(1 << 30),
        taxon=rng.choice(TAXA), locality=rng.choice(PLACES),
        collector=f"{rng.choice(COLLECTORS)} {rng.randrange(10, 4000)}", date=f"{rng.randrange(1, 29)} "
        f"{rng.choice(('May', 'June', 'July', 'August'))} {rng.randrange(1850, 1990)}",
        chart=None, chart_text="Colour reference" if chart else None,
        label_places=((rng.uniform(0.05, 0.35), rng.uniform(0.62, 0.78)),),
    )
