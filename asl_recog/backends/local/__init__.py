"""The local backend: Optuna studies, a trial scheduler with worker processes, progress output."""

from __future__ import annotations

from asl_recog.backends.local._backend import LocalBackend
from asl_recog.backends.local._plan import LocalPlan

__all__ = ["LocalBackend", "LocalPlan"]
