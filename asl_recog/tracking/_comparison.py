"""The Comparator's verdict in MLflow: each tracked search's parent run gets its model's test figures.

The comparison is made after the searches (it alone reads the test file), so it is logged
to runs that already ended; MLflow accepts metrics on a finished run. Each model's figures go
to the parent run of the search that trained it; the report's files (Markdown, HTML, plots)
go to each of those runs as artifacts under ``comparison/``.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from typing import Any

from asl_recog.tracking._search import SearchRun, log_artifact, log_to_parent

logger = logging.getLogger("asl_recog")


def comparison_figures(comparison: Any, name: str) -> dict[str, float]:
    """The test figures of model ``name``, as MLflow metrics: ``test_<column>``, robustness, photo sets.

    Every finite number of its summary row (accuracy and its CI, macro F1, p50 latency, size, ...),
    ``test_mca`` and ``test_mca_ci_low``/``_high`` when corruptions were evaluated, and
    ``photos_<set>_top1``/``_top3`` per photo set.
    """
    figures: dict[str, float] = {}
    for column, value in comparison.summary.loc[name].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            figures[f"test_{column}"] = float(value)
    robustness = (getattr(comparison, "robustness", None) or {}).get(name)
    if robustness is not None:
        figures["test_mca"] = float(robustness.mca)
        figures["test_mca_ci_low"], figures["test_mca_ci_high"] = (float(v) for v in robustness.mca_ci)
    for photo_set, photos in ((getattr(comparison, "photos", None) or {}).get(name) or {}).items():
        figures[f"photos_{photo_set}_top1"] = float(photos.top1)
        figures[f"photos_{photo_set}_top3"] = float(photos.top3)
    return figures


def log_comparison(
    comparison: Any,
    results: Mapping[str, Any],
    report_dir: str | os.PathLike[str] | None = None,
    *,
    winner: str | None = None,
) -> int:
    """Log a comparison's figures to the parent run of each tracked search that trained one of its models.

    Args:
        comparison: what :meth:`Comparator.evaluate` returned.
        results: model name (as given to the Comparator) -> the :class:`TrainingResult` that produced it;
            results of untracked searches (no ``extras["mlflow"]``) are skipped.
        report_dir: the folder :func:`write_report` wrote, uploaded as the artifacts ``comparison/``.
        winner: the name in ``results`` that won (tagged ``comparison.winner``); default ``comparison.best``.
            Another file of the same model, compared as ``<name>-<variant>`` (the main job's
            ``hyperdrive-int8``), logs its figures to ``<name>``'s run as ``<variant>_test_...``.

    Returns:
        How many runs were logged to.

    Example:
        >>> from types import SimpleNamespace
        >>> untracked = SimpleNamespace(extras={})
        >>> log_comparison(comparison=None, results={"cnn": untracked})  # nothing tracked: nothing to do
        0
    """
    logged = 0
    for name, result in results.items():
        where = (getattr(result, "extras", None) or {}).get("mlflow")
        if not where:
            continue
        search = SearchRun(where["tracking_uri"], where["run_id"], where["experiment_id"], comparison.primary_metric)
        won = comparison.best if winner is None else winner
        tags = {"comparison.best": comparison.best, "comparison.winner": str(won == name).lower()}
        metrics = comparison_figures(comparison, name)
        for entry in (str(e) for e in comparison.summary.index):
            if entry.startswith(f"{name}-"):  # the same model in another format (int8)
                variant = entry[len(name) + 1 :]
                metrics.update({f"{variant}_{k}": v for k, v in comparison_figures(comparison, entry).items()})
        try:
            log_to_parent(search, metrics=metrics, tags=tags)
            if report_dir is not None:
                log_artifact(search, os.fspath(report_dir), "comparison")
        except Exception as exc:  # the comparison is written to disk either way; say what MLflow lacks
            logger.warning("tracking: the comparison was not logged to MLflow run %s (%s)", search.run_id, exc)
            continue
        logged += 1
    return logged


__all__ = ["comparison_figures", "log_comparison"]
