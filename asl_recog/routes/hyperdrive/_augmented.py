"""Robust augmentation on the fly in a Keras fit, and the corrupted half of robust selection's validation.

A ``keras.utils.PyDataset`` is Keras's own way to feed batches made in Python: each
batch is a fresh corrupted copy (:func:`asl_recog.data._robust_augment.robust_augment`),
drawn from ``(seed, epoch, batch)`` so a seeded fit repeats exactly, and no epoch sees
the same copy twice. The images never exist augmented all at once in memory.

**Outlier exposure** (Hendrycks, Mazeika & Dietterich, ICLR 2019): each batch can also
carry images with no hand (:func:`outlier_pool`), so that the network learns to spread
its probability over the letters for them, and the "unknown" threshold on the highest
probability then separates "no hand" from "a hand, changed" (before it, both were merely
"less sure"). The paper's loss for such an image is the cross-entropy to the uniform
distribution: here such an image carries the label -1, which the builders' integer-label
loss (``SparseSmoothedCrossentropy``) reads as a uniform target. A letter drawn at random
instead (the same loss in expectation) was tried first: at a share of 0.25 and 6 epochs clean
validation accuracy fell to 0.809 (0.980 without), against 0.867 with the uniform target at
0.125. Either way it costs clean accuracy at that length of training, so it is off by default
(docs/benchmarks.md, "Outlier exposure").
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from asl_recog._console import import_keras
from asl_recog._errors import ConfigurationError
from asl_recog.data._augment import geometric
from asl_recog.data._robust_augment import corrupted_copy, robust_augment
from asl_recog.data._transfer_augment import transfer_augment

#: The params key of a network's robust augmentation strength (0 or absent: none).
STRENGTH_KEY = "robust_strength"
#: The params key of the share of each batch that is robustly corrupted (absent: 1, all of it);
#: the rest gets only the old recipe's mild shift and rotation, which keeps clean accuracy.
SHARE_KEY = "robust_share"
#: The params key of the outlier-exposure images added to each batch, per image of it (absent or
#: 0: none); a batch of 128 at 0.125 gains 16 images with no hand.
OUTLIER_KEY = "outlier_share"
#: The params key of the share of each batch whose hands are cut out, re-lit and put on another
#: background (:mod:`asl_recog.data._transfer_augment`, issue 32); absent or 0: none. Those images
#: are drawn first, out of the ``robust_share`` changed; issue 26's families change the rest of it.
TRANSFER_KEY = "transfer_share"
#: The label of an outlier-exposure image: the uniform distribution is its target.
NO_LETTER = -1
#: No-hand images of each kind in the pool a fit draws its outliers from.
OUTLIER_POOL_PER_KIND = 600
#: Threads that make a fit's batches ahead of its training steps (Keras's own ``PyDataset``
#: workers; read when the batches are made). A batch depends only on ``(seed, epoch, batch)`` and
#: Keras starts an epoch's batches only after the previous epoch's ``on_epoch_end``, so the weights
#: are bit-identical to one thread's. With one thread, ``fit``'s ``tf.data`` prefetch made them
#: beside the steps already, but the NumPy augmentation (about 4.4 s of an epoch) still held the
#: steps back: the default network on the fit part of the seed-0 grouped split (21,742 images,
#: robust selection's validation, 4 epochs, 2 cores, 2026-12-04) took a median 15.4 s per epoch
#: (4 runs: 14.9-15.6 s) against 18.1 s (7 runs: 15.8-20.1 s), 67 s a fit against 81 s, the same
#: weights and validation accuracy. 32 queued batches: 15.4 s; two processes: 15.5 s, no better, so
#: threads (trials may run in worker processes, and forking TensorFlow is fragile); the batches
#: made beforehand and replayed, the floor: 12.5 s.
BATCH_WORKERS = 2


def to_uint8(x: np.ndarray) -> np.ndarray:
    """``(N, 28, 28, 1)`` float images in 0..1 back to the uint8 ``(N, 28, 28)`` they were made from."""
    return np.clip(np.rint(np.asarray(x)[..., 0] * 255.0), 0, 255).astype(np.uint8)


def _to_float(images: np.ndarray) -> np.ndarray:
    return (images.astype(np.float32) / 255.0)[..., None]


def outlier_pool(seed: int, per_kind: int = OUTLIER_POOL_PER_KIND) -> np.ndarray:
    """No-hand uint8 images for outlier exposure: every kind of :func:`asl_recog.models._unknown.ood_images`.

    Blank frames, noise, scribbles, digits and crops of the *training* half of the photo
    pool, with seeds of their own (``10_000 + seed``): the threshold is fitted on the same
    kinds drawn with seed 0, and measured on the benchmark half's photos, which no fit sees.

    Example:
        >>> outlier_pool(0, per_kind=3).shape
        (15, 28, 28)
    """
    from asl_recog.models._unknown import ood_images

    return np.concatenate(list(ood_images(per_kind, 10_000 + int(seed)).values()))


def augmented_batches(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    strength: float,
    seed: int,
    share: float = 1.0,
    outliers: float = 0.0,
    transfer: float = 0.0,
) -> Any:
    """A ``keras.utils.PyDataset`` of shuffled, freshly corrupted batches of ``(x, y)``.

    ``share`` of each batch (drawn at random) is corrupted at ``strength`` from every family;
    the rest is only shifted by up to 2 pixels and turned by up to 10 degrees, as the Keras
    layers of the previous recipe did. On HOG models a robust copy alone cost 5-7 points of
    clean accuracy that a geometric copy beside it won back (``asl_recog.data._augment``).
    With ``strength`` 0 the hands are left as they are (the network's own layers may augment).
    Keras makes the batches on :data:`BATCH_WORKERS` threads, ahead of the training steps.

    ``outliers`` > 0 appends ``round(outliers * batch)`` no-hand images (:func:`outlier_pool`,
    changed like the hands) to each batch, labelled :data:`NO_LETTER` (-1): outlier exposure,
    as the module says.

    ``transfer`` > 0 gives that share of each batch's hands (drawn first) the transfer
    augmentation instead (:func:`asl_recog.data._transfer_augment.transfer_augment`): the hand
    cut out, re-lit, shrunk and put on another background, whatever ``strength`` is. It comes
    out of the ``share`` that is changed, so the mildly changed rest stays ``1 - share``.

    Example:
        >>> x = (train.images[:10, ..., None] / 255.0).astype("float32")
        >>> batches = augmented_batches(x, np.arange(10) % 24, batch_size=4, strength=1.0, seed=0)
        >>> len(batches), batches[0][0].shape
        (3, (4, 28, 28, 1))
        >>> batches = augmented_batches(x, np.arange(10) % 24, 4, 1.0, seed=0, outliers=0.5)
        >>> batches[0][0].shape  # 4 hands and 2 images with no hand
        (6, 28, 28, 1)
        >>> augmented_batches(x, np.arange(10) % 24, 4, 1.0, seed=0, transfer=0.5)[0][0].shape
        (4, 28, 28, 1)
    """
    if outliers < 0:
        raise ConfigurationError(f"{OUTLIER_KEY} must be >= 0, got {outliers!r}")
    if not 0 <= transfer <= 1:
        raise ConfigurationError(f"{TRANSFER_KEY} must be in [0, 1], got {transfer!r}")
    import_keras()  # quiet start-up; the plain import below lets mypy see a module it can subclass from
    import keras

    workers = BATCH_WORKERS  # read now, so a test can compare one thread with two

    class _Batches(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__(workers=workers, use_multiprocessing=False)
            self.images, self.labels = to_uint8(x), np.asarray(y)
            self.epoch = 0
            self.order = np.random.default_rng([seed, 0]).permutation(len(self.images))
            self.outliers = outlier_pool(seed) if outliers > 0 else None

        def __len__(self) -> int:
            return math.ceil(len(self.images) / batch_size)

        def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
            chosen = self.order[index * batch_size : (index + 1) * batch_size]
            rng = np.random.default_rng([seed, self.epoch, index])
            images, labels = self._hands(self.images[chosen], rng), self.labels[chosen]
            if self.outliers is not None:
                count = max(1, round(outliers * len(chosen)))
                extra = self._changed(self.outliers[rng.integers(0, len(self.outliers), count)], rng, share)
                images = np.concatenate([images, extra])
                labels = np.concatenate([labels.astype(np.int64), np.full(count, NO_LETTER, dtype=np.int64)])
            return _to_float(images), labels

        def _hands(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
            if transfer <= 0:  # no draw at all: batches repeat those made before transfer_share existed
                return self._changed(images, rng, share)
            moved = rng.random(len(images)) < transfer
            out = np.empty_like(images)
            out[moved] = transfer_augment(images[moved], rng)
            # The transfer's images come out of the changed share: issue 26's families take the rest
            # of it, and the mildly changed share stays 1 - robust_share. Taken from both instead
            # (0.3 of a batch, the rest split evenly), clean validation fell from 0.990 to 0.965 at
            # 6 epochs, 0.980 with normalize (docs/benchmarks.md, "Training for the transfer").
            rest = max(0.0, share - transfer) / (1 - transfer) if transfer < 1 else 0.0
            out[~moved] = self._changed(images[~moved], rng, rest)
            return out

        def _changed(self, images: np.ndarray, rng: np.random.Generator, robust_part: float = 1.0) -> np.ndarray:
            if strength <= 0:
                return images
            if robust_part >= 1:
                return robust_augment(images, strength, rng)
            robust = rng.random(len(images)) < robust_part
            out = np.empty_like(images)
            out[robust] = robust_augment(images[robust], strength, rng)
            out[~robust] = geometric(images[~robust], rng)
            return out

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


__all__ = [
    "BATCH_WORKERS",
    "NO_LETTER",
    "OUTLIER_KEY",
    "SHARE_KEY",
    "STRENGTH_KEY",
    "TRANSFER_KEY",
    "augmented_batches",
    "outlier_pool",
    "to_uint8",
    "with_corrupted_copy",
]
