"""Accuracy under the corruption suite: per corruption and severity, per family, and the mCA with a 95 % CI.

The mCA's interval comes from the images, not the corruptions: the suite is fixed, and
what varies from one sample of test images to another is which images were drawn. Each
image gets its own mean corruption score (the suite's weights applied to whether it was
right under each corruption and severity); the mCA is the mean of those scores, and its
interval the percentile bootstrap over images (2,000 resamples, seeded). That keeps the
correlation between corruptions of one image, which a binomial interval would ignore.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from asl_recog._errors import ConfigurationError
from asl_recog.data._dataset import SignMnistDataset
from asl_recog.data._labels import labels_to_indices
from asl_recog.evaluation._corruptions import Corruption, corrupt, select
from asl_recog.models._base import Model
from asl_recog.models._unknown import UNKNOWN_THRESHOLD_KEY

BOOTSTRAP_RESAMPLES = 2000


@dataclass
class RobustnessResult:
    """What :meth:`CorruptionSuite.evaluate` measured for one model.

    Attributes:
        table: one row per corruption and severity: ``corruption``, ``family``, ``severity``,
            ``level`` (e.g. ``"rotate 20 deg"``), ``accuracy`` ("unknown" counts as wrong),
            and with a threshold ``answered`` (the share not refused) and ``accuracy_answered``.
        clean_accuracy: accuracy on the same images unchanged (also "unknown" as wrong).
        mca: the mean corruption accuracy; ``mca_ci`` its 95 % bootstrap interval.
        n_images: how many test images each corruption was applied to.
        threshold: the "unknown" threshold applied, or None.

    Example:
        >>> from asl_recog.evaluation import CorruptionSuite
        >>> result = CorruptionSuite(["mirror", "jpeg"], max_images=20).evaluate(asl.Model.load("runs/best.onnx"), test)
        >>> list(result.per_family.index), sorted(result.as_dict())[:3]
        (['geometry', 'digital'], ['clean_accuracy', 'mca', 'mca_ci'])
    """

    table: pd.DataFrame
    clean_accuracy: float
    mca: float
    mca_ci: tuple[float, float]
    n_images: int
    seed: int
    threshold: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def per_corruption(self) -> pd.Series:
        """Each corruption's mean accuracy over its severities, in the suite's order."""
        return self.table.groupby("corruption", sort=False)["accuracy"].mean()

    @property
    def per_family(self) -> pd.Series:
        """Each family's mean over its corruptions (each corruption weighing the same)."""
        families = self.table.drop_duplicates("corruption").set_index("corruption")["family"]
        return self.per_corruption.groupby(families, sort=False).mean()

    @property
    def middle(self) -> pd.Series:
        """Each corruption's accuracy at its middle severity (2 of 3; a one-level change at its level)."""
        middle = {}
        for name, rows in self.table.groupby("corruption", sort=False):
            middle[name] = float(rows.loc[rows["severity"] == (rows["severity"].max() + 1) // 2, "accuracy"].iloc[0])
        return pd.Series(middle, name="accuracy")

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON values, as ``summary.json`` carries them."""
        return {
            "mca": round(self.mca, 4),
            "mca_ci": [round(self.mca_ci[0], 4), round(self.mca_ci[1], 4)],
            "clean_accuracy": round(self.clean_accuracy, 4),
            "n_images": self.n_images,
            "seed": self.seed,
            "threshold": self.threshold,
            "per_family": {k: round(float(v), 4) for k, v in self.per_family.items()},
            "per_corruption": {k: round(float(v), 4) for k, v in self.per_corruption.items()},
        }

    def __repr__(self) -> str:
        return (
            f"RobustnessResult(mca={self.mca:.4f}, mca_ci=({self.mca_ci[0]:.4f}, {self.mca_ci[1]:.4f}), "
            f"clean_accuracy={self.clean_accuracy:.4f}, n_images={self.n_images})"
        )


class CorruptionSuite:
    """The corruption benchmark: which corruptions, on how many test images, with which seed.

    Args:
        corruptions: names from :data:`asl_recog.evaluation.CORRUPTIONS`; None for all of them.
        max_images: evaluate on a fixed random subsample of this many test images
            (drawn with ``seed``; all of them when the set is smaller). None uses every image.
        seed: the subsample's and every corruption's random draws.

    Example:
        >>> from asl_recog.evaluation import CorruptionSuite
        >>> suite = CorruptionSuite(["mirror", "rotate"], max_images=40)
        >>> suite
        CorruptionSuite(corruptions=['mirror', 'rotate'], max_images=40, seed=0)
        >>> model = asl.Model.load("runs/best.onnx")  # a model fitted on a tiny sample here
        >>> result = suite.evaluate(model, test)  # test: load_sign_mnist("test")
        >>> list(result.table["level"])
        ['mirror', 'rotate 10 deg', 'rotate 20 deg', 'rotate 30 deg']
        >>> 0 <= result.mca_ci[0] <= result.mca <= result.mca_ci[1] <= 1
        True
    """

    def __init__(
        self, corruptions: Sequence[str] | None = None, *, max_images: int | None = 1000, seed: int = 0
    ) -> None:
        self._selected: list[Corruption] = select(corruptions)
        self.corruptions = None if corruptions is None else [c.name for c in self._selected]
        if max_images is not None and (not isinstance(max_images, int) or max_images < 1):
            raise ConfigurationError(f"max_images must be a positive integer or None, got {max_images!r}")
        if not isinstance(seed, int):
            raise ConfigurationError(f"seed must be an integer, got {seed!r}")
        self.max_images, self.seed = max_images, seed

    def __repr__(self) -> str:
        return f"CorruptionSuite(corruptions={self.corruptions!r}, max_images={self.max_images!r}, seed={self.seed!r})"

    def sample(self, test: SignMnistDataset) -> SignMnistDataset:
        """The fixed subsample of ``test`` this suite evaluates on (in the file's order)."""
        if self.max_images is None or len(test) <= self.max_images:
            return test
        chosen = np.random.default_rng([self.seed, 1000]).choice(len(test), self.max_images, replace=False)
        return test[np.sort(chosen)]

    def evaluate(self, model: Model, test: SignMnistDataset, threshold: float | None = None) -> RobustnessResult:
        """Accuracy of ``model`` on every corruption and severity of the suite.

        Args:
            model: any fitted :class:`asl_recog.Model`.
            test: the held-out test set (only the Comparator and benchmarks pass it).
            threshold: answers whose highest probability is below it are "unknown",
                and count as wrong; None answers every image.
        """
        if threshold is not None and not (isinstance(threshold, (int, float)) and 0 <= threshold <= 1):
            raise ConfigurationError(f"threshold must be a probability in [0, 1] or None, got {threshold!r}")
        data = self.sample(test)
        truth = labels_to_indices(data.labels)

        def judge(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            proba = np.asarray(model.predict_proba(images), dtype=np.float64)
            answered = proba.max(axis=1) >= (threshold if threshold is not None else -math.inf)
            return (proba.argmax(axis=1) == truth) & answered, answered

        clean, _ = judge(data.images)
        rows: list[dict[str, Any]] = []
        per_image = np.zeros(len(data))
        for corruption in self._selected:
            for severity in corruption.severities:
                right, answered = judge(corrupt(data.images, corruption.name, severity, self.seed))
                # mCA's weights: 1/C per corruption, split evenly over its severities.
                per_image += right / (len(self._selected) * len(corruption.severities))
                row: dict[str, Any] = {
                    "corruption": corruption.name,
                    "family": corruption.family,
                    "severity": severity,
                    "level": corruption.label(severity),
                    "accuracy": float(right.mean()),
                }
                if threshold is not None:
                    row["answered"] = float(answered.mean())
                    row["accuracy_answered"] = float(right[answered].mean()) if answered.any() else math.nan
                rows.append(row)
        return RobustnessResult(
            table=pd.DataFrame(rows),
            clean_accuracy=float(clean.mean()),
            mca=float(per_image.mean()),
            mca_ci=bootstrap_ci(per_image, self.seed),
            n_images=len(data),
            seed=self.seed,
            threshold=None if threshold is None else float(threshold),
        )


def bootstrap_ci(scores: np.ndarray, seed: int = 0, confidence: float = 0.95) -> tuple[float, float]:
    """The percentile bootstrap interval of the mean of per-image ``scores``.

    Example:
        >>> low, high = bootstrap_ci(np.r_[np.ones(90), np.zeros(10)])
        >>> round(low, 2), round(high, 2)
        (0.84, 0.95)
    """
    scores = np.asarray(scores, dtype=np.float64)
    rng = np.random.default_rng([seed, 2000])
    means = scores[rng.integers(0, len(scores), (BOOTSTRAP_RESAMPLES, len(scores)))].mean(axis=1)
    tail = (1 - confidence) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def suite_from(corruptions: CorruptionSuite | Sequence[str] | bool | None) -> CorruptionSuite | None:
    """The suite that ``Comparator.evaluate(corruptions=...)`` means: None/False none, True the whole suite."""
    if corruptions is None or corruptions is False:
        return None
    if corruptions is True:
        return CorruptionSuite()
    if isinstance(corruptions, CorruptionSuite):
        return corruptions
    if isinstance(corruptions, (list, tuple)):
        return CorruptionSuite(list(corruptions))
    raise ConfigurationError(
        f"corruptions must be True, a list of corruption names or a CorruptionSuite; got {corruptions!r}"
    )


def unknown_threshold(model: Model) -> float | None:
    """The "unknown" threshold stored in a model's ONNX metadata, or None (a model without one answers all)."""
    value: Any = getattr(model, "metadata", {}).get(UNKNOWN_THRESHOLD_KEY)
    try:
        threshold = float(value)
    except (TypeError, ValueError):
        return None
    return threshold if 0 <= threshold <= 1 else None


def mca_columns(robustness: dict[str, RobustnessResult]) -> dict[str, dict[str, float]]:
    """The summary's ``mca``, ``mca_ci_low`` and ``mca_ci_high`` columns (none without results)."""
    if not robustness:
        return {}
    return {
        "mca": {n: r.mca for n, r in robustness.items()},
        "mca_ci_low": {n: r.mca_ci[0] for n, r in robustness.items()},
        "mca_ci_high": {n: r.mca_ci[1] for n, r in robustness.items()},
    }


def robustness_frame(results: dict[str, RobustnessResult]) -> pd.DataFrame:
    """Models x corruptions (mean over severities), with ``clean`` first and ``mCA`` last: the report's table."""
    frame = pd.DataFrame({name: r.per_corruption for name, r in results.items()}).T
    frame.insert(0, "clean", [r.clean_accuracy for r in results.values()])
    frame["mCA"] = [r.mca for r in results.values()]
    return frame


__all__ = [
    "CorruptionSuite",
    "RobustnessResult",
    "bootstrap_ci",
    "mca_columns",
    "robustness_frame",
    "suite_from",
    "unknown_threshold",
]
