"""A corruption benchmark for 28x28 hand images, in the manner of MNIST-C and ImageNet-C.

MNIST-C (Mu & Gilmer, 2019) applies 15 named corruptions to the MNIST test set;
ImageNet-C (Hendrycks & Dietterich, 2019) gives each of its corruptions 5 severities
and summarises a model by its mean corruption accuracy. This suite does the same for
Sign Language MNIST, with 3 severities per corruption (one for a change with one level,
such as ``mirror``) and the changes a webcam photo brings: the hand off-centre, smaller,
tilted, mirrored, in front of a room, under other light, noisier, blurred, compressed.

The severities were pinned before any model was trained for them (issue 26) and are
listed in ``docs/robustness.md``. Every corruption is deterministic for a seed, and
severity 0 is the identity.

**mCA** (mean corruption accuracy): the mean over corruptions of each corruption's mean
accuracy over its severities. Each corruption weighs the same, whatever its number of
severities (``mirror``'s one level weighs as much as ``rotate``'s three). An "unknown"
answer counts as wrong.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from asl_recog._errors import ConfigurationError, DataFormatError
from asl_recog.data import _corruption_ops as ops
from asl_recog.data._labels import IMAGE_SIZE
from asl_recog.data._photos import Half, background_crops

Family = Literal["geometry", "light", "noise", "blur", "digital", "occlusion", "background"]
FAMILIES: tuple[Family, ...] = ("geometry", "light", "noise", "blur", "digital", "occlusion", "background")


@dataclass(frozen=True)
class Corruption:
    """One named corruption: its family, its parameter at each severity, and what it does.

    Attributes:
        name: the registry key, e.g. ``"rotate"``.
        family: one of :data:`FAMILIES`.
        levels: the parameter at severity 1, 2, 3 (one value for a one-level change).
        unit: what the parameter measures, for tables ("px", "deg", ...).
        description: one line, for the docs and the report.
    """

    name: str
    family: Family
    levels: tuple[float, ...]
    unit: str
    description: str

    @property
    def severities(self) -> tuple[int, ...]:
        """The valid severities, 1 upwards (0, the identity, is always accepted too)."""
        return tuple(range(1, len(self.levels) + 1))

    def label(self, severity: int) -> str:
        """``"rotate 20 deg"``: the corruption at ``severity``, for a table row."""
        if severity == 0:
            return f"{self.name} (none)"
        if len(self.levels) == 1 and not self.unit:
            return self.name
        return f"{self.name} {self.levels[severity - 1]:g}{' ' + self.unit if self.unit else ''}"


_SUITE: tuple[Corruption, ...] = (
    Corruption("shift", "geometry", (2, 4, 6), "px", "moved in a random direction"),
    Corruption("rotate", "geometry", (10, 20, 30), "deg", "turned either way"),
    Corruption("scale", "geometry", (0.85, 0.7, 0.55), "x", "shrunk about the centre"),
    Corruption("shear", "geometry", (0.15, 0.3, 0.45), "", "slanted horizontally either way"),
    Corruption("perspective", "geometry", (1.5, 3, 4.5), "px", "each corner moved up to this far: seen off-axis"),
    Corruption("mirror", "geometry", (1,), "", "left and right swapped: the other hand"),
    Corruption("brightness", "light", (35, 70, 105), "levels", "lighter or darker by this many grey levels"),
    Corruption("contrast", "light", (0.6, 0.4, 0.25), "x", "deviations from the mean scaled by this"),
    Corruption("gamma", "light", (1.6, 2.2, 3.0), "", "midtones darker or lighter (this gamma or its inverse)"),
    Corruption("gaussian_noise", "noise", (10, 25, 40), "sigma", "Gaussian pixel noise"),
    Corruption("shot_noise", "noise", (100, 50, 25), "photons", "Poisson noise; white collects this many counts"),
    Corruption("salt_and_pepper", "noise", (0.02, 0.05, 0.10), "of pixels", "pixels set to black or white"),
    Corruption("gaussian_blur", "blur", (0.6, 1.0, 1.5), "px", "Gaussian blur of this sigma"),
    Corruption("motion_blur", "blur", (3, 5, 7), "px", "a straight streak this long at a random angle"),
    Corruption("defocus_blur", "blur", (1.0, 1.5, 2.0), "px", "a disk of this radius: a lens out of focus"),
    Corruption("jpeg", "digital", (20, 8, 3), "quality", "up to 224 px, JPEG at this quality, back to 28 px"),
    Corruption("pixelate", "digital", (17, 13, 9), "px", "down to this many pixels a side and back"),
    Corruption("occlusion", "occlusion", (6, 9, 12), "px", "a grey square this wide over part of the hand"),
    Corruption("background", "background", (0.9, 0.75, 0.55), "of frame", "the hand this size on a real photo"),
)

#: The registry: name -> :class:`Corruption`, in the suite's order.
CORRUPTIONS: dict[str, Corruption] = {c.name: c for c in _SUITE}


def _operation(name: str) -> ops.Operation:
    return getattr(ops, name)


@functools.lru_cache(maxsize=4)
def _backgrounds(half: Half, seed: int) -> np.ndarray:
    crops = background_crops(half, 512, seed)
    crops.setflags(write=False)
    return crops


def corrupt(
    images: np.ndarray,
    name: str,
    severity: int,
    seed: int = 0,
    *,
    photos: Half = "benchmark",
) -> np.ndarray:
    """``images`` under corruption ``name`` at ``severity``; deterministic for ``seed``.

    Args:
        images: uint8 ``(N, 28, 28)`` hand images.
        name: a key of :data:`CORRUPTIONS`.
        severity: 0 (the identity) to the corruption's highest severity (3, or 1 for ``mirror``).
        seed: the random draws (directions, positions, noise) depend on it and on nothing else.
        photos: which half of the photo pool ``background`` takes its photos from:
            ``"benchmark"`` to measure, ``"train"`` for training-time augmentation.

    Returns:
        New uint8 images of the same shape (the input is not changed).

    Example:
        >>> import numpy as np
        >>> images = np.full((2, 28, 28), 200, dtype=np.uint8)
        >>> corrupt(images, "brightness", 2, seed=0).mean(axis=(1, 2))  # 70 grey levels lighter or darker
        array([255., 130.])
        >>> bool((corrupt(images, "rotate", 0) == images).all())  # severity 0 is the identity
        True
    """
    corruption = CORRUPTIONS.get(name)
    if corruption is None:
        raise ConfigurationError(f"unknown corruption {name!r}; the suite has: {', '.join(CORRUPTIONS)}")
    if not isinstance(severity, (int, np.integer)) or not 0 <= severity <= len(corruption.levels):
        raise ConfigurationError(
            f"corruption {name!r}: severity {severity!r} is not one of 0..{len(corruption.levels)}"
        )
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise DataFormatError(
            f"corrupt() takes uint8 images of shape (N, {IMAGE_SIZE}, {IMAGE_SIZE}); got {images.dtype} {images.shape}",
            source="images",
            fix="pass dataset.images (a SignMnistDataset's uint8 array)",
        )
    if severity == 0:
        return images.copy()
    level = corruption.levels[severity - 1]
    # One stream per (seed, corruption, severity): a corruption's draws do not depend on
    # which others ran before it, or in what order.
    rng = np.random.default_rng([seed, list(CORRUPTIONS).index(name), int(severity)])
    if name == "background":
        return ops.composite(images, level, _backgrounds(photos, seed), rng)
    return _operation(name)(images, level, rng)


def select(corruptions: Sequence[str] | None = None) -> list[Corruption]:
    """The named corruptions (all of them for None), checked against the registry."""
    if corruptions is None:
        return list(_SUITE)
    if isinstance(corruptions, str):
        corruptions = [corruptions]
    unknown = [c for c in corruptions if c not in CORRUPTIONS]
    if unknown:
        raise ConfigurationError(f"unknown corruption(s) {unknown}; the suite has: {', '.join(CORRUPTIONS)}")
    if not corruptions:
        raise ConfigurationError("corruptions is empty: name at least one, or pass None for the whole suite")
    return [CORRUPTIONS[c] for c in dict.fromkeys(corruptions)]


__all__ = ["CORRUPTIONS", "FAMILIES", "Corruption", "Family", "corrupt", "select"]
