"""Training-time augmentation: corrupted copies of the training images (every corruption family by default)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy import ndimage

from asl_recog._errors import ConfigurationError
from asl_recog.data._robust_augment import robust_augment


def augment(
    images: np.ndarray,
    labels: np.ndarray,
    copies: int = 1,
    seed: int = 0,
    max_shift: float = 2.0,
    max_degrees: float = 10.0,
    mode: Literal["robust", "geometric", "mixed"] = "robust",
    strength: float = 0.75,
) -> tuple[np.ndarray, np.ndarray]:
    """Add ``copies`` corrupted versions of each training image.

    Pixel-based models cannot learn invariances on their own. ``mode="robust"`` (the
    default) draws each copy from every family of the corruption benchmark within
    training's ranges, backgrounds from the training half of the photo pool
    (:func:`asl_recog.data._robust_augment.robust_augment`, at ``strength``); ``"geometric"``
    only shifts by up to ``max_shift`` pixels and rotates by up to ``max_degrees``;
    ``"mixed"`` adds both, a geometric copy and a robust one, for each of ``copies``.
    Used for training only, never for validation.

    Example:
        >>> images, labels = augment(train.images, train.labels, copies=1)
        >>> images.shape  # the originals, then one corrupted copy of each
        (600, 28, 28)
    """
    if mode not in ("robust", "geometric", "mixed"):
        raise ConfigurationError(f"augment mode must be 'robust', 'geometric' or 'mixed', got {mode!r}")
    rng = np.random.default_rng(seed)
    out, out_labels = [images], [labels]
    if mode != "geometric":
        for _ in range(copies):
            out.append(robust_augment(images, strength, rng))
            out_labels.append(labels)
    if mode == "robust":
        return np.concatenate(out), np.concatenate(out_labels)
    for _ in range(copies):
        out.append(geometric(images, rng, max_shift, max_degrees))
        out_labels.append(labels)
    return np.concatenate(out), np.concatenate(out_labels)


def geometric(
    images: np.ndarray, rng: np.random.Generator, max_shift: float = 2.0, max_degrees: float = 10.0
) -> np.ndarray:
    """Each image turned by up to ``max_degrees`` and shifted by up to ``max_shift`` pixels (uniform draws).

    Example:
        >>> out = geometric(train.images[:4], np.random.default_rng(0))
        >>> out.shape, out.dtype
        ((4, 28, 28), dtype('uint8'))
    """
    base = images.astype(np.float32)
    angles = rng.uniform(-max_degrees, max_degrees, len(images))
    shifts = rng.uniform(-max_shift, max_shift, (len(images), 2))
    moved = np.empty_like(base)
    for i, (image, angle, shift) in enumerate(zip(base, angles, shifts, strict=True)):
        turned = ndimage.rotate(image, angle, reshape=False, order=1, mode="nearest")
        moved[i] = ndimage.shift(turned, shift, order=1, mode="nearest")
    return np.clip(np.rint(moved), 0, 255).astype(images.dtype)


#: Strength of the robust copy in the tabular (AutoML) training table. On HOG features a robust
#: copy alone cost 3-6 points of clean accuracy for about the mCA of both copies together
#: (bench/bench_automl_recipes.py, HOG + the default MLP on the grouped split's training part:
#: geometric copy 0.967 test, mCA 0.673; robust copy 0.923, 0.685; both copies 0.963, 0.733).
TABULAR_STRENGTH = 0.5


def tabular_copies(images: np.ndarray, labels: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The AutoML route's augmented training table, locally and on Azure alike.

    The originals, one shifted and rotated copy of each (what keeps HOG models accurate on
    clean photos), and one copy drawn from every corruption family at
    :data:`TABULAR_STRENGTH` (what teaches them mirrored hands, noise and backgrounds):
    three rows per image.

    Example:
        >>> images, labels = tabular_copies(train.images, train.labels, seed=0)
        >>> len(images) == 3 * len(train)
        True
    """
    return augment(images, labels, copies=1, seed=seed, mode="mixed", strength=TABULAR_STRENGTH)


__all__ = ["TABULAR_STRENGTH", "augment", "geometric", "tabular_copies"]
