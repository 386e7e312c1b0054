"""Robust augmentation on the fly in a Keras fit, and the corrupted half of robust selection's validation.

A ``keras.utils.PyDataset`` is Keras's own way to feed batches made in Python: each
batch is a fresh corrupted copy (:func:`asl_recog.data._robust_augment.robust_augment`),
drawn from ``(seed, epoch, batch)`` so a seeded fit repeats exactly, and no epoch sees
the same copy twice. The images never exist augmented all at once in memory.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from asl_recog._console import import_keras
from asl_recog.data._augment import geometric
from asl_recog.data._robust_augment import corrupted_copy, robust_augment

#: The params key of a network's robust augmentation strength (0 or absent: none).
STRENGTH_KEY = "robust_strength"
#: The params key of the share of each batch that is robustly corrupted (absent: 1, all of it);
#: the rest gets only the old recipe's mild shift and rotation, which keeps clean accuracy.
SHARE_KEY = "robust_share"


def to_uint8(x: np.ndarray) -> np.ndarray:
    """``(N, 28, 28, 1)`` float images in 0..1 back to the uint8 ``(N, 28, 28)`` they were made from."""
    return np.clip(np.rint(np.asarray(x)[..., 0] * 255.0), 0, 255).astype(np.uint8)


def _to_float(images: np.ndarray) -> np.ndarray:
    return (images.astype(np.float32) / 255.0)[..., None]


def augmented_batches(
    x: np.ndarray, y: np.ndarray, batch_size: int, strength: float, seed: int, share: float = 1.0
) -> Any:
    """A ``keras.utils.PyDataset`` of shuffled, freshly corrupted batches of ``(x, y)``.

    ``share`` of each batch (drawn at random) is corrupted at ``strength`` from every family;
    the rest is only shifted by up to 2 pixels and turned by up to 10 degrees, as the Keras
    layers of the previous recipe did. On HOG models a robust copy alone cost 5-7 points of
    clean accuracy that a geometric copy beside it won back (``asl_recog.data._augment``).

    Example:
        >>> x = (train.images[:10, ..., None] / 255.0).astype("float32")
        >>> batches = augmented_batches(x, np.arange(10) % 24, batch_size=4, strength=1.0, seed=0)
        >>> len(batches), batches[0][0].shape
        (3, (4, 28, 28, 1))
    """
    import_keras()  # quiet start-up; the plain import below lets mypy see a module it can subclass from
    import keras

    class _Batches(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__(workers=1, use_multiprocessing=False)
            self.images, self.labels = to_uint8(x), np.asarray(y)
            self.epoch = 0
            self.order = np.random.default_rng([seed, 0]).permutation(len(self.images))

        def __len__(self) -> int:
            return math.ceil(len(self.images) / batch_size)

        def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
            chosen = self.order[index * batch_size : (index + 1) * batch_size]
            rng = np.random.default_rng([seed, self.epoch, index])
            images = self.images[chosen]
            if share >= 1:
                return _to_float(robust_augment(images, strength, rng)), self.labels[chosen]
            robust = rng.random(len(images)) < share
            out = np.empty_like(images)
            out[robust] = robust_augment(images[robust], strength, rng)
            out[~robust] = geometric(images[~robust], rng)
            return _to_float(out), self.labels[chosen]

        def on_epoch_end(self) -> None:
            self.epoch += 1
            self.order = np.random.default_rng([seed, self.epoch]).permutation(len(self.images))

    return _Batches()


def with_corrupted_copy(validation: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Validation images followed by their fixed corrupted copy (labels twice).

    Accuracy on the result is the mean of the clean and the corrupted accuracy, the score
    robust selection ranks trials by; every trial of a search sees the same copy.
    """
    x, y = validation
    return np.concatenate([x, _to_float(corrupted_copy(to_uint8(x)))]), np.concatenate([y, y])


__all__ = ["SHARE_KEY", "STRENGTH_KEY", "augmented_batches", "to_uint8", "with_corrupted_copy"]
