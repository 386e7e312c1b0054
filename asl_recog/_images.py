"""Turning arbitrary photos into 28x28 grayscale images the way the dataset was made."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from asl_recog._errors import DataFormatError
from asl_recog._labels import IMAGE_SIZE

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def image_to_array(image: bytes | str | Path, *, source: str | None = None) -> np.ndarray:
    """Decode a PNG/JPEG and return a 28x28 uint8 grayscale array.

    Sign Language MNIST was made by cropping each hand photo to a square,
    converting to grayscale and resizing to 28x28; this repeats those steps
    (centre crop, grayscale, Lanczos resize).

    Args:
        image: encoded bytes or a file path.
        source: name used in error messages.

    Raises:
        DataFormatError: the bytes are not a decodable image.
    """
    from PIL import Image, UnidentifiedImageError

    name = source or (str(image) if isinstance(image, (str, Path)) else "<image bytes>")
    try:
        raw = Path(image).read_bytes() if isinstance(image, (str, Path)) else bytes(image)
        with Image.open(io.BytesIO(raw)) as img:
            img.load()
            gray = img.convert("L")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DataFormatError(
            f"not a readable PNG or JPEG image ({exc})",
            source=name,
            fix="send a PNG or JPEG photo of one hand sign",
        ) from exc
    width, height = gray.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    square = gray.crop((left, top, left + side, top + side))
    resized = square.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)
    return np.asarray(resized, dtype=np.uint8)
