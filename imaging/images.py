"""Looking at image bytes safely: sniff, header-only limits, barcodes, derivatives with pyvips.

Nothing here touches the database. Every refusal is an ImageRejected with a failure code from
DESIGN §5 and a sentence a digitiser can act on.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyvips
import zxingcpp

# Only the three loaders we name below ever run; libvips' untrusted loaders (ImageMagick,
# PDF, SVG, matlab …) are switched off for the whole process as well.
pyvips.block_untrusted_set(True)
logging.getLogger("pyvips").setLevel(logging.WARNING)  # libvips' per-operation chatter

JPEG, PNG, TIFF = "image/jpeg", "image/png", "image/tiff"
LOADERS = {JPEG: "jpegload", PNG: "pngload", TIFF: "tiffload"}
BARCODE_FORMATS = (zxingcpp.BarcodeFormat.Code128, zxingcpp.BarcodeFormat.QRCode, zxingcpp.BarcodeFormat.DataMatrix)
METADATA_BLOBS = ("exif-data", "xmp-data", "iptc-data", "icc-profile-data")


class ImageRejected(Exception):
    """A file that will never become an image: recorded on its row, never retried."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Limits:
    max_pixels: int = 400_000_000
    max_side: int = 50_000
    max_exif_bytes: int = 256 * 1024
    max_metadata_bytes: int = 8 * 1024 * 1024


@dataclass
class Header:
    mime_type: str
    width: int  # as displayed, after EXIF orientation
    height: int
    orientation: int = 1
    exif: dict = field(default_factory=dict)


# --- sniffing ---------------------------------------------------------------------------------


def sniff(head: bytes) -> str | None:
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return TIFF
    return None


def describe(head: bytes) -> str:
    """A guess at what a refused file is, for the message only."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if b"<svg" in text[:512] or (text.startswith(b"<?xml") and b"svg" in text[:512]):
        return "an SVG drawing"
    if text.startswith((b"<!doctype html", b"<html")):
        return "an HTML page"
    if text.startswith(b"<?xml"):
        return "an XML document"
    if head.startswith(b"PK\x03\x04"):
        return "a ZIP archive"
    if head.startswith(b"%PDF"):
        return "a PDF"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "a GIF"
    if head[4:12] in (b"ftypheic", b"ftypavif", b"ftypmif1"):
        return "a HEIF/AVIF image"
    if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head[:512]):
        return "plain text"
    return "an unknown format"


def find_zip_directory(tail: bytes, file_size: int) -> bool:
    """True if the file ends with a well-formed ZIP end-of-central-directory record."""
    start = len(tail)
    while (pos := tail.rfind(b"PK\x05\x06", 0, start)) != -1:
        if pos + 22 <= len(tail):
            comment_len = struct.unpack("<H", tail[pos + 20:pos + 22])[0]
            if pos + 22 + comment_len == len(tail):
                return True
        start = pos
    return False


def metadata_bytes(path: Path, mime_type: str, limits: Limits) -> None:
    """Walk JPEG markers / PNG chunks up to the pixel data and refuse oversized metadata."""
    total = exif = 0
    with open(path, "rb") as f:
        if mime_type == JPEG:
            f.seek(2)
            while True:
                marker = f.read(2)
                if len(marker) < 2 or marker[0] != 0xFF:
                    break
                kind = marker[1]
                if kind == 0xDA or kind == 0xD9:  # start of scan / end of image
                    break
                if kind == 0x01 or 0xD0 <= kind <= 0xD7:
                    continue
                raw = f.read(2)
                if len(raw) < 2:
                    break
                length = struct.unpack(">H", raw)[0]
                if 0xE0 <= kind <= 0xEF or kind == 0xFE:
                    total += length
                    if kind == 0xE1:
                        exif += length
                f.seek(length - 2, os.SEEK_CUR)
        elif mime_type == PNG:
            f.seek(8)
            while True:
                raw = f.read(8)
                if len(raw) < 8:
                    break
                length, kind = struct.unpack(">I4s", raw)
                if kind in (b"IDAT", b"IEND"):
                    break
                if kind not in (b"IHDR", b"PLTE"):
                    total += length
                    if kind == b"eXIf":
                        exif += length
                f.seek(length + 4, os.SEEK_CUR)
    _check_metadata(total=total, exif=exif, limits=limits)


def _check_metadata(*, total: int, exif: int, limits: Limits) -> None:
    if exif > limits.max_exif_bytes:
        raise ImageRejected("metadata_too_large", f"The EXIF block is {exif:,} bytes; the limit is "
                            f"{limits.max_exif_bytes:,}. Export the image again without the extra metadata.")
    if total > limits.max_metadata_bytes:
        raise ImageRejected("metadata_too_large", f"The file carries {total:,} bytes of metadata; the limit is "
                            f"{limits.max_metadata_bytes:,}. Export the image again without the extra metadata.")


# --- header-only checks -----------------------------------------------------------------------


def load(path: Path | str, mime_type: str, **options) -> pyvips.Image:
    """Open with the loader for the sniffed type only; truncated data is an error, not grey."""
    loader = getattr(pyvips.Image, LOADERS[mime_type])
    return loader(str(path), fail_on="truncated", **options)


def read_header(path: Path, mime_type: str, limits: Limits) -> Header:
    """Open the header only (nothing decoded) and enforce the pixel, page and metadata caps."""
    try:
        image = load(path, mime_type, access="sequential")
        width, height = image.width, image.height
        pages = image.get_n_pages() if mime_type != JPEG else 1
    except pyvips.Error as exc:
        raise ImageRejected("truncated", f"The file starts like a {mime_type.split('/')[1].upper()} but its header "
                            f"cannot be read (truncated or corrupt): {_first_line(exc)}") from None
    if pages > 1:
        raise ImageRejected("pixel_limit", f"The file holds {pages} pages; deliver one image per file.")
    if width > limits.max_side or height > limits.max_side or width * height > limits.max_pixels:
        raise ImageRejected("pixel_limit", f"The image is {width:,} × {height:,} px ({width * height / 1e6:,.0f} MP); "
                            f"the limit is {limits.max_pixels / 1e6:,.0f} MP and {limits.max_side:,} px a side. "
                            "It was not decoded.")
    fields = set(image.get_fields())
    blobs = {name: len(image.get(name)) for name in METADATA_BLOBS if name in fields}
    _check_metadata(total=sum(blobs.values()), exif=blobs.get("exif-data", 0), limits=limits)
    orientation = image.get("orientation") if "orientation" in fields else 1
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    exif = {"orientation": orientation}
    for name in ("exif-ifd0-Make", "exif-ifd0-Model", "exif-ifd2-DateTimeOriginal", "xres", "yres"):
        if name in fields:
            value = image.get(name)
            exif[name.rsplit("-", 1)[-1]] = value.split(" (", 1)[0][:120] if isinstance(value, str) else value
    return Header(mime_type=mime_type, width=width, height=height, orientation=orientation, exif=exif)


def _first_line(exc: Exception) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    text = lines[-1] if lines else "unknown error"
    return text[:300]


# --- barcodes ---------------------------------------------------------------------------------


def scan_copy(path: Path, mime_type: str, *, size: int, target: Path) -> pyvips.Image:
    """A ≤ `size` px, EXIF-rotated sRGB copy, kept as an uncompressed TIFF for the later stages."""
    try:
        image = pyvips.Image.thumbnail(f"{path}[fail_on=truncated]", size, height=size, size="down")
        image = _srgb8(image)
        image.tiffsave(str(target), compression="none", keep="none")
    except pyvips.Error as exc:
        raise ImageRejected("decode_error", f"The image data cannot be decoded (truncated or corrupt): {_first_line(exc)}") from None
    return pyvips.Image.tiffload(str(target))


def _grey(image: pyvips.Image) -> pyvips.Image:
    if image.hasalpha():
        image = image.flatten(background=255)
    return (image.colourspace("b-w") if image.bands >= 3 else image)[0].cast("uchar")


def _decoded(pixels: bytes | bytearray, width: int, height: int, found: list[dict], **options) -> list[dict]:
    """Add each new code zxing reads in a greyscale buffer to `found` (the raw text, unchecked);
    returns the new ones."""
    view = zxingcpp.ImageView(pixels, width, height, zxingcpp.ImageFormat.Lum)  # borrows `pixels`
    # Plain text: control characters arrive as themselves (HRI would spell them "<GS>"), so the
    # caller can refuse them; only spaces are trimmed, never a control character.
    results = zxingcpp.read_barcodes(view, text_mode=zxingcpp.TextMode.Plain, **options)
    del view
    new = []
    for result in results:
        text = result.text.strip(" ")
        if text and all(d["text"] != text for d in found + new):
            new.append({"text": text, "format": result.format.name})
    found.extend(new)
    return new


def read_barcodes(image: pyvips.Image) -> list[dict]:
    """Codes in a small copy (the scan copy, ~2,500 px): every format, every direction."""
    grey = _grey(image)
    found: list[dict] = []
    _decoded(grey.write_to_memory(), grey.width, grey.height, found, formats=BARCODE_FORMATS)
    return found


# Linear codes only at full resolution: the small copy already reads QR and Data Matrix symbols,
# whose modules are large; narrow Code 128 bars are what it loses (under ~2 px a bar).
FULL_RESOLUTION_OPTIONS = {"formats": (zxingcpp.BarcodeFormat.Code128,), "try_downscale": False, "try_invert": False}


def read_barcodes_full(path: Path, mime_type: str, *, strip: int = 2048, overlap: int = 1024,
                       enough: Callable[[list[dict]], bool] | None = None) -> list[dict]:
    """Codes at full resolution, read in one top-to-bottom pass over overlapping strips.

    libvips streams the rows in order (one sequential decode of the master); every `strip` new
    rows, zxing reads them together with the `overlap` rows before. At most two windows are held
    (10,000 px wide: ~30 MB each), so a 140 MP master stays within the derivatives' memory budget.
    A symbol up to `overlap` px tall (a label on its side, up to ~4 cm at 600 ppi) lies whole in
    one window. The pass stops early, leaving the rest undecoded, once `enough(new codes)` says
    so. EXIF orientation does not matter here: zxing reads in all four directions.
    """
    found: list[dict] = []
    for window, width in _windows(path, mime_type, strip=strip, overlap=overlap):
        new = _decoded(window, width, len(window) // width, found, **FULL_RESOLUTION_OPTIONS)
        if new and enough is not None and enough(new):
            break
    return found


def _windows(path: Path, mime_type: str, *, strip: int, overlap: int) -> Iterator[tuple[bytearray, int]]:
    """Overlapping row windows of one grey band, decoded by libvips in a thread of its own, so
    the decode of the next window overlaps zxing reading this one (libvips releases the GIL)."""
    try:
        image = load(path, mime_type, access="sequential")
    except pyvips.Error as exc:
        raise ImageRejected("decode_error", f"The image data cannot be decoded (truncated or corrupt): {_first_line(exc)}") from None
    if image.hasalpha():
        image = image.flatten(background=255)
    # The green band stands in for luminance: black bars on pale paper show in every band, and
    # it skips a colour conversion that costs more than the JPEG decode.
    grey = (image[1] if image.bands >= 3 else image[0]).cast("uchar")
    width = grey.width
    windows: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    rows = bytearray()
    fresh = 0  # rows that zxing has not seen yet

    def take(data: bytes) -> int:
        nonlocal rows, fresh
        if stop.is_set():
            return -1  # the reader has enough: abort the decode
        rows += data
        fresh += len(data) // width
        if fresh >= strip:
            window = rows  # handed over whole, not copied: the next window starts from its tail
            rows, fresh = window[len(window) - min(len(window), overlap * width):], 0
            windows.put(window)
        return len(data)

    def decode() -> None:
        try:
            target = pyvips.TargetCustom()
            target.on_write(take)
            grey.rawsave_target(target)
            if fresh:
                windows.put(rows)
            windows.put(None)
        except pyvips.Error as exc:
            windows.put(exc)

    thread = threading.Thread(target=decode, name="barcode-strips", daemon=True)
    thread.start()
    try:
        while (item := windows.get()) is not None:
            if isinstance(item, pyvips.Error):
                raise ImageRejected("decode_error", "The image data cannot be decoded (truncated or corrupt): "
                                    f"{_first_line(item)}") from None
            yield item, width
    finally:
        stop.set()
        while thread.is_alive():  # unblock a put() waiting on a full queue, then let it finish
            try:
                windows.get(timeout=0.05)
            except queue.Empty:
                pass
        thread.join()


# --- derivatives ------------------------------------------------------------------------------


def _srgb8(image: pyvips.Image) -> pyvips.Image:
    if image.hasalpha():
        image = image.flatten(background=255)
    if image.interpretation not in ("srgb", "b-w") or image.format != "uchar":
        image = image.colourspace("srgb")
    return image.cast("uchar") if image.format != "uchar" else image


def save_resized(scan: pyvips.Image, target: Path, *, size: int) -> tuple[int, int]:
    image = scan.thumbnail_image(size, height=size, size="down")
    image.jpegsave(str(target), Q=85, keep="none", optimize_coding=True)
    return image.width, image.height


def save_tiles(path: Path, mime_type: str, out_dir: Path, *, orientation: int = 1, tile_size: int = 512) -> dict:
    """IIIF Image API 3.0 level-0 tiles by dzsave(layout=iiif3); returns its info.json.

    One sequential pass over the master keeps memory flat; only a rotated master (EXIF
    orientation other than 1) needs random access.
    """
    access = "sequential" if orientation in (0, 1) else "random"
    try:
        image = _srgb8(load(path, mime_type, access=access).autorot())
        image.dzsave(str(out_dir / "iiif"), layout="iiif3", tile_size=tile_size, overlap=0, id="iiif",
                     suffix=".jpg[Q=85,keep=none]")
    except pyvips.Error as exc:
        raise ImageRejected("decode_error", f"The image data cannot be decoded (truncated or corrupt): {_first_line(exc)}") from None
    return json.loads((out_dir / "iiif" / "info.json").read_text())
