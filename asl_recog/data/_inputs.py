"""What ``predict`` accepts besides 28x28 pixels: photo files, PIL images and photo arrays.

A person has a photo, not a 28x28 array. Every such input goes through the one image path
(:func:`~asl_recog.data._images.read_image`: the EXIF orientation, the square around the hand,
grayscale, the Lanczos resize), the same one the scoring service runs on an upload, so a
prediction in a notebook equals the service's answer for the same photo.

An array is read as pixels when it has a model's shapes (``(28, 28)``, ``(N, 28, 28)``,
``(N, 28, 28, 1)``, ``(N, 784)``), and as one photo otherwise: ``(H, W, 3)`` or
``(H, W, 4)`` colour, or ``(H, W)`` grey of another size.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from asl_recog._errors import DataFormatError
from asl_recog.data._images import read_image
from asl_recog.data._labels import IMAGE_SIZE, NUM_PIXELS


def is_pixels(array: np.ndarray) -> bool:
    """Whether ``array`` has one of the shapes models take (else it may be a photo).

    Example:
        >>> is_pixels(np.zeros((5, 28, 28))), is_pixels(np.zeros((480, 640, 3))), is_pixels(np.zeros((2, 784)))
        (True, False, True)
    """
    shape = array.shape
    side = (IMAGE_SIZE, IMAGE_SIZE)
    return (
        shape in (side, (NUM_PIXELS,))
        or (array.ndim == 2 and shape[1] == NUM_PIXELS)
        or (array.ndim == 3 and shape[1:] == side)
        or (array.ndim == 4 and shape[1:] == (*side, 1))
    )


def _is_photo_array(array: np.ndarray) -> bool:
    return (
        array.dtype == np.uint8
        and ((array.ndim == 3 and array.shape[2] in (3, 4)) or array.ndim == 2)
        and not is_pixels(array)
    )


def _is_photo(item: Any) -> bool:
    # Arrays first: every model call (the service's per-request path included) asks this of its
    # pixel batch, which is answered from the shape alone, without importing Pillow.
    if isinstance(item, np.ndarray):
        return _is_photo_array(item)
    from PIL import Image

    return isinstance(item, (str, os.PathLike, bytes, Image.Image))


def _photo_bytes(item: Any) -> bytes | Path:
    """A file path as it is; a PIL image or photo array as lossless PNG bytes (EXIF kept)."""
    from PIL import Image

    if isinstance(item, (str, os.PathLike)):
        return Path(item)
    if isinstance(item, bytes):
        return item
    picture = Image.fromarray(item) if isinstance(item, np.ndarray) else item
    if picture.mode not in ("L", "RGB", "RGBA"):
        picture = picture.convert("RGBA" if "A" in picture.getbands() else "RGB")
    buffer = io.BytesIO()
    # The EXIF block travels with the pixels: a photo opened with PIL is still stored sideways.
    picture.save(buffer, format="PNG", exif=item.getexif() if isinstance(item, Image.Image) else Image.Exif())
    return buffer.getvalue()


def photos_to_pixels(images: Any, find_hand: bool = True) -> np.ndarray | None:
    """``(N, 28, 28)`` uint8 images read from photos, or None when ``images`` holds no photo.

    Args:
        images: one photo (a path, PNG/JPEG bytes, a PIL image, or a uint8 ``(H, W, 3)`` /
            ``(H, W)`` array of another size than 28x28) or a list or tuple of them.
        find_hand: crop each photo to the hand found in it (the service's default).

    Raises:
        DataFormatError: a file that cannot be read as a PNG or JPEG image, named, or a list
            that mixes photos with other things.

    Example:
        >>> import skimage.data
        >>> photos_to_pixels(skimage.data.coffee()).shape  # a 400x600 colour photo: one 28x28 image
        (1, 28, 28)
        >>> photos_to_pixels(np.zeros((3, 28, 28), np.uint8)) is None  # pixels already
        True
    """
    single = _is_photo(images)
    if not single and not (isinstance(images, (list, tuple)) and images and any(_is_photo(i) for i in images)):
        return None
    items: Sequence[Any] = [images] if single else images
    out = np.empty((len(items), IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    for i, item in enumerate(items):
        if not _is_photo(item):
            raise DataFormatError(
                f"item {i} is a {type(item).__name__}, among photos",
                source="images",
                fix="pass a list of photos (paths, PIL images, uint8 photo arrays), or one array of 28x28 images",
            )
        source = str(item) if isinstance(item, (str, os.PathLike)) else f"images[{i}]"
        out[i] = read_image(_photo_bytes(item), source=source, find_hand=find_hand)[0]
    return out


__all__ = ["is_pixels", "photos_to_pixels"]
