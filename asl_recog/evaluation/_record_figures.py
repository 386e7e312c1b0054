"""A run record completed with what a comparison measured on the held-out test file."""

from __future__ import annotations

import dataclasses
from typing import Any

from asl_recog.evaluation._comparison import ComparisonResult
from asl_recog.models._record import RunRecord, data_source, finite


def with_test_figures(record: RunRecord, comparison: ComparisonResult, name: str) -> RunRecord:
    """``record`` with model ``name``'s test figures from ``comparison``: accuracy and its interval,
    macro F1, p50 latency, and the corruption-suite and photo figures when the comparison has them.

    Figures the comparison did not measure (latency with ``measure_speed=False``, robustness
    without ``corruptions``) stay None.

    Raises:
        KeyError: ``name`` is not one of the compared models.

    Example:
        >>> result = Comparator({"knn": "runs/best.onnx"}, latency_repeats=5).evaluate(test)
        >>> record = with_test_figures(RunRecord.from_onnx("runs/best.onnx"), result, "knn")
        >>> record.test_rows, record.test_accuracy == float(result.summary.loc["knn", "accuracy"]), record.mca
        (50, True, None)
    """
    row = comparison.summary.loc[name]
    figures: dict[str, Any] = {
        "test_source": data_source(comparison.test_source),
        "test_rows": int(comparison.n_test),
        "test_accuracy": finite(row["accuracy"]),
        "test_accuracy_ci": _pair(row.get("accuracy_ci_low"), row.get("accuracy_ci_high")),
        "test_macro_f1": finite(row.get("macro_f1")),
        "latency_p50_ms": finite(row.get("latency_p50_ms")),
    }
    robustness = comparison.robustness.get(name)
    if robustness is not None:
        figures["mca"] = finite(robustness.mca)
        figures["mca_ci"] = _pair(*robustness.mca_ci)
        figures["weakest_corruptions"] = {str(k): float(v) for k, v in robustness.per_corruption.nsmallest(3).items()}
    photos = comparison.photos.get(name)
    if photos:
        figures["photos_top1"] = {str(k): float(r.top1) for k, r in photos.items()}
    return dataclasses.replace(record, **figures)


def _pair(low: Any, high: Any) -> list[float] | None:
    low, high = finite(low), finite(high)
    return None if low is None or high is None else [low, high]


__all__ = ["with_test_figures"]
