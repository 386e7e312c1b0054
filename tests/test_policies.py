"""Early-termination policies on synthetic metric curves, checked against Azure ML's documented examples.

Sources (Azure ML docs): azureml.train.hyperdrive.BanditPolicy ("slack_factor = 0.2 and
evaluation_interval = 100 ... best AUC 0.8 ... compares (Y + Y * 0.2) to 0.8, and if smaller,
cancels the run"); "How to tune hyperparameters" (BanditPolicy(slack_factor=0.1,
evaluation_interval=1, delay_evaluation=5): "any run whose best metric is less than
1/(1+0.1), or 91%, of the best performing run will be terminated"; MedianStoppingPolicy(
evaluation_interval=1, delay_evaluation=5): "a run is stopped at interval 5 if its best primary
metric is worse than the median of the running averages over intervals 1:5 across all training
runs"; TruncationSelectionPolicy(evaluation_interval=1, truncation_percentage=20,
delay_evaluation=5): "a run terminates at interval 5 if its performance at interval 5 is in the
lowest 20% of performance of all runs at interval 5").
"""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState, create_trial

import asl_recog as asl
from asl_recog.backends.local._pruners import BanditPruner, MedianStoppingPruner, TruncationSelectionPruner, make_pruner

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _decide(
    pruner: optuna.pruners.BasePruner,
    others: list[dict[int, float]],
    mine: dict[int, float],
    direction: str = "maximize",
    finished: bool = True,
) -> bool:
    """Put ``others`` (step -> value curves) in a study, then ask whether the run ``mine`` is stopped."""
    study = optuna.create_study(direction=direction)
    for curve in others:
        state = TrialState.COMPLETE if finished else TrialState.PRUNED
        study.add_trial(
            create_trial(state=state, value=list(curve.values())[-1] if finished else None, intermediate_values=curve)
        )
    study.add_trial(create_trial(state=TrialState.PRUNED, intermediate_values=mine))
    return pruner.prune(study, study.get_trials()[-1])


def test_bandit_slack_factor_reference_example() -> None:
    # s = 0.2, interval 100, best run X has AUC 0.8 at interval 100.
    pruner = BanditPruner(asl.BanditPolicy(slack_factor=0.2, evaluation_interval=100), "maximize")
    best = {100: 0.8}
    assert _decide(pruner, [best], {100: 0.66})  # 0.66 + 0.132 = 0.792 < 0.8: cancelled
    assert not _decide(pruner, [best], {100: 0.67})  # 0.804 >= 0.8: goes on
    assert not _decide(pruner, [best], {50: 0.1})  # 50 is not a multiple of the interval


def test_bandit_delay_evaluation_postpones_the_first_check() -> None:
    pruner = BanditPruner(asl.BanditPolicy(slack_factor=0.2, evaluation_interval=100, delay_evaluation=200), "maximize")
    assert not _decide(pruner, [{100: 0.8}], {100: 0.1})
    assert _decide(pruner, [{100: 0.8, 200: 0.8}], {100: 0.1, 200: 0.1})


def test_bandit_how_to_example_91_percent() -> None:
    pruner = BanditPruner(asl.BanditPolicy(slack_factor=0.1, evaluation_interval=1, delay_evaluation=5), "maximize")
    best = {s: 0.9 for s in range(1, 6)}
    assert not _decide(pruner, [best], {s: 0.5 for s in range(1, 5)})  # before the delay: never
    assert _decide(pruner, [best], {s: 0.81 for s in range(1, 6)})  # 0.81 < 0.9 / 1.1 = 0.818
    assert not _decide(pruner, [best], {s: 0.82 for s in range(1, 6)})
    # the run's *best* metric so far is compared: an early high value protects it
    assert not _decide(pruner, [best], {1: 0.85, 2: 0.6, 3: 0.6, 4: 0.6, 5: 0.6})


def test_bandit_slack_amount_and_minimised_metrics() -> None:
    amount = BanditPruner(asl.BanditPolicy(slack_amount=0.2), "maximize")
    assert _decide(amount, [{1: 0.8}], {1: 0.59})
    assert not _decide(amount, [{1: 0.8}], {1: 0.61})
    # minimise: mirrored rules (cancel when Y / (1 + s) > best, or Y > best + a)
    factor = BanditPruner(asl.BanditPolicy(slack_factor=0.2), "minimize")
    assert _decide(factor, [{1: 0.5}], {1: 0.61}, direction="minimize")
    assert not _decide(factor, [{1: 0.5}], {1: 0.59}, direction="minimize")
    loss_amount = BanditPruner(asl.BanditPolicy(slack_amount=0.1), "minimize")
    assert _decide(loss_amount, [{1: 0.5}], {1: 0.61}, direction="minimize")
    assert not _decide(loss_amount, [{1: 0.5}], {1: 0.59}, direction="minimize")


def test_bandit_needs_another_run_and_spares_the_best() -> None:
    pruner = BanditPruner(asl.BanditPolicy(slack_factor=0.01), "maximize")
    assert not _decide(pruner, [], {1: 0.1})
    assert not _decide(pruner, [{1: 0.5}], {1: 0.9})


def test_median_stopping_reference_rule() -> None:
    pruner = MedianStoppingPruner(asl.MedianStoppingPolicy(evaluation_interval=1, delay_evaluation=5), "maximize")
    others = [
        {1: 0.2, 2: 0.4, 3: 0.6, 4: 0.8, 5: 1.0},  # running average over 1:5 = 0.6
        {1: 0.5, 2: 0.5, 3: 0.5, 4: 0.5, 5: 0.5},  # 0.5
        {1: 0.9, 2: 0.9, 3: 0.9, 4: 0.9, 5: 0.9},  # 0.9
    ]
    # with the run itself (average 0.45 / 0.53) the median of the four averages is 0.55 / 0.565
    assert _decide(pruner, others, {1: 0.45, 2: 0.45, 3: 0.45, 4: 0.45, 5: 0.45})  # best 0.45 < 0.55
    assert not _decide(pruner, others, {1: 0.1, 2: 0.6, 3: 0.65, 4: 0.7, 5: 0.6})  # best 0.7 > 0.565
    assert not _decide(pruner, others, {1: 0.1, 2: 0.1, 3: 0.1, 4: 0.1})  # interval 4 < delay


def test_median_stopping_minimise() -> None:
    pruner = MedianStoppingPruner(asl.MedianStoppingPolicy(), "minimize")
    others = [{1: 1.0, 2: 0.8}, {1: 0.9, 2: 0.7}]
    assert _decide(pruner, others, {1: 1.5, 2: 1.4}, direction="minimize")
    assert not _decide(pruner, others, {1: 0.8, 2: 0.6}, direction="minimize")


def test_truncation_cuts_the_lowest_percentage_at_the_interval() -> None:
    pruner = TruncationSelectionPruner(
        asl.TruncationSelectionPolicy(evaluation_interval=1, truncation_percentage=20, delay_evaluation=5), "maximize"
    )
    others = [{5: v} for v in (0.6, 0.7, 0.8, 0.9)]
    assert _decide(pruner, others, {5: 0.5}, finished=False)  # lowest of 5 runs = lowest 20 %
    assert not _decide(pruner, others, {5: 0.65}, finished=False)  # 0.6 is the lowest now
    assert not _decide(pruner, others, {4: 0.1}, finished=False)  # before the delay
    # with fewer than 5 runs, 20 % of them is less than one run: nobody is cut
    assert not _decide(pruner, others[:3], {5: 0.1}, finished=False)


def test_truncation_compares_young_runs_with_older_runs_at_the_same_interval() -> None:
    pruner = TruncationSelectionPruner(asl.TruncationSelectionPolicy(truncation_percentage=50), "maximize")
    # The older run ends at 0.95 but had 0.3 at interval 1: a young run with 0.5 at interval 1 is fine.
    assert not _decide(pruner, [{1: 0.3, 2: 0.6, 3: 0.95}], {1: 0.5}, finished=False)
    assert _decide(pruner, [{1: 0.3, 2: 0.6, 3: 0.95}], {1: 0.2}, finished=False)


def test_truncation_can_exclude_finished_jobs() -> None:
    policy = asl.TruncationSelectionPolicy(truncation_percentage=50, exclude_finished_jobs=True)
    pruner = TruncationSelectionPruner(policy, "maximize")
    # the only other run is finished, so the run is ranked alone and survives
    assert not _decide(pruner, [{1: 0.9}], {1: 0.1}, finished=True)
    assert _decide(pruner, [{1: 0.9}], {1: 0.1}, finished=False)


def test_make_pruner_maps_every_policy() -> None:
    assert isinstance(make_pruner(None, "maximize"), optuna.pruners.NopPruner)
    assert isinstance(make_pruner(asl.NoTerminationPolicy(), "maximize"), optuna.pruners.NopPruner)
    assert isinstance(make_pruner(asl.MedianStoppingPolicy(), "maximize"), MedianStoppingPruner)
    assert isinstance(make_pruner(asl.TruncationSelectionPolicy(), "minimize"), TruncationSelectionPruner)
    assert isinstance(make_pruner(asl.BanditPolicy(slack_amount=0.1), "maximize"), BanditPruner)


@pytest.mark.parametrize(
    "interval, delay, evaluated",
    [
        (1, 0, [1, 2, 3, 4]),
        (2, 0, [2, 4]),
        (1, 3, [3, 4]),
        (2, 3, [4]),
    ],
)
def test_evaluation_schedule(interval: int, delay: int, evaluated: list[int]) -> None:
    policy = asl.MedianStoppingPolicy(evaluation_interval=interval, delay_evaluation=delay)
    assert [s for s in range(1, 5) if policy.is_evaluation_step(s)] == evaluated


def test_optuna_median_pruner_is_not_azures_median_stopping() -> None:
    """Why MedianStoppingPruner is ours: Optuna's MedianPruner compares the run's best value with the median
    of the *completed* trials' values *at the step*; Azure's rule takes the median of the *running averages*
    over intervals 1..N of *all* runs. On these curves the two disagree."""
    others = [
        {1: 0.2, 2: 0.4, 3: 0.6, 4: 0.8, 5: 1.0},  # average 0.6, value at 5: 1.0
        {s: 0.5 for s in range(1, 6)},  # 0.5 / 0.5
        {s: 0.9 for s in range(1, 6)},  # 0.9 / 0.9
    ]
    mine = {s: 0.7 for s in range(1, 6)}  # average 0.7, best 0.7
    azure = MedianStoppingPruner(asl.MedianStoppingPolicy(evaluation_interval=1, delay_evaluation=5), "maximize")
    optuna_median = optuna.pruners.MedianPruner(n_startup_trials=0, n_warmup_steps=4, interval_steps=1)
    assert not _decide(azure, others, mine)  # 0.7 > median(0.6, 0.5, 0.9, 0.7) = 0.65: goes on
    assert _decide(optuna_median, others, mine)  # 0.7 < median(1.0, 0.5, 0.9) = 0.9: pruned


def test_optuna_percentile_pruner_is_not_azures_truncation_selection() -> None:
    """Why TruncationSelectionPruner is ours: Azure ranks the run's value *at* interval N among all runs;
    Optuna's PercentilePruner compares the run's *best* value so far with a percentile of completed trials."""
    others = [{5: v} for v in (0.6, 0.7, 0.8, 0.9)]
    mine = {1: 0.95, 5: 0.5}  # a good start, then the lowest value at interval 5
    azure = TruncationSelectionPruner(
        asl.TruncationSelectionPolicy(evaluation_interval=1, truncation_percentage=20, delay_evaluation=5), "maximize"
    )
    optuna_percentile = optuna.pruners.PercentilePruner(20.0, n_startup_trials=0, n_warmup_steps=4)
    assert _decide(azure, others, mine)  # lowest 20 % at interval 5: cancelled
    assert not _decide(optuna_percentile, others, mine)  # best 0.95 is above the 20th percentile: goes on


def test_policies_compare_trials_of_every_worker_through_the_shared_storage(tmp_path) -> None:
    """A pruner in one worker reads the other workers' trials from the storage: two study objects on one
    storage (two processes) see the same runs."""
    from asl_recog.backends.local._engine import open_storage, open_study

    policy = asl.BanditPolicy(slack_factor=0.1)
    study = open_study(tmp_path, direction="maximize", pruner=make_pruner(policy, "maximize"))
    study.add_trial(create_trial(state=TrialState.COMPLETE, value=0.9, intermediate_values={1: 0.9}))
    other = optuna.load_study(study_name=study.study_name, storage=open_storage(tmp_path), pruner=study.pruner)
    other.add_trial(create_trial(state=TrialState.PRUNED, intermediate_values={1: 0.5}))
    assert study.pruner.prune(study, study.get_trials()[-1])  # 0.5 * 1.1 < 0.9, seen from the first study
