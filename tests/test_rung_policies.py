"""The local-only rung policies (successive halving, Hyperband): Optuna's own pruners with epoch rungs.

A trial reports its metric after every epoch (steps 1, 2, 3, ...); a rung policy may stop it only at
a rung (``min_resource * reduction_factor**k`` epochs), and only a trial that ran all its epochs (it
passed every rung on the way) can be selected, so the refit still follows the selected trial.
"""

from __future__ import annotations

import json
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState, create_trial

import asl_recog as asl
from asl_recog.backends.local._pruners import make_pruner
from asl_recog.results import best_epoch
from asl_recog.search import EarlyTerminationPolicy

optuna.logging.set_verbosity(optuna.logging.WARNING)

# Each trial's quality: its curve is quality + 0.01 * epoch, so the order of trials is the same at every rung.
QUALITIES = [0.5, 0.9, 0.1, 0.7, 0.3, 0.8, 0.2, 0.6, 0.4, 0.85, 0.15, 0.65]


def _run_curves(pruner: optuna.pruners.BasePruner, epochs: int, study_name: str = "search") -> list[Any]:
    """Trials in order, each reporting its curve epoch by epoch and stopping when the pruner says so."""
    study = optuna.create_study(direction="maximize", pruner=pruner, study_name=study_name)

    def objective(trial: optuna.trial.Trial) -> float:
        quality = QUALITIES[trial.number]
        for epoch in range(1, epochs + 1):
            trial.report(quality + 0.01 * epoch, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return quality + 0.01 * epochs

    study.optimize(objective, n_trials=len(QUALITIES))
    return study.get_trials()


@pytest.mark.parametrize(
    ("policy", "rungs"),
    [
        (asl.SuccessiveHalvingPolicy(min_resource=1, reduction_factor=2), [1, 2, 4]),
        (asl.SuccessiveHalvingPolicy(min_resource=1, reduction_factor=2, min_early_stopping_rate=1), [2, 4]),
        (asl.SuccessiveHalvingPolicy(min_resource=2, reduction_factor=3), [2, 6]),  # the last epoch is a rung too
    ],
)
def test_successive_halving_stops_trials_only_at_rungs(policy: asl.SuccessiveHalvingPolicy, rungs: list[int]) -> None:
    assert policy.rungs(6) == rungs
    trials = _run_curves(make_pruner(policy, "maximize", max_epochs=6), epochs=6)
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    completed = [t for t in trials if t.state == TrialState.COMPLETE]
    assert pruned and completed
    assert {t.last_step for t in pruned} <= set(rungs)  # never between rungs, never before the first
    assert all(t.last_step == 6 for t in completed)  # the others ran all their epochs
    # A stopped trial was behind at its rung: the best trial of the curves completes.
    assert max(completed, key=lambda t: t.value).number == QUALITIES.index(max(QUALITIES))
    # the first trial to reach a rung always goes on (Optuna's ASHA promotes it)
    assert trials[0].state == TrialState.COMPLETE


def test_hyperband_stops_trials_only_at_rungs_and_resolves_auto_from_the_epochs() -> None:
    policy = asl.HyperbandPolicy(min_resource=1, reduction_factor=2)
    pruner = make_pruner(policy, "maximize", max_epochs=8)
    assert isinstance(pruner, optuna.pruners.HyperbandPruner)
    # "auto" is the trials' 8 epochs, so 4 brackets, before any trial completes
    assert pruner._max_resource == 8 and policy.brackets(8) == 4
    trials = _run_curves(pruner, epochs=8)
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned and {t.last_step for t in pruned} <= set(policy.rungs(8)) == {1, 2, 4, 8}
    assert all(t.last_step == 8 for t in trials if t.state == TrialState.COMPLETE)
    # An explicit max_resource is passed as it is; unknown epochs leave "auto" to Optuna.
    assert make_pruner(asl.HyperbandPolicy(max_resource=27), "maximize", max_epochs=8)._max_resource == 27
    assert make_pruner(asl.HyperbandPolicy(), "maximize")._max_resource == "auto"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: asl.SuccessiveHalvingPolicy(min_resource=0), r"min_resource must be an integer >= 1, got 0; "),
        (lambda: asl.SuccessiveHalvingPolicy(min_resource="auto"), r"min_resource .* got 'auto'"),
        (lambda: asl.SuccessiveHalvingPolicy(reduction_factor=1), r"reduction_factor must be an integer >= 2, got 1"),
        (lambda: asl.SuccessiveHalvingPolicy(min_early_stopping_rate=-1), r"min_early_stopping_rate .* got -1"),
        (lambda: asl.SuccessiveHalvingPolicy(reduction_factor=True), r"reduction_factor .* got True"),
        (lambda: asl.HyperbandPolicy(max_resource="max"), r"max_resource must be 'auto' or an integer"),
        (lambda: asl.HyperbandPolicy(max_resource=9.0), r"max_resource must be 'auto' or an integer"),
        (lambda: asl.HyperbandPolicy(min_resource=4, max_resource=3), r"max_resource \(3\) is less than min_resource"),
        (
            lambda: make_pruner(asl.SuccessiveHalvingPolicy(min_resource=2, min_early_stopping_rate=1), "maximize", 5),
            r"first rung is at 6 epochs, but the trials run at most 5",
        ),
    ],
)
def test_rung_policies_refuse_bad_arguments(make: Any, message: str) -> None:
    with pytest.raises(asl.ConfigurationError, match=message):
        make()


def test_rung_policies_read_and_compare_as_data() -> None:
    policy = asl.SuccessiveHalvingPolicy(min_resource=2)
    assert repr(policy) == "SuccessiveHalvingPolicy(min_resource=2, reduction_factor=3, min_early_stopping_rate=0)"
    assert policy == asl.SuccessiveHalvingPolicy(2, 3, 0) and policy != asl.SuccessiveHalvingPolicy(2, 2)
    assert asl.HyperbandPolicy(1, 9) == asl.HyperbandPolicy(min_resource=1, max_resource=9, reduction_factor=3)
    assert isinstance(policy, EarlyTerminationPolicy)  # accepted wherever a policy is
    with pytest.raises(TypeError):  # Azure's interval settings do not apply to rungs
        asl.HyperbandPolicy(evaluation_interval=2)  # type: ignore[call-arg]


def test_a_worker_rebuilds_the_same_rung_pruner_from_the_recipe(small_split, tmp_path) -> None:
    """The recipe holds the policy as plain JSON; a worker parses it back and builds an equal pruner."""
    from asl_recog.backends.local._recipe import encode_settings
    from asl_recog.cli._worker import rebuild_trainer
    from asl_recog.routes.hyperdrive._search import local_plan

    for policy in (asl.HyperbandPolicy(reduction_factor=2), asl.SuccessiveHalvingPolicy(min_early_stopping_rate=1)):
        trainer = asl.HyperDriveTrainer(
            builder="seed",
            hyperparameter_sampling=asl.RandomParameterSampling({"epochs": asl.choice(3, 9)}, seed=2),
            policy=policy,
            max_total_runs=4,
            progress=False,
        )
        settings = json.loads(json.dumps(encode_settings(trainer.get_params(deep=False))))
        fields = {k: v for k, v in settings["policy"].items() if k != "type"}
        assert settings["policy"]["type"] in ("hyperband", "successive_halving") and type(policy)(**fields) == policy
        rebuilt = rebuild_trainer({"route": "hyperdrive", "settings": settings}, processes=1, where="test")
        assert rebuilt.policy == policy
        mine, theirs = (local_plan(t, *small_split, tmp_path).pruner for t in (trainer, rebuilt))
        assert type(theirs) is type(mine) and vars(theirs) == vars(mine)
        if isinstance(theirs, optuna.pruners.HyperbandPruner):
            assert vars(theirs)["_max_resource"] == 9  # "auto": the longest sampled epochs, on every host
        else:
            assert isinstance(theirs, optuna.pruners.SuccessiveHalvingPruner)
            assert vars(theirs)["_min_early_stopping_rate"] == 1
    # A study someone edited: a value that is not the policy's data is refused, never evaluated.
    settings["policy"] = {"type": "hyperband", "max_resource": "__import__('os').system('true')"}
    with pytest.raises(asl.ConfigurationError, match="max_resource must be 'auto' or an integer"):
        rebuild_trainer({"route": "hyperdrive", "settings": settings}, processes=1, where="test")


def test_hyperband_auto_is_the_longest_sampled_epochs(small_split, tmp_path) -> None:
    from asl_recog.routes.hyperdrive._search import local_plan

    trainer = asl.HyperDriveTrainer(
        builder="seed",
        hyperparameter_sampling=asl.RandomParameterSampling({"epochs": asl.choice(3, 9)}, seed=2),
        policy=asl.HyperbandPolicy(),
        progress=False,
    )
    assert local_plan(trainer, *small_split, tmp_path).pruner._max_resource == 9
    fixed = asl.HyperDriveTrainer(builder="seed", policy=asl.HyperbandPolicy(), fixed_params={"epochs": 4})
    assert local_plan(fixed, *small_split, tmp_path).pruner._max_resource == 4


def test_a_rung_search_selects_a_trial_that_ran_all_its_epochs(small_split, tmp_path) -> None:
    """Real data: rungs at epochs 2 and 4 of 4. The hopeless trial stops at epoch 2 (a rung, not epoch 1 or 3);
    the selected trial completed all 4 epochs, and the refit trains its best epoch count."""
    from asl_recog.backends.local._backend import build_result
    from asl_recog.backends.local._engine import open_storage
    from asl_recog.routes.hyperdrive._search import local_plan

    trainer = asl.HyperDriveTrainer(
        builder="seed",
        # seed=1 orders the grid good-first, as in the Bandit test (tests/test_trainers.py)
        hyperparameter_sampling=asl.GridParameterSampling({"learning_rate": asl.choice(3e-3, 1e-7)}),
        policy=asl.SuccessiveHalvingPolicy(min_resource=2, reduction_factor=2),
        fixed_params={"hidden": 32, "batch_size": 64, "dropout": 0.1, "epochs": 4},
        max_total_runs=2,
        run_dir=tmp_path,
        progress=False,
        seed=1,
    )
    result = trainer.fit(*small_split)
    board = result.leaderboard.set_index("trial")
    rates = result.leaderboard["params"].map(lambda p: p["learning_rate"])
    assert dict(zip(rates, result.leaderboard["status"], strict=True)) == {3e-3: "completed", 1e-7: "pruned"}
    pruned = result.leaderboard[result.leaderboard["status"] == "pruned"].iloc[0]
    assert len(pruned["history"]) == 2  # stopped at the first rung, epoch 2 of 4
    selected = board.loc[result.best_trial]
    assert selected["status"] == "completed" and len(selected["history"]) == 4
    assert result.best_model.info["refit_epochs"] == best_epoch(selected["history"])

    # A pruned trial is never selected, however high its last value: add one that beats every trial.
    study = optuna.load_study(study_name="search", storage=open_storage(tmp_path))
    winner = study.trials[result.best_trial]
    study.add_trial(
        create_trial(
            state=TrialState.PRUNED,
            value=1.0,
            intermediate_values={1: 0.99, 2: 1.0},
            user_attrs={**winner.user_attrs, "history": [0.99, 1.0]},  # even with a model file
        )
    )
    again = build_result(study, tmp_path, local_plan(trainer, *small_split, tmp_path), 0.0)
    assert again.best_trial == result.best_trial
    assert list(again.leaderboard["status"]) == ["completed", "pruned", "pruned"]
