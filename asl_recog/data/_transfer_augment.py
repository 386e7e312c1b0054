"""Augmentation for the transfer to photos of people (issue 32, part 3): the hand cut out and re-lit.

A Sign Language MNIST image is a bright hand filling a square frame on a smooth, light
background. A photo read through the hand detector is not: on the Massey photos it is a
bright hand on black at about 3/4 of the crop; in a room it is often a darker hand in front
of a light wall, smaller and off-centre. Issue 26's families change the whole tile (its light,
its noise, the tile shrunk onto a photo with its own background still around the hand); none
separates the hand from what is behind it. Here each image's hand is cut out
(:func:`hand_masks`) and, independently per image:

* its grey levels are changed by a gain and a gamma (skin tone and white balance, which a
  camera's colour photo turns into other grey levels through the luma conversion);
* it is put on another background: near-black (Massey, a webcam in a dim room), a darkened
  training photo (dark and textured), a light wall (the hand darker than what is behind it),
  a training photo as it is, or its own background's grey;
* it is shrunk to 40-100 % of the frame and placed off-centre (half the time with the wrist on
  the bottom edge, where an arm comes from);
* the crop box then moves and scales by a few percent, as the detector's box does from one
  photo to the next; and it is mirrored half the time (the other hand).

Backgrounds come only from the ``"train"`` half of the photo pool (:mod:`asl_recog.data._photos`),
as issue 26's do. Nothing here reads any photo of a person: the Massey photos only measure it.
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image
from scipy import ndimage

from asl_recog._errors import ConfigurationError
from asl_recog.data._labels import IMAGE_SIZE
from asl_recog.data._photos import background_crops

#: Where the hand goes: each kind of background drawn with the same probability.
BACKGROUNDS = ("black", "dark_photo", "light_wall", "photo", "own")
#: The hand's side as a share of the frame's, drawn uniformly (the issue's 40-100 %).
HAND_SCALE = (0.4, 1.0)
#: The hand's grey levels: ``255 * (v / 255) ** gamma * gain``, the gain's range per background
#: and gamma drawn log-uniformly. A gain down to 0.35 puts a pale hand at the grey of a dark skin
#: under indoor light, so that on a light wall the hand is darker than what is behind it (the
#: polarity of photos in rooms); on black the hand stays lit, since a camera (and the detector)
#: sees no dark hand on black.
HAND_GAIN = {
    "black": (0.7, 1.2),
    "dark_photo": (0.7, 1.2),
    "light_wall": (0.35, 1.0),
    "photo": (0.5, 1.15),
    "own": (0.5, 1.15),
}
HAND_GAMMA = (0.6, 1.6)
#: The detector's jitter: the crop box moved by up to this many pixels (7 % of the side) in x
#: and y, and scaled by up to this share either way.
JITTER_SHIFT = 2.0
JITTER_SCALE = 0.07

_SIDE = IMAGE_SIZE


def hand_masks(images: np.ndarray) -> np.ndarray:
    """A soft mask (0..1 float32, ``(N, 28, 28)``) of the hand in each Sign Language MNIST image.

    The hand cannot be told from its background by grey level alone: the walls behind it are
    lit unevenly and are often as bright as the skin. What differs is texture: the background
    is smooth, the hand's outline and folds are edges. So: the Sobel gradient above its median
    (at least 20 grey levels per pixel) marks edges, a closing joins them into an outline, and
    the outline is filled, with the bottom edge counted as closed (the wrist leaves the frame
    there; without it the outline is open and nothing fills). The largest piece is the hand; an
    erosion by one pixel takes off the gradient's own width, and a slight blur softens the cut
    so that pasting it on black leaves no hard staircase.

    Example:
        >>> masks = hand_masks(train.images[:4])
        >>> masks.shape, masks.dtype, bool(0.2 < masks.mean() < 0.8)
        ((4, 28, 28), dtype('float32'), True)
    """
    out = np.empty(images.shape, dtype=np.float32)
    for i, image in enumerate(images):
        x = ndimage.gaussian_filter(image.astype(np.float64), 0.6)
        gradient = np.hypot(ndimage.sobel(x, 0), ndimage.sobel(x, 1))
        edges = gradient > max(20.0, float(np.percentile(gradient, 55)))
        edges = ndimage.binary_closing(np.pad(edges, 2), iterations=2)[2:-2, 2:-2]
        closed = np.pad(edges, 1)
        closed[-1, 3:-3] = True  # the wrist's side of the outline: the frame's bottom edge
        mask = ndimage.binary_opening(ndimage.binary_fill_holes(closed)[1:-1, 1:-1], iterations=1)
        labels, count = ndimage.label(mask)
        if count > 1:
            sizes = ndimage.sum(mask, labels, range(1, count + 1))
            mask = labels == 1 + int(np.argmax(sizes))
        mask = ndimage.binary_erosion(mask, iterations=1) if mask.sum() > 60 else mask
        out[i] = ndimage.gaussian_filter(mask.astype(np.float32), 0.5)
    return out


@functools.lru_cache(maxsize=1)
def _photo_crops() -> np.ndarray:
    # Seed 1: not the crops issue 26's "background" family draws (seed 0), for more variety.
    crops = background_crops("train", 2048, seed=1)
    crops.setflags(write=False)
    return crops


def _background(kind: str, own: float, rng: np.random.Generator) -> np.ndarray:
    """One 28x28 float background of ``kind``; ``own`` is the image's own background grey."""
    if kind == "black":  # segmented or dim: near black, a little sensor noise
        return rng.uniform(0, 40) + rng.normal(0, rng.uniform(0, 6), (_SIDE, _SIDE))
    if kind in ("dark_photo", "photo"):
        crop = _photo_crops()[int(rng.integers(len(_photo_crops())))].astype(np.float64)
        return crop * rng.uniform(0.1, 0.5) if kind == "dark_photo" else crop
    if kind == "light_wall":  # a lit wall: light, with the gradient of a lamp to one side
        ramp = np.linspace(-1, 1, _SIDE)
        angle = rng.uniform(0, 2 * np.pi)
        slope = rng.uniform(0, 30) * (np.cos(angle) * ramp[None, :] + np.sin(angle) * ramp[:, None])
        return rng.uniform(150, 245) + slope
    return np.full((_SIDE, _SIDE), own)


def _resize(array: np.ndarray, side: int) -> np.ndarray:
    return np.asarray(Image.fromarray(array.astype(np.float32)).resize((side, side), Image.Resampling.BILINEAR))


def _paste(frame: np.ndarray, tile: np.ndarray, x: int, y: int) -> np.ndarray:
    """``tile`` on a zero frame of ``frame``'s shape at (x, y), clipped where it leaves the frame."""
    out = np.zeros_like(frame)
    side = len(tile)
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + side, _SIDE), min(y + side, _SIDE)
    out[y0:y1, x0:x1] = tile[y0 - y : y1 - y, x0 - x : x1 - x]
    return out


def _one(
    image: np.ndarray, mask: np.ndarray, kinds: tuple[str, ...], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    if rng.random() < 0.5:
        image, mask = image[:, ::-1], mask[:, ::-1]
    kind = kinds[int(rng.integers(len(kinds)))]
    gamma = float(np.exp(rng.uniform(*np.log(HAND_GAMMA))))
    hand = 255.0 * (image / 255.0) ** gamma * rng.uniform(*HAND_GAIN[kind])
    own = float(np.median(image[mask < 0.5])) if (mask < 0.5).any() else float(np.median(image))
    background = _background(kind, own, rng)
    scale = rng.uniform(*HAND_SCALE)
    side = max(8, round(_SIDE * scale))
    x = int(rng.integers(0, _SIDE - side + 1))
    # Half the time the wrist sits on the bottom edge (an arm from below, as on a webcam);
    # otherwise anywhere, as when the detector's box is off the hand's centre.
    y = _SIDE - side if rng.random() < 0.5 else int(rng.integers(0, _SIDE - side + 1))
    # The detector's jitter: its box a few percent larger or smaller and a pixel or two off, which
    # is the hand a few percent smaller or larger and moved the other way (cut where it leaves).
    jittered = max(8, round(side * (1 + rng.uniform(-JITTER_SCALE, JITTER_SCALE))))
    x += (side - jittered) // 2 + int(np.rint(rng.uniform(-JITTER_SHIFT, JITTER_SHIFT)))
    y += (side - jittered) // 2 + int(np.rint(rng.uniform(-JITTER_SHIFT, JITTER_SHIFT)))
    alpha = _paste(background, np.clip(_resize(mask, jittered), 0, 1), x, y)
    scene = alpha * _paste(background, _resize(hand, jittered), x, y) + (1 - alpha) * background
    return np.clip(np.rint(scene), 0, 255).astype(np.uint8), alpha.astype(np.float32)


def transfer_scenes(
    images: np.ndarray,
    rng: np.random.Generator,
    masks: np.ndarray | None = None,
    backgrounds: tuple[str, ...] = BACKGROUNDS,
) -> tuple[np.ndarray, np.ndarray]:
    """Each uint8 ``(N, 28, 28)`` hand cut out, re-lit, rescaled and put on another background, and where it went.

    Args:
        images: Sign Language MNIST images (unchanged).
        rng: the draws; a seeded generator repeats the result exactly.
        masks: the images' :func:`hand_masks`, if already made (they are made here otherwise).
        backgrounds: the kinds of background to draw from (:data:`BACKGROUNDS`, all by default).

    Returns:
        ``(scenes, alphas)``: the new uint8 images, and each hand's soft mask (0..1) in them.

    Example:
        >>> import numpy as np
        >>> scenes, alphas = transfer_scenes(train.images[:4], np.random.default_rng(0), backgrounds=("black",))
        >>> bool((scenes[alphas == 0] < 60).all())  # around the hand: near black
        True
    """
    unknown = set(backgrounds) - set(BACKGROUNDS)
    if unknown or not backgrounds:
        raise ConfigurationError(f"backgrounds must be some of {BACKGROUNDS}, got {backgrounds!r}")
    masks = hand_masks(images) if masks is None else masks
    scenes, alphas = np.empty_like(images), np.empty(images.shape, dtype=np.float32)
    for i, (image, mask) in enumerate(zip(images, masks, strict=True)):
        scenes[i], alphas[i] = _one(image.astype(np.float64), mask, tuple(backgrounds), rng)
    return scenes, alphas


def transfer_augment(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The transfer augmentation of uint8 ``(N, 28, 28)`` images: :func:`transfer_scenes`' images alone.

    Example:
        >>> import numpy as np
        >>> out = transfer_augment(train.images[:6], np.random.default_rng(0))
        >>> out.shape, out.dtype
        ((6, 28, 28), dtype('uint8'))
        >>> bool((out == transfer_augment(train.images[:6], np.random.default_rng(0))).all())
        True
    """
    return transfer_scenes(images, rng)[0]


__all__ = ["BACKGROUNDS", "HAND_GAIN", "HAND_GAMMA", "HAND_SCALE", "hand_masks", "transfer_augment", "transfer_scenes"]
