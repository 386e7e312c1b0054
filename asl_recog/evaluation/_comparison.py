"""What :meth:`asl_recog.Comparator.evaluate` returns: the ranked summary and everything behind it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from asl_recog.evaluation._comparison_view import comparison_html, confusion_figure, robustness_plot
from asl_recog.evaluation._photos import PhotoResult
from asl_recog.evaluation._report import write_report
from asl_recog.evaluation._robustness import RobustnessResult
from asl_recog.evaluation._stats import CI_DESCRIPTION, McNemarResult
from asl_recog.models._base import Model

TIE_BREAK = "ties on the primary metric go to the smaller model on disk, then to the lower single-image p50 latency"


@dataclass
class ComparisonResult:
    """What :meth:`Comparator.evaluate` found.

    Attributes:
        summary: one row per model, best first: metrics with the accuracy
            interval, size, training time, validation-vs-test gap and flag,
            latency and throughput, and which runtime was timed.
        best: the winner's name; ``best_model`` the model itself.
        mcnemar: McNemar's exact test of the top two (``None`` with one model).
        per_letter_recall: letters x models.
        confusion: name -> 24x24 counts (rows true letter, columns predicted).
        robustness: name -> :class:`RobustnessResult` when ``evaluate`` was given
            ``corruptions`` (the summary then has ``mca``, ``mca_ci_low`` and ``mca_ci_high``).
        photos: model name -> photo-set name -> :class:`~asl_recog.evaluation.PhotoResult` when
            ``evaluate`` was given ``photos`` (the summary then has ``<set>_top1`` and ``<set>_top3``).

    Example:
        >>> knn = Model.load("runs/best.onnx")  # models or their files; here two tiny ones
        >>> result = Comparator({"knn": knn, "cnn": "runs/best.keras"}, latency_repeats=5).evaluate(test)
        >>> result.best, result.mcnemar.significant  # on 50 test images; load_sign_mnist("test") for all
        ('knn', True)
        >>> result.report("reports/compare")
        PosixPath('reports/compare')
        >>> result.plot_confusion("knn")  # a matplotlib Figure, drawn by scikit-learn's ConfusionMatrixDisplay
        <Figure size 800x700 with 2 Axes>

    In a notebook the result displays as HTML: the verdict and the headline table.
    """

    summary: pd.DataFrame
    best: str
    best_model: Model
    mcnemar: McNemarResult | None
    primary_metric: str
    per_letter_recall: pd.DataFrame
    confusion: dict[str, np.ndarray]
    predictions: dict[str, np.ndarray]
    n_test: int
    test_source: str
    notes: list[str] = field(default_factory=list)
    robustness: dict[str, RobustnessResult] = field(default_factory=dict)
    photos: dict[str, dict[str, PhotoResult]] = field(default_factory=dict)
    ci_method: str = CI_DESCRIPTION
    tie_break: str = TIE_BREAK

    @property
    def verdict(self) -> str:
        """The winner and whether the lead over the runner-up is significant, in plain words."""
        row = self.summary.loc[self.best]
        interval = f"95% CI {row['accuracy_ci_low']:.4f}-{row['accuracy_ci_high']:.4f}"
        if "photos" in row.index:  # the images are copies of fewer photos: the wider interval is theirs
            interval += (
                f"; {int(row['photos_misread'])} of {int(row['photos'])} source photos misread, 95% CI over "
                f"photos {row['photo_accuracy_ci_low']:.4f}-{row['photo_accuracy_ci_high']:.4f}"
            )
        if self.primary_metric == "accuracy":  # said once, with its interval
            text = f"Best by accuracy: {self.best} (accuracy {row['accuracy']:.4f}, {interval})."
        else:
            text = (
                f"Best by {self.primary_metric}: {self.best} ({self.primary_metric} {row[self.primary_metric]:.4f}; "
                f"accuracy {row['accuracy']:.4f}, {interval})."
            )
        if self.mcnemar is not None:
            text += " " + self.mcnemar.statement
        return text

    def report(self, path: str | os.PathLike[str], about: dict[str, str] | None = None) -> Path:
        """Write ``report.md``, ``report.html`` and PNG plots into the folder ``path``; return the folder.

        The report names the asl_recog version; ``about`` adds more of what produced the models
        (``asl-recog run`` gives its settings and their SHA-256).
        """
        return write_report(self, Path(path), about)

    def plot_confusion(self, name: str, normalize: str | None = "true") -> Any:
        """Model ``name``'s confusion matrix on the test images (rows: true letter) as a matplotlib ``Figure``.

        ``normalize`` is ``"true"`` (row shares; default), ``"pred"``, ``"all"`` or None (counts).
        Nothing is shown or saved: a notebook displays the figure, ``fig.savefig(path)`` writes it.

        Raises:
            ConfigurationError: ``name`` is not one of the compared models.
        """
        return confusion_figure(self, name, normalize)

    def plot_robustness(self) -> Any:
        """The robustness heat map (accuracy per corruption and model) as a matplotlib ``Figure``.

        Raises:
            ConfigurationError: ``evaluate`` was not given ``corruptions``.
        """
        return robustness_plot(self.robustness)

    def _repr_html_(self) -> str:
        """Jupyter's view: the verdict and the headline table."""
        return comparison_html(self)

    def __repr__(self) -> str:
        score = float(self.summary[self.primary_metric].astype(float)[self.best])
        return (
            f"ComparisonResult(best={self.best!r}, {self.primary_metric}={score:.4f}, "
            f"models={list(self.summary.index)}, n_test={self.n_test})"
        )


__all__ = ["TIE_BREAK", "ComparisonResult"]
