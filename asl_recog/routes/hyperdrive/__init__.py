"""The HyperDrive route: a Keras CNN tuned with Azure HyperDrive's sampling, policies and limits."""

from __future__ import annotations

from asl_recog.routes.hyperdrive._route import HYPERDRIVE
from asl_recog.routes.hyperdrive._trainer import HyperDriveTrainer

__all__ = ["HYPERDRIVE", "HyperDriveTrainer"]
