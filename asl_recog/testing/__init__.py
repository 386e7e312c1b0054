"""Conformance checks for trainers and backends, as scikit-learn's ``check_estimator`` does.

A trainer of your own, or a backend that runs the searches somewhere new, passes when it
returns what the rest of the library relies on: a :class:`~asl_recog.TrainingResult` with a
loadable best model, the shared leaderboard schema, letters among the 24, a refit on all the
data, a seeded repeat, and the test file never opened.

Example:
    >>> from asl_recog.testing import check_backend, check_trainer
    >>> tiny = {"hidden": 16, "batch_size": 64, "epochs": 1, "dropout": 0.1}
    >>> trainer = HyperDriveTrainer(builder="seed", fixed_params=tiny, max_total_runs=1, progress=False)
    >>> check_trainer(trainer)
"""

from __future__ import annotations

from asl_recog.testing._checks import CHECK_NAMES
from asl_recog.testing._runner import check_backend, check_trainer

__all__ = ["check_trainer", "check_backend", "CHECK_NAMES"]
