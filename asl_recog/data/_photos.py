"""Real photos for backgrounds and no-hand images: the sample photos that scikit-image and scikit-learn ship.

Both packages carry these files in their wheels, so nothing is downloaded, and each
photo's licence is stated by its package (the docstrings of ``skimage.data`` and
scikit-learn's ``datasets/images/README.txt``). The pool is split once, by photo:

* ``"train"`` photos may be used while training (augmentation, the "unknown" negatives);
* ``"benchmark"`` photos are only for measuring (the corruption suite's backgrounds),
  so a benchmark background is a scene the model has never seen.

The test file is never a source of backgrounds.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image

from asl_recog._errors import ConfigurationError
from asl_recog.data._labels import IMAGE_SIZE

Half = Literal["train", "benchmark"]


@dataclass(frozen=True)
class Photo:
    """One photo of the pool: where it comes from, its licence, and which half it is in."""

    name: str
    package: str
    licence: str
    credit: str
    half: Half


#: The pool, in a fixed order (the crops depend on it).
PHOTOS: tuple[Photo, ...] = (
    Photo("astronaut", "scikit-image", "public domain", "NASA (Eileen Collins)", "train"),
    Photo("coffee", "scikit-image", "CC0", "Rachel Michetti", "train"),
    Photo("camera", "scikit-image", "CC0", "Lav Varshney", "train"),
    Photo("brick", "scikit-image", "CC0", "CC0Textures (Bricks25)", "train"),
    Photo("grass", "scikit-image", "CC0", "CC0Textures", "train"),
    Photo("coins", "scikit-image", "no known copyright restrictions", "Brooklyn Museum, via Wikipedia", "train"),
    Photo("china.jpg", "scikit-learn", "CC BY 2.0", "danielbuechele (Flickr)", "train"),
    Photo("chelsea", "scikit-image", "CC0", "Stefan van der Walt", "benchmark"),
    Photo("rocket", "scikit-image", "public domain", "SpaceX (DSCOVR launch)", "benchmark"),
    Photo("gravel", "scikit-image", "CC0", "CC0Textures (Gravel04)", "benchmark"),
    Photo("clock", "scikit-image", "public domain", "Stefan van der Walt", "benchmark"),
    Photo("hubble_deep_field", "scikit-image", "public domain", "NASA", "benchmark"),
    Photo("flower.jpg", "scikit-learn", "CC BY 2.0", "vultilion (Flickr)", "benchmark"),
)


@functools.cache
def _grey(name: str) -> np.ndarray:
    """A pool photo as a uint8 greyscale array (ITU-R 601 luma, as Pillow's "L" mode)."""
    if name.endswith(".jpg"):
        from sklearn.datasets import load_sample_image

        pixels = load_sample_image(name)
    else:
        import skimage.data

        pixels = getattr(skimage.data, name)()
    image = Image.fromarray(np.asarray(pixels, dtype=np.uint8))
    return np.asarray(image.convert("L"))


def photos(half: Half) -> list[Photo]:
    """The pool's photos in ``half`` (``"train"`` or ``"benchmark"``).

    Example:
        >>> [p.name for p in photos("benchmark")][:3]
        ['chelsea', 'rocket', 'gravel']
    """
    if half not in ("train", "benchmark"):
        raise ConfigurationError(f"half must be 'train' or 'benchmark', got {half!r}")
    return [p for p in PHOTOS if p.half == half]


def background_crops(half: Half, n: int, seed: int = 0) -> np.ndarray:
    """``n`` random 28x28 greyscale crops of the ``half``'s photos, deterministic for ``seed``.

    Each crop takes a square window of 15-50 % of the photo's shorter side at a random
    place of a photo drawn at random, and shrinks it to 28 x 28 by area averaging: at
    the hand's scale, a background is a blur of a room, not its fine texture.

    Example:
        >>> background_crops("train", 4).shape
        (4, 28, 28)
    """
    if n < 0:
        raise ConfigurationError(f"n must be >= 0, got {n}")
    pool = photos(half)
    rng = np.random.default_rng([seed, 7])
    out = np.empty((n, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    for i, k in enumerate(rng.integers(0, len(pool), n)):
        photo = _grey(pool[int(k)].name)
        side = int(rng.uniform(0.15, 0.5) * min(photo.shape))
        y, x = (int(rng.integers(0, extent - side + 1)) for extent in photo.shape)
        window = Image.fromarray(photo[y : y + side, x : x + side])
        out[i] = np.asarray(window.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BOX))
    return out


__all__ = ["PHOTOS", "Half", "Photo", "background_crops", "photos"]
