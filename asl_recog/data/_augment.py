"""Training-time augmentation: shifted and rotated copies of the training images."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def augment(
    images: np.ndarray,
    labels: np.ndarray,
    copies: int = 1,
    seed: int = 0,
    max_shift: float = 2.0,
    max_degrees: float = 10.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Add ``copies`` shifted and rotated versions of each training image.

    The signs in the test file are the same letters photographed a little off
    centre or tilted; pixel-based models cannot learn that invariance on their own.
    Used for training only, never for validation.

    Example:
        >>> images, labels = augment(train.images, train.labels, copies=1)
        >>> images.shape  # the originals, then one shifted and rotated copy of each
        (600, 28, 28)
    """
    rng = np.random.default_rng(seed)
    out, out_labels = [images], [labels]
    base = images.astype(np.float32)
    for _ in range(copies):
        angles = rng.uniform(-max_degrees, max_degrees, len(images))
        shifts = rng.uniform(-max_shift, max_shift, (len(images), 2))
        moved = np.empty_like(base)
        for i, (image, angle, shift) in enumerate(zip(base, angles, shifts, strict=True)):
            turned = ndimage.rotate(image, angle, reshape=False, order=1, mode="nearest")
            moved[i] = ndimage.shift(turned, shift, order=1, mode="nearest")
        out.append(np.clip(np.rint(moved), 0, 255).astype(images.dtype))
        out_labels.append(labels)
    return np.concatenate(out), np.concatenate(out_labels)


__all__ = ["augment"]
