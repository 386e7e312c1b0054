"""Statistics for comparing classifiers on one test set: accuracy intervals and McNemar's exact test."""

from __future__ import annotations

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


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's exact test of two classifiers on the same test images.

    Attributes:
        model_a, model_b: the names compared (``model_a`` ranked first).
        b: images ``model_a`` got right and ``model_b`` wrong.
        c: images ``model_a`` got wrong and ``model_b`` right.
        p_value: exact two-sided binomial p-value of ``b`` vs ``c`` (1.0 when b + c = 0).
        alpha: the significance level.
        significant: ``p_value < alpha``.

    Example:
        >>> y = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 10])  # dataset labels of ten test images
        >>> pred_a, pred_b = y.copy(), np.where(np.arange(10) < 4, 11, y)  # b gets the first four wrong
        >>> print(mcnemar_exact(y, pred_a, pred_b, "svm", "cnn").statement)
        McNemar exact test, svm vs cnn: 4 images only svm got right, 0 only cnn got right, p = 0.125: NOT ...
    """

    model_a: str
    model_b: str
    b: int
    c: int
    p_value: float
    alpha: float = 0.05

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha

    @property
    def statement(self) -> str:
        """The result in one plain sentence."""
        p = f"p = {self.p_value:.4g}" if self.p_value > 0 else "p < 1e-300"  # below float range
        head = (
            f"McNemar exact test, {self.model_a} vs {self.model_b}: {self.b} images only {self.model_a} "
            f"got right, {self.c} only {self.model_b} got right, {p}"
        )
        if self.significant:
            better = self.model_a if self.b > self.c else self.model_b
            return f"{head}: significant at the {self.alpha:g} level ({better} is better)."
        return (
            f"{head}: NOT significant at the {self.alpha:g} level; on this test set the two models cannot "
            "be told apart."
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "model_a": self.model_a,
            "model_b": self.model_b,
            "b": self.b,
            "c": self.c,
            "p_value": self.p_value,
            "alpha": self.alpha,
            "significant": self.significant,
            "statement": self.statement,
        }


def mcnemar_from_counts(b: int, c: int, model_a: str = "A", model_b: str = "B", alpha: float = 0.05) -> McNemarResult:
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
    return McNemarResult(model_a, model_b, int(b), int(c), min(p_value, 1.0), alpha)


def mcnemar_exact(
    y_true: np.ndarray,
    pred_a: np.ndarray,
    pred_b: np.ndarray,
    model_a: str = "A",
    model_b: str = "B",
    alpha: float = 0.05,
) -> McNemarResult:
    """McNemar's exact test of two sets of predictions for the same labelled images."""
    y_true, pred_a, pred_b = np.asarray(y_true), np.asarray(pred_a), np.asarray(pred_b)
    if not (y_true.shape == pred_a.shape == pred_b.shape):
        raise ValueError(f"shapes differ: truth {y_true.shape}, {model_a} {pred_a.shape}, {model_b} {pred_b.shape}")
    right_a, right_b = pred_a == y_true, pred_b == y_true
    return mcnemar_from_counts(
        int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b)), model_a, model_b, alpha
    )
