"""What a route hands the local backend: one search, described without naming the route.

A route turns its trainer's settings into a :class:`LocalPlan` (sampler, pruner,
trial runner, limits); :class:`~asl_recog.backends.local.LocalBackend` runs any
plan the same way, so a new route needs no change here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from asl_recog.backends.local._scheduler import Schedule
from asl_recog.search._space import PrimaryMetricGoal


@dataclass
class LocalPlan:
    """One local search, as the route wants it run.

    Attributes:
        schedule: the trials: proposer, runner, limits, concurrency (``on_update``
            is set by the backend, which owns the progress display).
        sampler: the Optuna sampler that proposes configurations.
        pruner: the Optuna pruner of the route's early-termination policy, if any.
        goal: whether the primary metric is maximised.
        metric: the primary metric's name.
        expected_trials: how many trials the progress display expects (None: as many as the time allows).
        initial: configurations to try first (Optuna's ``enqueue_trial``), skipped on resume.
        model_name: a trial's model name on the leaderboard.
        after_search: called with the study and run directory once the trials
            are done (the AutoML route adds its voting ensemble there).
        extras: facts recorded in ``TrainingResult.extras``.
    """

    schedule: Schedule
    sampler: optuna.samplers.BaseSampler
    metric: str
    expected_trials: int | None
    goal: PrimaryMetricGoal = PrimaryMetricGoal.MAXIMIZE
    pruner: optuna.pruners.BasePruner | None = None
    initial: Sequence[Mapping[str, Any]] = ()
    model_name: Callable[[optuna.trial.FrozenTrial], str] = lambda trial: "?"
    after_search: Callable[[optuna.Study, Path], None] | None = None
    extras: dict[str, Any] = field(default_factory=dict)


__all__ = ["LocalPlan"]
