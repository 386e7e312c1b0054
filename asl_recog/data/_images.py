"""Turning arbitrary photos into 28x28 grayscale images the way the dataset was made, on a memory budget.

Decoding is bounded before it starts: the dimensions come from the header and
anything above :data:`MAX_IMAGE_PIXELS` is refused, so a small file that
inflates to gigabytes (a "decompression bomb") never allocates its pixels.
JPEGs decode at reduced scale (libjpeg's DCT scaling, Pillow's draft mode) and
every image is box-reduced before the final resize, so what stays in memory is
the compressed bytes, one decoded frame and small copies.

Unless a crop box is given, the hand is looked for on that reduced frame
(:mod:`asl_recog.data._hands`, MediaPipe's palm detector) and the image is cut to
the square around it; where none is found, the centre square is used, as before.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any

import numpy as np

from asl_recog._errors import DataFormatError
from asl_recog.data._hands import MIN_DETECTION_SIDE, HandBox, detect_hand
from asl_recog.data._labels import IMAGE_SIZE

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
#: The largest image decoded, in pixels (width x height): 4096 x 4096, about 16.8 megapixels. A
#: decoded RGBA image of this size takes 64 MiB; phone photos (12-50 MP) should be downscaled first.
MAX_IMAGE_PIXELS = 4096 * 4096
#: Pillow plugins allowed to read the bytes: every other decoder (TIFF, PSD, ICO, ...) is never run.
#: MPO is the multi-picture JPEG that many phones write.
FORMATS = ("PNG", "JPEG", "MPO")
#: Images are reduced to about this short side before the Lanczos resize to 28x28: 8x the output keeps
#: the resize's quality while the intermediate copies stay small.
_WORKING_SIDE = 8 * IMAGE_SIZE
#: A hand square with fewer pixels than this on the reduced frame is decoded again at the scale a
#: crop box gets (_WORKING_SIDE on its side): 4x the output still resizes cleanly, and a second
#: decode is paid only for small hands on large photos.
_MIN_HAND_SIDE = 4 * IMAGE_SIZE
#: What malformed image bytes make Pillow raise (struct.error and friends come from broken EXIF blocks).
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError, KeyError, TypeError)
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")


class ImageTooLargeError(DataFormatError):
    """An image whose header declares more than :data:`MAX_IMAGE_PIXELS` pixels; refused before decoding.

    Example:
        >>> import struct, zlib
        >>> def chunk(kind, data):
        ...     return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        >>> header = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)  # claims 20000x20000 grayscale
        >>> signature = bytes.fromhex("89504e470d0a1a0a")
        >>> bomb_png = signature + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
        >>> try:
        ...     image_to_array(bomb_png)
        ... except ImageTooLargeError as exc:
        ...     print(exc)
        <image bytes>: the image is above the limit of 16,777,216 pixels (...). Fix: downscale the photo ...
    """


class CropError(DataFormatError):
    """A crop box that does not lie inside the image (or has no area); the image itself is fine.

    Example:
        >>> import io
        >>> from PIL import Image
        >>> buffer = io.BytesIO()
        >>> Image.new("L", (60, 40), 128).save(buffer, format="PNG")
        >>> image_to_array(buffer.getvalue(), crop=(10, 5, 30, 30)).shape
        (28, 28)
        >>> try:
        ...     image_to_array(buffer.getvalue(), crop=(50, 0, 30, 30))
        ... except CropError as exc:
        ...     print(exc.problem)
        the crop box x=50, y=0, w=30, h=30 does not fit inside the 60x40 image
    """


def image_to_array(
    image: bytes | str | Path,
    *,
    source: str | None = None,
    max_pixels: int = MAX_IMAGE_PIXELS,
    crop: tuple[int, int, int, int] | None = None,
    find_hand: bool = True,
) -> np.ndarray:
    """Decode a PNG/JPEG and return a 28x28 uint8 grayscale array.

    Sign Language MNIST was made by cropping each hand photo to a square,
    converting to grayscale and resizing to 28x28; this repeats those steps
    (square crop, grayscale, Lanczos resize). The square is the one around the
    hand that MediaPipe's palm detector finds (``find_hand``), or the centre
    square where it finds none. Before them the EXIF orientation is applied
    (phones store photos sideways and say so in EXIF), 16-bit pixels are scaled
    (not clipped) to 8 bits, palettes are expanded, CMYK is converted to RGB,
    and transparent pixels are laid over white.
    :func:`image_to_array_and_hand` also says whether, and where, a hand was found.

    Args:
        image: encoded bytes or a file path.
        source: name used in error messages.
        max_pixels: the most pixels (width x height) decoded; larger images are
            refused from their header.
        crop: ``(x, y, width, height)`` in pixels of the upright image (after the EXIF
            orientation, as a browser shows it): only this box is used, then the steps above.
            No hand is looked for: the box says where it is.
        find_hand: look for the hand and crop to it (images under 64 pixels on their short
            side, already crops, are not searched); False always takes the centre square.

    Raises:
        ImageTooLargeError: the header declares more than ``max_pixels`` pixels.
        CropError: ``crop`` has no area or does not fit inside the image.
        DataFormatError: the bytes are not a decodable PNG or JPEG image.

    Example:
        >>> import io
        >>> from PIL import Image
        >>> buffer = io.BytesIO()
        >>> Image.new("RGB", (320, 240), (90, 120, 150)).save(buffer, format="JPEG")
        >>> image_to_array(buffer.getvalue()).shape  # no hand on a plain wall: the centre square
        (28, 28)
    """
    array, _ = image_to_array_and_hand(image, source=source, max_pixels=max_pixels, crop=crop, find_hand=find_hand)
    return array


def image_to_array_and_hand(
    image: bytes | str | Path,
    *,
    source: str | None = None,
    max_pixels: int = MAX_IMAGE_PIXELS,
    crop: tuple[int, int, int, int] | None = None,
    find_hand: bool = True,
) -> tuple[np.ndarray, HandBox | None]:
    """:func:`image_to_array`, and the hand it cropped to (None: no hand found, or not looked for).

    The hand is looked for on the frame already reduced for the resize (a few hundred pixels
    on its short side), so the detector adds no full-size copy of the photo.

    Args:
        image: encoded bytes or a file path.
        source: name used in error messages.
        max_pixels: the most pixels decoded.
        crop: an explicit ``(x, y, width, height)`` box (then no hand is looked for).
        find_hand: look for the hand.

    Returns:
        The 28x28 uint8 image, and the :class:`~asl_recog.data._hands.HandBox` in pixels of the
        upright image, or None where the centre square (or ``crop``) was used.

    Raises:
        ImageTooLargeError: the header declares more than ``max_pixels`` pixels.
        CropError: ``crop`` has no area or does not fit inside the image.
        DataFormatError: the bytes are not a decodable PNG or JPEG image.

    Example:
        >>> import skimage.data, io
        >>> from PIL import Image
        >>> buffer = io.BytesIO()
        >>> Image.fromarray(skimage.data.coffee()).save(buffer, format="JPEG")  # a cup, no hand
        >>> array, hand = image_to_array_and_hand(buffer.getvalue())
        >>> array.shape, hand
        ((28, 28), None)
    """
    array, hand, _ = read_image(image, source=source, max_pixels=max_pixels, crop=crop, find_hand=find_hand)
    return array, hand


def read_image(
    image: bytes | str | Path,
    *,
    source: str | None = None,
    max_pixels: int = MAX_IMAGE_PIXELS,
    crop: tuple[int, int, int, int] | None = None,
    find_hand: bool = True,
) -> tuple[np.ndarray, HandBox | None, bool]:
    """:func:`image_to_array_and_hand`, plus whether the hand was looked for at all (False for a
    crop box, ``find_hand=False`` or an image under :data:`MIN_DETECTION_SIDE` pixels), so that a
    folder's loader can count the photos in which no hand was found."""
    from PIL import Image, JpegImagePlugin, MpoImagePlugin, PngImagePlugin  # noqa: F401  (registers the readers)

    name = source or (str(image) if isinstance(image, (str, Path)) else "<image bytes>")
    stream: Any = image if isinstance(image, (str, Path)) else io.BytesIO(image)
    try:
        # Pillow 13 reads MPO with its JPEG reader and has no separate "MPO" entry; asking for one
        # that is not registered raised KeyError('MPO') on every file that was neither PNG nor JPEG.
        with Image.open(stream, formats=[f for f in FORMATS if f in Image.OPEN]) as img:
            _check_size(img.size, max_pixels, name)
            size = img.size  # before draft: the JPEG's full size, in which the box is given
            upright = _upright_size(img)
            # With a crop box, the box (not the whole image) keeps about _WORKING_SIDE pixels on its short side.
            working = _WORKING_SIDE if crop is None else _crop_working_side(crop, upright, name)
            # JPEG only: ask libjpeg for a 1/2, 1/4 or 1/8 scale decode still at least this large.
            img.draft(None, (working, working))
            img.load()
            if crop is not None:  # a PNG may carry its EXIF block after the pixels: check the box again
                upright = _upright_size(img, scale_from=size)
                _crop_working_side(crop, upright, name)
            elif find_hand:  # the same late EXIF block can turn the image
                upright = _upright_size(img, scale_from=size)
            frame = _oriented(img, working)
    except Image.DecompressionBombError as exc:  # Pillow's own check, for headers past twice its limit
        raise ImageTooLargeError(
            f"the image is above the limit of {max_pixels:,} pixels (Pillow: {exc})",
            source=name,
            fix=_size_fix(max_pixels),
        ) from exc
    except (ImageTooLargeError, CropError):
        raise
    except _DECODE_ERRORS as exc:
        kind = _other_kind(image)
        raise DataFormatError(
            f"not a readable PNG or JPEG image ({kind or f'{type(exc).__name__}: {exc}'})",
            source=name,
            fix="send a PNG or JPEG photo of one hand sign",
        ) from exc
    hand = None
    searched = crop is None and find_hand and min(upright) >= MIN_DETECTION_SIDE
    if searched:
        found = detect_hand(frame)  # in the frame's pixels
        if found is not None:
            hand = found.scaled(upright[0] / frame.size[0], upright[1] / frame.size[1], *upright)
            if min(found.width, found.height) < _MIN_HAND_SIDE and frame.size != upright:
                # A small hand on a reduced frame: decode again, as for a crop box, for enough pixels.
                array, _, _ = read_image(image, source=source, max_pixels=max_pixels, crop=hand.crop)
                return array, hand, True
            crop, upright = found.crop, frame.size  # cut from the frame in hand, in its own pixels
    gray = frame.convert("L")
    if crop is not None:
        gray = _apply_crop(gray, crop, upright)
    width, height = gray.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    square = gray.crop((left, top, left + side, top + side))
    resized = square.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)
    return np.asarray(resized, dtype=np.uint8), hand, searched


def locate_hand(
    image: bytes | str | Path | np.ndarray, *, source: str | None = None, max_pixels: int = MAX_IMAGE_PIXELS
) -> HandBox | None:
    """Where the hand is in a photo: the square :func:`image_to_array` crops to, or None.

    MediaPipe's palm detector (Apache-2.0, shipped with the package and run with ONNX Runtime)
    finds the palm; the box is the upright square around the hand region MediaPipe derives
    from it, made a little tighter (``HAND_MARGIN``) so that the hand nearly fills it, as in
    Sign Language MNIST. Images under 64 pixels on their short side are not searched.

    Args:
        image: PNG/JPEG bytes or a file path (decoded as :func:`image_to_array` does, EXIF
            orientation applied), or an RGB ``(H, W, 3)`` or grey ``(H, W)`` uint8 array.
        source: name used in error messages.
        max_pixels: the most pixels decoded from bytes or a file.

    Returns:
        A :class:`HandBox` in pixels of the upright image (``box.crop`` is the ``crop=`` argument
        of :func:`image_to_array`), or None when no hand was found.

    Raises:
        ImageTooLargeError: the header declares more than ``max_pixels`` pixels.
        DataFormatError: unreadable bytes, or an array of another shape or type.

    Example:
        >>> import numpy as np, skimage.data
        >>> locate_hand(skimage.data.camera()) is None  # a photographer, no hand sign
        True
    """
    if isinstance(image, np.ndarray):
        return detect_hand(image)
    return read_image(image, source=source, max_pixels=max_pixels)[1]


#: The first bytes of formats people send instead of PNG or JPEG, so the error can name what came.
_OTHER_KINDS = {b"GIF87a": "a GIF", b"GIF89a": "a GIF", b"BM": "a BMP", b"II*\x00": "a TIFF", b"MM\x00*": "a TIFF"}


def _other_kind(image: bytes | str | Path) -> str | None:
    """``"the file is a GIF"``-style words for a known non-PNG/JPEG format, else None."""
    try:
        if isinstance(image, (str, Path)):
            with Path(image).open("rb") as file:
                head = file.read(12)
        else:
            head = image[:12]
    except OSError:
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "it is a WebP image; convert it to PNG or JPEG"
    for magic, kind in _OTHER_KINDS.items():
        if head.startswith(magic):
            return f"it is {kind} image; convert it to PNG or JPEG"
    return None


def _check_size(size: tuple[int, int], max_pixels: int, name: str) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise DataFormatError(
            f"the image header declares {width}x{height} pixels",
            source=name,
            fix="send a PNG or JPEG photo of one hand sign",
        )
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"the image is {width}x{height} pixels, above the limit of {max_pixels:,} pixels",
            source=name,
            fix=_size_fix(max_pixels),
        )


def _size_fix(max_pixels: int) -> str:
    side = int(max_pixels**0.5)
    return f"downscale the photo to at most {side}x{side} pixels (the model sees 28x28) and send it again"


def _upright_size(img: Any, scale_from: tuple[int, int] | None = None) -> tuple[int, int]:
    """The image's (width, height) once its EXIF orientation is applied (5-8 turn it a quarter);
    ``scale_from``: the full size to report instead of ``img.size`` (which draft mode may have reduced)."""
    try:
        orientation = img.getexif().get(0x0112, 1)
    except _DECODE_ERRORS:  # a broken EXIF block: exif_transpose will not turn it either
        orientation = 1
    width, height = scale_from or img.size
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _crop_working_side(crop: tuple[int, int, int, int], upright: tuple[int, int], name: str) -> int:
    """Check the crop box against the upright size; the working side that keeps the box sharp enough."""
    x, y, w, h = crop
    width, height = upright
    if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > width or y + h > height:
        raise CropError(
            f"the crop box x={x}, y={y}, w={w}, h={h} does not fit inside the {width}x{height} image",
            source=name,
            fix=f"give x,y,w,h with w,h > 0, x+w <= {width} and y+h <= {height} "
            "(pixels of the upright image), or leave crop out",
        )
    return max(1, -(-_WORKING_SIDE * min(width, height) // min(w, h)))


def _apply_crop(gray: Any, crop: tuple[int, int, int, int], upright: tuple[int, int]) -> Any:
    """Cut the box out of the (possibly reduced) upright image, scaling it from upright pixels."""
    x, y, w, h = crop
    scale_x, scale_y = gray.size[0] / upright[0], gray.size[1] / upright[1]
    left, top = round(x * scale_x), round(y * scale_y)
    right = min(gray.size[0], max(left + 1, round((x + w) * scale_x)))
    bottom = min(gray.size[1], max(top + 1, round((y + h) * scale_y)))
    return gray.crop((left, top, right, bottom))


def _oriented(img: Any, working_side: int = _WORKING_SIDE) -> Any:
    """The decoded image in mode L or RGB, reduced to about ``working_side``, turned upright and
    with transparent pixels laid over white: the frame the hand is looked for on and cut from."""
    from PIL import Image, ImageOps

    img = _standard_mode(img)
    factor = min(img.size) // working_side
    if factor > 1:
        img = img.reduce(factor)  # box average; the copy keeps the EXIF block in .info
    img = ImageOps.exif_transpose(img)
    if img.mode in ("LA", "RGBA"):
        # Transparent pixels carry arbitrary colour (often black); lay them over white, as a viewer shows them.
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img.convert("RGBA")).convert("RGB")
    return img


def _standard_mode(img: Any) -> Any:
    """L, LA, RGB or RGBA, 8 bits per channel, without losing 16-bit range, palette alpha or CMYK colour."""
    from PIL import Image

    mode = img.mode
    if mode in _SIXTEEN_BIT:
        # Image.convert("L") clips 16-bit values at 255; scale 0..65535 to 0..255 instead.
        wide = np.clip(np.asarray(img), 0, 65535).astype(np.uint32)
        gray = Image.fromarray(((wide * 255 + 32767) // 65535).astype(np.uint8), "L")
        gray.info = dict(img.info)
        return gray
    if mode in ("P", "PA"):
        return img.convert("RGBA" if mode == "PA" or "transparency" in img.info else "RGB")
    if mode in ("L", "RGB") and "transparency" in img.info:  # a tRNS colour key
        return img.convert("RGBA")
    if mode in ("L", "LA", "RGB", "RGBA"):
        return img
    if mode in ("La", "RGBa"):  # premultiplied alpha
        return img.convert("RGBA")
    return img.convert("RGB")  # CMYK, YCbCr, 1, F, ...
