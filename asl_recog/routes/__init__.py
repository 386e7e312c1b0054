"""How a search runs: the Trainer contract, the Route object, and the AutoML and HyperDrive routes."""

from __future__ import annotations

from asl_recog.routes._route import Route
from asl_recog.routes._trainer import Trainer
from asl_recog.routes.automl import AutoMLTrainer
from asl_recog.routes.hyperdrive import HyperDriveTrainer

__all__ = ["AutoMLTrainer", "HyperDriveTrainer", "Route", "Trainer"]
