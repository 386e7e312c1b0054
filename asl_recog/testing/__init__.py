"""Conformance checks for trainers and backends, as scikit-learn's ``check_estimator`` does.

A trainer of your own, or a backend that runs the searches somewhere new, passes when it
returns what the rest of the library relies on: a :class:`~asl_recog.TrainingResult` with a
loadable best model, the shared leaderboard schema, letters among the 24, a refit on all the
data, a seeded repeat, and the test file never opened.

Example:
    >>> from asl_recog.testing import CHECK_NAMES, check_backend, check_trainer
    >>> len(CHECK_NAMES), CHECK_NAMES[:2]  # check_trainer(trainer) runs them all; see its example
    (11, ('check_get_params_round_trip', 'check_clone'))
"""

from __future__ import annotations

from asl_recog.testing._checks import CHECK_NAMES
from asl_recog.testing._runner import check_backend, check_trainer

__all__ = ["check_trainer", "check_backend", "CHECK_NAMES"]
