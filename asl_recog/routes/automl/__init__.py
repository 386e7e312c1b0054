"""The AutoML route: model choice and hyperparameters searched together, as Azure Automated ML does."""

from __future__ import annotations

from asl_recog.routes.automl._route import AUTOML
from asl_recog.routes.automl._trainer import AutoMLTrainer

__all__ = ["AUTOML", "AutoMLTrainer"]
