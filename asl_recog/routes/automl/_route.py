"""The AutoML route as backends see it."""

from __future__ import annotations

from asl_recog.routes._route import Route
from asl_recog.routes.automl._refit import refit_automl
from asl_recog.routes.automl._search import local_plan

AUTOML = Route(name="automl", title="AutoML", azure_job="automl", local_plan=local_plan, refit=refit_automl)

__all__ = ["AUTOML"]
