"""Hostile and unusual images for the decoding, loader, service and fuzz tests: bombs, odd modes, EXIF."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

#: EXIF orientation -> the transpose that turns an upright image into what the camera stored.
STORED_AS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def encode(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int, height: int, color_type: int = 6, rows: int = 16) -> bytes:
    """A valid PNG header declaring ``width x height`` (RGBA by default) with only ``rows`` rows of data.

    A few KiB on the wire; a decoder that trusts the header allocates width*height*4 bytes.
    """
    channels = {0: 1, 2: 3, 6: 4}[color_type]
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    scanlines = zlib.compress((b"\x00" + b"\x00" * (width * channels)) * rows, 9)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", scanlines) + _chunk(b"IEND", b"")


def jpeg_bomb(width: int = 65500, height: int = 65500) -> bytes:
    """A small baseline JPEG whose frame header (SOF0) is patched to declare ``width x height``."""
    data = bytearray(encode(Image.new("L", (16, 16), 128), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def with_orientation(upright: Image.Image, orientation: int, fmt: str = "JPEG") -> bytes:
    """``upright`` stored the way a camera would for EXIF ``orientation`` (2-8), tag included."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(upright.transpose(STORED_AS[orientation]), fmt, exif=exif.tobytes())


def odd_modes(gray: np.ndarray) -> dict[str, bytes]:
    """One grayscale picture in every layout PNG and JPEG allow: 16-bit, palette, alpha, CMYK, bilevel."""
    image = Image.fromarray(gray)
    rgb = image.convert("RGB")
    palette = rgb.quantize(64)
    return {
        "png_L": encode(image),
        "png_I16": encode(Image.fromarray(gray.astype(np.uint16) * 257)),
        "png_RGB": encode(rgb),
        "png_RGBA": encode(rgb.convert("RGBA")),
        "png_LA": encode(image.convert("LA")),
        "png_P": encode(palette),
        "png_1": encode(image.convert("1")),
        "jpeg_L": encode(image, "JPEG", quality=95),
        "jpeg_RGB": encode(rgb, "JPEG", quality=95),
        "jpeg_CMYK": encode(rgb.convert("CMYK"), "JPEG", quality=95),
        "jpeg_progressive": encode(rgb, "JPEG", quality=95, progressive=True),
    }
