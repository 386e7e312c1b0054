"""How a :class:`~asl_recog.ComparisonResult` looks in a notebook: HTML, a confusion matrix, the robustness map.

Figures are ``matplotlib.figure.Figure`` objects built without pyplot, so nothing is shown or
saved by itself; the robustness heat map is the very drawing the report writes
(:func:`asl_recog.evaluation._report.robustness_figure`).
"""

from __future__ import annotations

import html
from typing import Any

from asl_recog._errors import ConfigurationError
from asl_recog.data._labels import LETTERS
from asl_recog.evaluation._report import Comparison, _table, robustness_figure
from asl_recog.evaluation._robustness import RobustnessResult, robustness_frame


def comparison_html(result: Comparison) -> str:
    """The verdict, then the headline table (the report's columns), as HTML."""
    table = _table(result).to_html(float_format=lambda v: f"{v:.4g}", na_rep="-")
    return (
        "<div><strong>ComparisonResult</strong>"
        f"<p>{html.escape(result.verdict)}</p>{table}"
        f"<p><small>{result.n_test} test images from {html.escape(result.test_source)}; "
        "all columns: <code>result.summary</code></small></p></div>"
    )


def confusion_figure(result: Comparison, name: str, normalize: str | None = "true") -> Any:
    """``name``'s confusion matrix on the test images, drawn by scikit-learn's ``ConfusionMatrixDisplay``.

    Args:
        result: the comparison.
        name: one of the compared models.
        normalize: ``"true"`` (each row: where that letter's images went; default), ``"pred"``,
            ``"all"``, or None for counts.

    Raises:
        ConfigurationError: ``name`` is not one of the compared models.
    """
    from matplotlib.figure import Figure
    from sklearn.metrics import ConfusionMatrixDisplay

    if name not in result.confusion:
        raise ConfigurationError(f"no model named {name!r} in this comparison; its models: {list(result.confusion)}")
    counts = result.confusion[name].astype(float)
    if normalize is not None:  # the display draws a given matrix as is: normalised as confusion_matrix would
        axis = {"true": 1, "pred": 0}.get(normalize)
        totals = counts.sum() if axis is None else counts.sum(axis=axis, keepdims=True)
        counts = counts / (totals if axis is None else totals.clip(min=1))
    fig = Figure(figsize=(8.0, 7.0))
    ax = fig.subplots()
    ConfusionMatrixDisplay(counts, display_labels=list(LETTERS)).plot(
        ax=ax, cmap="Blues", include_values=False, colorbar=True
    )
    accuracy = float(result.summary["accuracy"].astype(float)[name])
    ax.set_title(f"{name}: confusion matrix (accuracy {accuracy:.3f})")
    ax.set_xlabel("predicted letter")
    ax.set_ylabel("true letter")
    fig.tight_layout()
    return fig


def robustness_plot(robustness: dict[str, RobustnessResult]) -> Any:
    """The report's robustness heat map (corruptions down, models across) as a figure.

    Raises:
        ConfigurationError: the comparison measured no robustness.
    """
    if not robustness:
        raise ConfigurationError("this comparison has no robustness results; pass corruptions= to evaluate")
    return robustness_figure(robustness_frame(robustness).T)


__all__ = ["comparison_html", "confusion_figure", "robustness_plot"]
