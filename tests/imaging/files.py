"""Real image files made in tmp_path with pyvips, zxing-cpp and bytes: no fixtures in the repo."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import pyvips
import zxingcpp


def page(width: int = 600, height: int = 400, colour=(200, 180, 140)) -> pyvips.Image:
    """A herbarium-sheet-ish plain page with a gradient so JPEG tiles are not all identical."""
    base = pyvips.Image.black(width, height, bands=3) + list(colour)
    ramp = pyvips.Image.xyz(width, height)[0] * (40 / max(width, 1))
    return (base - ramp.bandjoin([ramp, ramp])).cast("uchar").copy(interpretation="srgb")


def with_barcode(image: pyvips.Image, text: str, fmt=zxingcpp.BarcodeFormat.Code128, scale: int = 2) -> pyvips.Image:
    code = zxingcpp.write_barcode_to_image(zxingcpp.create_barcode(text, fmt), scale=scale)
    height, width = code.shape[:2]
    label = pyvips.Image.new_from_memory(bytes(memoryview(code)), width, height, 1, "uchar")
    label = label.embed(12, 12, width + 24, height + 24, extend="white").colourspace("srgb")
    return image.insert(label, 20, 20)


def write(image: pyvips.Image, path: Path, **options) -> Path:
    image.write_to_file(str(path), **options)
    return path


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims width × height with almost no pixel data: a pixel bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def tiff_header_only(path: Path, width: int, height: int) -> Path:
    """A baseline little-endian TIFF claiming width × height RGB, one strip, no real data."""
    entries = [
        (256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 2),
        (273, 4, 1, 8), (277, 3, 1, 3), (278, 4, 1, height), (279, 4, 1, min(width * height * 3, 0xFFFFFFFF)),
    ]
    ifd_offset = 8 + 16
    body = b"II*\x00" + struct.pack("<I", ifd_offset) + b"\x00" * 16
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        packed = struct.pack("<HHI", tag, kind, count)
        packed += struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
        ifd += packed
    ifd += struct.pack("<I", 0)
    path.write_bytes(body + ifd)
    return path


def truncated_tiff(path: Path) -> Path:
    full = io.BytesIO()
    data = page(400, 300).tiffsave_buffer()
    full.write(data[: len(data) // 2])
    path.write_bytes(full.getvalue())
    return path


def polyglot(path: Path) -> Path:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("payload.html", "<script>alert(1)</script>")
    path.write_bytes(page(200, 150).jpegsave_buffer() + archive.getvalue())
    return path


def svg_with_script(path: Path) -> Path:
    path.write_text('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
                    '<script>alert(document.cookie)</script><rect width="10" height="10"/></svg>')
    return path


def huge_exif_jpeg(path: Path, segments: int = 20) -> Path:
    """A valid JPEG with `segments` × 64 KiB APP1 (Exif) segments after SOI."""
    jpeg = page(120, 90).jpegsave_buffer()
    payload = b"Exif\x00\x00" + b"II*\x00\x08\x00\x00\x00" + b"\x00" * (65_533 - 14)
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    path.write_bytes(jpeg[:2] + app1 * segments + jpeg[2:])
    return path


def text_as_tif(path: Path) -> Path:
    path.write_text("collector: A. Smith\nno image here\n")
    return path


def zero_bytes(path: Path) -> Path:
    path.write_bytes(b"")
    return path
