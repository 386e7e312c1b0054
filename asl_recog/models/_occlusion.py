"""Occlusion sensitivity of one 28x28 image: the numbers behind ``asl_recog.explain`` and ``POST /explain``.

It lives with the models, not in ``evaluation``, because the scoring service computes it too and
must not import what ``evaluation`` brings (pandas, scikit-learn, matplotlib): one function,
numpy only, so that the API, the command line and the service explain an image identically.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from asl_recog._errors import ConfigurationError
from asl_recog.data._labels import IMAGE_SIZE

#: The defaults: 4-pixel squares every 2 pixels, 169 occluded copies of the image.
PATCH, STRIDE, FILL = 4, 2, 0.5


def check_occlusion(patch: int, stride: int, fill: float) -> None:
    """Refuse a square size, step or grey level that does not make a map of a 28x28 image.

    Raises:
        ConfigurationError: naming the value and the range it must be in.

    Example:
        >>> check_occlusion(4, 2, 0.5)
        >>> check_occlusion(20, 2, 0.5)
        Traceback (most recent call last):
        ...
        asl_recog._errors.ConfigurationError: patch 20, stride 2: give 2 <= patch <= 14 and 1 <= stride <= patch
    """
    if not 2 <= patch <= IMAGE_SIZE // 2 or not 1 <= stride <= patch:
        raise ConfigurationError(f"patch {patch}, stride {stride}: give 2 <= patch <= 14 and 1 <= stride <= patch")
    if not 0.0 <= fill <= 1.0:
        raise ConfigurationError(f"fill {fill}: give a grey level from 0 to 1")


def occlusion_map(
    predict_proba: Callable[[np.ndarray], np.ndarray],
    image: np.ndarray,
    target: int | None = None,
    *,
    patch: int = PATCH,
    stride: int = STRIDE,
    fill: float = FILL,
    batch_size: int = 256,
) -> tuple[np.ndarray, int, float]:
    """The mean drop in class ``target``'s probability when a grey square covers each pixel.

    Args:
        predict_proba: a model's ``predict_proba``, called with ``(n, 28, 28, 1)`` floats in 0..1.
        image: one 28x28 image, floats in 0..1.
        target: the class (0..23) whose probability is followed; None: the model's answer.
        patch: side of the grey square, in pixels (2-14).
        stride: step between squares, in pixels (1 to ``patch``).
        fill: the square's grey level, 0..1.
        batch_size: occluded copies scored per call, which bounds the memory whatever the model.

    Returns:
        The 28x28 map (positive where covering the pixel lowers the probability), the class
        followed, and its probability on the whole image.

    Example:
        >>> def bright_centre(x):  # a "model" whose class 0 is the brightness of the centre
        ...     p = x[:, 12:16, 12:16, 0].mean(axis=(1, 2))
        ...     return np.stack([p, 1 - p], axis=1)
        >>> heatmap, target, probability = occlusion_map(bright_centre, np.ones((28, 28)))
        >>> target, probability, bool(heatmap[14, 14] > 0), float(heatmap[0, 0])
        (0, 1.0, True, 0.0)
    """
    check_occlusion(patch, stride, fill)
    base = np.asarray(image, dtype=np.float32).reshape(IMAGE_SIZE, IMAGE_SIZE)
    whole = np.asarray(predict_proba(base[None, :, :, None]))[0]
    target = int(np.argmax(whole)) if target is None else target
    probability = float(whole[target])
    starts = range(0, IMAGE_SIZE - patch + 1, stride)
    corners = [(r, c) for r in starts for c in starts]
    drop = np.zeros((IMAGE_SIZE, IMAGE_SIZE))
    covered = np.zeros((IMAGE_SIZE, IMAGE_SIZE))
    for first in range(0, len(corners), batch_size):
        chunk = corners[first : first + batch_size]
        copies = np.repeat(base[None], len(chunk), axis=0)
        for k, (r, c) in enumerate(chunk):
            copies[k, r : r + patch, c : c + patch] = fill
        scores = np.asarray(predict_proba(copies[..., None]))[:, target]
        for (r, c), score in zip(chunk, scores, strict=True):
            drop[r : r + patch, c : c + patch] += probability - float(score)
            covered[r : r + patch, c : c + patch] += 1
    return np.divide(drop, covered, out=np.zeros_like(drop), where=covered > 0), target, probability


__all__ = ["FILL", "PATCH", "STRIDE", "check_occlusion", "occlusion_map"]
