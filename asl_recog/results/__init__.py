"""What a search leaves behind, for every route and backend alike.

One :class:`TrainingResult`, one leaderboard schema with one status vocabulary
(:class:`TrialStatus`), one rule for the best trial and for the refit's epoch
count, and the run directory. Routes and backends both build on this package,
which imports neither of them.
"""

from __future__ import annotations

from asl_recog.results._leaderboard import LEADERBOARD_COLUMNS, TrialStatus, best_epoch, make_leaderboard
from asl_recog.results._result import TrainingResult

__all__ = ["LEADERBOARD_COLUMNS", "TrainingResult", "TrialStatus", "best_epoch", "make_leaderboard"]
