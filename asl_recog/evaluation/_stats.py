"""Statistics for comparing classifiers on one test set: accuracy intervals (over images and over
source photos) and McNemar's exact test."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

#: The interval method used for accuracy (scipy's name for it).
CI_METHOD = "wilson"
CI_DESCRIPTION = "Wilson score interval"


def accuracy_ci(correct: int, total: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of an accuracy of ``correct`` out of ``total``.

    Wilson stays inside [0, 1] and keeps close to its nominal coverage even at
    accuracies near 100%, where the normal ("Wald") interval collapses.

    Example:
        >>> accuracy_ci(95, 100)
        (0.8882..., 0.9784...)
    """
    from scipy.stats import binomtest

    if total <= 0:
        raise ValueError("an accuracy interval needs at least one test image")
    if not 0 <= correct <= total:
        raise ValueError(f"correct must be in 0..{total}, got {correct}")
    interval = binomtest(int(correct), int(total)).proportion_ci(confidence_level=confidence, method=CI_METHOD)
    return float(interval.low), float(interval.high)


def photos_read(correct: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """One boolean per source photo (in sorted group order): True where most of its copies were right.

    Sign Language MNIST's files hold near-duplicate copies of far fewer photos (the test
    file: 7,172 images of about 380 photos, some 19 copies each: filters, small turns,
    brightness), so a network's errors come as whole photos. The images are not
    independent draws: an interval or a test over them is too confident, and the photos
    are the sample. A photo counts as read when more than half its copies are not answered
    wrongly.

    Args:
        correct: one boolean per image, True where the answer was right.
        groups: the image's source photo, e.g. ``similarity_groups(test)`` (the grouped
            split's clustering).

    Example:
        >>> correct = np.array([True] * 19 + [False] * 19 + [True, False])
        >>> photos_read(correct, np.repeat([0, 1, 2], [19, 19, 2]))  # a tie counts as read
        array([ True, False,  True])
    """
    correct, groups = np.asarray(correct, dtype=bool), np.asarray(groups)
    if correct.shape != groups.shape or correct.ndim != 1:
        raise ValueError(f"correct {correct.shape} and groups {groups.shape} must be two 1-d arrays of one length")
    _, index = np.unique(groups, return_inverse=True)
    wrong = np.bincount(index, weights=~correct)
    return np.asarray(wrong <= np.bincount(index) / 2)


def photos_misread(correct: np.ndarray, groups: np.ndarray) -> tuple[int, int]:
    """Source photos misread (most of their copies wrong), and source photos in all.

    ``accuracy_ci(photos - misread, photos)`` is the interval over photos (see :func:`photos_read`).

    Example:
        >>> photos_misread(np.array([True] * 19 + [False] * 19), np.repeat([0, 1], 19))
        (1, 2)
    """
    read = photos_read(correct, groups)
    return int(np.sum(~read)), len(read)


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's exact test of two classifiers on the same test images.

    Attributes:
        model_a, model_b: the names compared (``model_a`` ranked first).
        b: images ``model_a`` got right and ``model_b`` wrong.
        c: images ``model_a`` got wrong and ``model_b`` right.
        p_value: exact two-sided binomial p-value of ``b`` vs ``c`` (1.0 when b + c = 0).
        alpha: the significance level.
        unit: what ``b`` and ``c`` count: ``"images"``, or ``"source photos"``.
        over_photos: the same test over the source photos the images copy (see
            :func:`photos_read`), where they are known; it then decides ``significant``, since
            copies of one photo are not independent draws.
        significant: ``p_value < alpha``, over photos where they are known.

    Example:
        >>> y = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 10])  # dataset labels of ten test images
        >>> pred_a, pred_b = y.copy(), np.where(np.arange(10) < 4, 11, y)  # b gets the first four wrong
        >>> print(mcnemar_exact(y, pred_a, pred_b, "svm", "cnn").statement)
        McNemar exact test, svm vs cnn: 4 images only svm got right, 0 only cnn got right, p = 0.125: NOT ...
        >>> photos = np.array([0, 0, 0, 0, 1, 2, 3, 4, 5, 6])  # the four are copies of one photo
        >>> print(mcnemar_exact(y, pred_a, pred_b, "svm", "cnn", groups=photos).over_photos.statement)
        McNemar exact test, svm vs cnn: 1 source photos only svm got right, 0 only cnn got right, p = 1: NOT ...
    """

    model_a: str
    model_b: str
    b: int
    c: int
    p_value: float
    alpha: float = 0.05
    unit: str = "images"
    over_photos: McNemarResult | None = None

    @property
    def significant(self) -> bool:
        if self.over_photos is not None:
            return self.over_photos.significant
        return self.p_value < self.alpha

    def _counts(self) -> str:
        p = f"p = {self.p_value:.4g}" if self.p_value > 0 else "p < 1e-300"  # below float range
        return f"{self.b} {self.unit} only {self.model_a} got right, {self.c} only {self.model_b} got right, {p}"

    @property
    def statement(self) -> str:
        """The result in one plain sentence."""
        head = f"McNemar exact test, {self.model_a} vs {self.model_b}: {self._counts()}"
        if self.over_photos is not None:
            head += f"; over the {self.over_photos.unit} the images copy, {self.over_photos._counts()}"
        if self.significant:
            decisive = self.over_photos or self
            better = self.model_a if decisive.b > decisive.c else self.model_b
            return f"{head}: significant at the {self.alpha:g} level ({better} is better)."
        return (
            f"{head}: NOT significant at the {self.alpha:g} level; on this test set the two models cannot "
            "be told apart."
        )

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "model_a": self.model_a,
            "model_b": self.model_b,
            "b": self.b,
            "c": self.c,
            "p_value": self.p_value,
            "alpha": self.alpha,
            "significant": self.significant,
            "statement": self.statement,
        }
        if self.over_photos is not None:
            photos = self.over_photos
            out.update(photos_b=photos.b, photos_c=photos.c, photos_p_value=photos.p_value)
        return out


def mcnemar_from_counts(
    b: int, c: int, model_a: str = "A", model_b: str = "B", alpha: float = 0.05, unit: str = "images"
) -> McNemarResult:
    """McNemar's exact test from the two discordant counts.

    Under the null hypothesis both models err equally often, so ``b`` is
    Binomial(b + c, 1/2); the p-value is scipy's exact two-sided binomial test.

    Example:
        >>> round(mcnemar_from_counts(1, 9).p_value, 5)
        0.02148
    """
    from scipy.stats import binomtest

    if b < 0 or c < 0:
        raise ValueError("discordant counts must be non-negative")
    p_value = 1.0 if b + c == 0 else float(binomtest(int(b), int(b + c), 0.5, alternative="two-sided").pvalue)
    return McNemarResult(model_a, model_b, int(b), int(c), min(p_value, 1.0), alpha, unit)


def mcnemar_exact(
    y_true: np.ndarray,
    pred_a: np.ndarray,
    pred_b: np.ndarray,
    model_a: str = "A",
    model_b: str = "B",
    alpha: float = 0.05,
    groups: np.ndarray | None = None,
) -> McNemarResult:
    """McNemar's exact test of two sets of predictions for the same labelled images.

    With ``groups`` (each image's source photo) the test is also run over the photos, each
    read or misread as most of its copies are (:func:`photos_read`), and that one decides.
    """
    y_true, pred_a, pred_b = np.asarray(y_true), np.asarray(pred_a), np.asarray(pred_b)
    if not (y_true.shape == pred_a.shape == pred_b.shape):
        raise ValueError(f"shapes differ: truth {y_true.shape}, {model_a} {pred_a.shape}, {model_b} {pred_b.shape}")
    right_a, right_b = pred_a == y_true, pred_b == y_true
    result = mcnemar_from_counts(
        int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b)), model_a, model_b, alpha
    )
    if groups is None:
        return result
    read_a, read_b = photos_read(right_a, groups), photos_read(right_b, groups)
    photos = mcnemar_from_counts(
        int(np.sum(read_a & ~read_b)), int(np.sum(~read_a & read_b)), model_a, model_b, alpha, "source photos"
    )
    return dataclasses.replace(result, over_photos=photos)
