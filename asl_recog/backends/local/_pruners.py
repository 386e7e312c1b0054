"""Azure ML HyperDrive's early-termination policies as Optuna pruners.

A trial reports its primary metric once per interval (an epoch), at steps
1, 2, 3, ... A policy is applied at step ``s`` when ``s >= delay_evaluation``
and ``s % evaluation_interval == 0`` (Azure: "the policy applies every multiple of
evaluation_interval that is greater than or equal to delay_evaluation"). The
rules, as Azure ML's documentation states them:

* Bandit: cancel a run whose best metric so far is not within the slack of the
  best run at that interval. Maximising with ``slack_factor`` s: cancel when
  ``Y * (1 + s) < best`` (the documented example: s = 0.2, best AUC 0.8, cancel
  when Y + 0.2 Y < 0.8); minimising, when ``Y / (1 + s) > best``. With
  ``slack_amount`` a: cancel when ``Y < best - a`` (``Y > best + a`` minimising).
* Median stopping: cancel a run at interval N when its best metric up to N is
  worse than the median of the running averages over intervals 1..N of all runs.
* Truncation selection: at each evaluated interval N, cancel the run if it is in
  the lowest ``truncation_percentage`` % of runs ranked by their metric at N
  (older runs are compared by their value at N, so young runs are not penalised
  for being young); ``exclude_finished_jobs`` leaves completed runs out.

Optuna's own pruners are not used because none matches these rules exactly
(tests/test_policies.py shows each difference on curves): ``MedianPruner``
compares the run's best value with the median of the *completed* trials' values
*at the step*, where Azure takes the median of the *running averages* of *all*
runs; ``PercentilePruner`` compares the run's *best* value so far with a
percentile of completed trials, where truncation selection ranks the run's value
*at* the interval among all runs and cuts a whole number of them. Each pruner
reads the trials from the study's storage, so in a search with several workers it
compares the run with the runs of every worker.

The rung policies (successive halving, Hyperband) are the opposite case: Optuna's
pruners are those algorithms, so they are used as they are (``_rung_pruners``).
"""

from __future__ import annotations

import math
import statistics
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from asl_recog.backends.local._rung_pruners import make_rung_pruner
from asl_recog.search._rungs import RungPolicy
from asl_recog.search._space import (
    BanditPolicy,
    EarlyTerminationPolicy,
    MedianStoppingPolicy,
    NoTerminationPolicy,
    PrimaryMetricGoal,
    TruncationSelectionPolicy,
)

_COMPARED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)


def _value_at(trial: FrozenTrial, step: int) -> float | None:
    """The trial's metric at ``step``, or at its last step before it; None if it reported nothing yet."""
    steps = [s for s in trial.intermediate_values if s <= step]
    return trial.intermediate_values[max(steps)] if steps else None


def _values_up_to(trial: FrozenTrial, step: int) -> list[float]:
    return [v for s, v in sorted(trial.intermediate_values.items()) if s <= step and math.isfinite(v)]


class _PolicyPruner(optuna.pruners.BasePruner):
    """Shared plumbing: the evaluation schedule and the goal."""

    def __init__(self, policy: EarlyTerminationPolicy, goal: PrimaryMetricGoal | str) -> None:
        self.policy = policy
        self.maximize = PrimaryMetricGoal(getattr(goal, "value", goal)) == PrimaryMetricGoal.MAXIMIZE

    def _best(self, values: list[float]) -> float:
        return max(values) if self.maximize else min(values)

    def _worse(self, a: float, b: float) -> bool:
        return a < b if self.maximize else a > b

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or not self.policy.is_evaluation_step(step):
            return False
        if not math.isfinite(trial.intermediate_values[step]):
            return True  # a NaN/inf metric cannot recover: stop the run
        others = [t for t in study.get_trials(deepcopy=False, states=_COMPARED) if t.number != trial.number]
        return self._decide(trial, others, step)

    def _decide(self, trial: FrozenTrial, others: list[FrozenTrial], step: int) -> bool:  # pragma: no cover
        raise NotImplementedError


class BanditPruner(_PolicyPruner):
    """:class:`~asl_recog.BanditPolicy` for Optuna.

    Example:
        >>> pruner = BanditPruner(BanditPolicy(slack_factor=0.2), "maximize")
    """

    policy: BanditPolicy

    def _decide(self, trial: FrozenTrial, others: list[FrozenTrial], step: int) -> bool:
        mine = self._best(_values_up_to(trial, step))
        bests = [self._best(v) for t in others if (v := _values_up_to(t, step))]
        if not bests:
            return False
        best = self._best([*bests, mine])
        if self.policy.slack_factor is not None:
            factor = 1.0 + self.policy.slack_factor
            return mine * factor < best if self.maximize else mine / factor > best
        amount = self.policy.slack_amount or 0.0
        return mine < best - amount if self.maximize else mine > best + amount


class MedianStoppingPruner(_PolicyPruner):
    """:class:`~asl_recog.MedianStoppingPolicy` for Optuna.

    Example:
        >>> pruner = MedianStoppingPruner(MedianStoppingPolicy(delay_evaluation=5), "maximize")
    """

    def _decide(self, trial: FrozenTrial, others: list[FrozenTrial], step: int) -> bool:
        mine = _values_up_to(trial, step)
        averages = [statistics.fmean(v) for t in (*others, trial) if (v := _values_up_to(t, step))]
        if len(averages) < 2:
            return False  # alone, a run has nothing to be compared with
        return self._worse(self._best(mine), statistics.median(averages))


class TruncationSelectionPruner(_PolicyPruner):
    """:class:`~asl_recog.TruncationSelectionPolicy` for Optuna.

    Example:
        >>> pruner = TruncationSelectionPruner(TruncationSelectionPolicy(truncation_percentage=20), "maximize")
    """

    policy: TruncationSelectionPolicy

    def _decide(self, trial: FrozenTrial, others: list[FrozenTrial], step: int) -> bool:
        if self.policy.exclude_finished_jobs:
            others = [t for t in others if t.state != TrialState.COMPLETE]
        ranked = [(v, t.number) for t in (*others, trial) if (v := _value_at(t, step)) is not None and math.isfinite(v)]
        cut = math.floor(len(ranked) * self.policy.truncation_percentage / 100)
        if cut < 1:
            return False
        # Worst first; among equal values the later trial counts as worse (older runs keep their place).
        ranked.sort(key=lambda item: (item[0] if self.maximize else -item[0], -item[1]))
        return trial.number in {number for _, number in ranked[:cut]}


def make_pruner(
    policy: EarlyTerminationPolicy | None, goal: PrimaryMetricGoal | str, max_epochs: int | None = None
) -> optuna.pruners.BasePruner:
    """The Optuna pruner for a policy (``NopPruner`` for None or NoTerminationPolicy).

    The rung policies become Optuna's own pruners (``_rung_pruners``), which read the goal
    from the study; ``max_epochs``, the most epochs a trial runs (None: unknown), resolves
    ``HyperbandPolicy(max_resource="auto")``.
    """
    if policy is None or isinstance(policy, NoTerminationPolicy):
        return optuna.pruners.NopPruner()
    if isinstance(policy, RungPolicy):
        return make_rung_pruner(policy, max_epochs)
    pruners: dict[type, Any] = {
        BanditPolicy: BanditPruner,
        MedianStoppingPolicy: MedianStoppingPruner,
        TruncationSelectionPolicy: TruncationSelectionPruner,
    }
    return pruners[type(policy)](policy, goal)


__all__ = ["BanditPruner", "MedianStoppingPruner", "TruncationSelectionPruner", "make_pruner"]
