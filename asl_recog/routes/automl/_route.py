"""The AutoML route as backends see it."""

from __future__ import annotations

from asl_recog.routes._route import Route
from asl_recog.routes.automl._portfolio import ALGORITHMS
from asl_recog.routes.automl._refit import refit_automl
from asl_recog.routes.automl._search import local_plan

AUTOML = Route(
    name="automl",
    title="AutoML",
    azure_job="automl",
    local_plan=local_plan,
    refit=refit_automl,
    # Identical in SDK v1's SupportedModels and v2's ClassificationModels.
    azure_names={name: spec.azure_name for name, spec in ALGORITHMS.items() if spec.azure_name is not None},
)

__all__ = ["AUTOML"]
