"""Experiment tracking and the model registry, in MLflow (extra ``mlflow``).

Off by default: ``tracking_uri=`` on a trainer (``asl-recog run --tracking-uri URI``)
turns it on. A tracked local search is one parent run in the experiment
``$MLFLOW_EXPERIMENT_NAME`` (default ``asl-recog``) with a nested run per trial and one
for the refit; the comparison on the test file is logged to the parent. See
``docs/tracking.md``.
"""

from __future__ import annotations

from asl_recog.tracking._client import DEFAULT_EXPERIMENT, check_run_id, check_tracking_uri
from asl_recog.tracking._comparison import comparison_figures, log_comparison
from asl_recog.tracking._registry import Registration, register_model

__all__ = [
    "DEFAULT_EXPERIMENT",
    "Registration",
    "check_run_id",
    "check_tracking_uri",
    "comparison_figures",
    "log_comparison",
    "register_model",
]
