"""Both local trainers on a small real subset, with tiny budgets."""

from __future__ import annotations

import math

import numpy as np
import pytest

import asl_recog as asl
from asl_recog.evaluation._metrics import score
from asl_recog.testing import check_trainer

TINY_CNN = {"hidden": 32, "epochs": 2, "batch_size": 64, "dropout": 0.1}


def test_hyperdrive_meets_the_trainer_contract() -> None:
    # Two trials and a sampled space, as users write them (the local backend check runs one trial).
    trainer = asl.HyperDriveTrainer(
        builder="seed",
        hyperparameter_sampling=asl.RandomParameterSampling({"learning_rate": asl.loguniform(-6.5, -5.5)}),
        fixed_params=TINY_CNN,
        max_total_runs=2,
        progress=False,
    )
    check_trainer(trainer)


def test_automl_meets_the_trainer_contract() -> None:
    # Two algorithms in two worker processes at once (the local backend check runs one).
    trainer = asl.AutoMLTrainer(
        allowed_models=["LogisticRegression", "KNN"],
        max_iterations=2,
        max_concurrent_iterations=2,
        augment=False,
        experiment_timeout_minutes=5,
        progress=False,
    )
    check_trainer(
        trainer,
    )


def _failing_builder(params):
    from asl_recog.routes.hyperdrive._builders import build_seed

    if params["hidden"] == 8:
        raise ValueError("hidden=8 is refused by this test builder")
    return build_seed(params)


def _broken_builder(params):
    raise RuntimeError(f"broken builder {params['hidden']}")


def test_a_failed_trial_is_recorded_and_the_search_goes_on(small_split, tmp_path) -> None:
    trainer = asl.HyperDriveTrainer(
        builder=_failing_builder,
        hyperparameter_sampling=asl.GridParameterSampling({"hidden": asl.choice(8, 16)}),
        fixed_params={"epochs": 1, "batch_size": 64},
        max_total_runs=5,
        run_dir=tmp_path,
        progress=False,
    )
    result = trainer.fit(*small_split)
    board = result.leaderboard.set_index("status")
    assert len(result.leaderboard) == 2  # a grid of two: the trial limit is capped at the grid size
    assert "hidden=8 is refused" in board.loc["failed", "error"]
    assert result.best_params["hidden"] == 16
    assert len(board.loc["completed", "history"]) == 1


def test_all_trials_failing_raises_with_the_first_failure(small_split, tmp_path) -> None:
    trainer = asl.HyperDriveTrainer(
        builder=_broken_builder,
        hyperparameter_sampling=asl.GridParameterSampling({"hidden": asl.choice(8, 16)}),
        max_total_runs=2,
        run_dir=tmp_path,
        progress=False,
    )
    # The grid's order is seeded, so either value may come first: the message must name trial 0 and its params.
    with pytest.raises(
        asl.TrialFailedError,
        match=r"all 2 trial\(s\) failed; the first failure \(trial 0, params \{'hidden': (\d+)\}\): "
        r"RuntimeError: broken builder \1",
    ):
        trainer.fit(*small_split)


def test_bandit_policy_stops_a_hopeless_trial(small_split, tmp_path) -> None:
    # seed=1 orders the grid good-first (asserted below), so the hopeless trial has a best run to fall
    # behind; delay_evaluation=2 skips the first epoch, where a small CNN is still near chance.
    trainer = asl.HyperDriveTrainer(
        builder="seed",
        hyperparameter_sampling=asl.GridParameterSampling({"learning_rate": asl.choice(3e-3, 1e-7)}),
        policy=asl.BanditPolicy(slack_factor=0.1, evaluation_interval=1, delay_evaluation=2),
        fixed_params={**TINY_CNN, "epochs": 4},
        max_total_runs=2,
        run_dir=tmp_path,
        progress=False,
        seed=1,
    )
    result = trainer.fit(*small_split)
    board = result.leaderboard.set_index("trial")
    assert board.loc[0, "params"]["learning_rate"] == 3e-3
    rates = result.leaderboard["params"].map(lambda p: p["learning_rate"])
    statuses = dict(zip(rates, result.leaderboard["status"], strict=True))
    assert statuses == {3e-3: "completed", 1e-7: "pruned"}
    pruned = result.leaderboard[result.leaderboard["status"] == "pruned"].iloc[0]
    assert len(pruned["history"]) == 2  # stopped at the first evaluation step, epoch 2 of 4
    assert len(board.loc[result.best_model.info["trial"], "history"]) == 4  # metric logged every epoch


def test_loss_can_be_minimised(small_split, tmp_path) -> None:
    trainer = asl.HyperDriveTrainer(
        builder="seed",
        hyperparameter_sampling=asl.GridParameterSampling({"learning_rate": asl.choice(3e-3)}),
        primary_metric_name="loss",
        primary_metric_goal="minimize",
        fixed_params={**TINY_CNN, "epochs": 1},
        max_total_runs=1,
        run_dir=tmp_path,
        progress=False,
    )
    result = trainer.fit(*small_split)
    assert result.primary_metric == "loss" and 0 < result.best_score < math.log(24) * 2
    assert "loss" in result.leaderboard.columns


def test_max_duration_stops_starting_trials(small_split, tmp_path) -> None:
    trainer = asl.HyperDriveTrainer(
        builder="seed",
        hyperparameter_sampling=asl.RandomParameterSampling({"hidden": asl.choice(8, 16, 32)}),
        fixed_params={"epochs": 1},
        max_total_runs=50,
        max_duration_minutes=0.001,
        run_dir=tmp_path,
        progress=False,
    )
    result = trainer.fit(*small_split)
    assert len(result.leaderboard) == 1  # the deadline passed during the first trial


def test_an_automl_trial_over_its_time_limit_is_recorded_failed(small_split, tmp_path) -> None:
    trainer = asl.AutoMLTrainer(
        allowed_models=["SVM"],
        max_iterations=1,
        iteration_timeout_minutes=0.01,
        enable_voting_ensemble=False,
        augment=False,
        run_dir=tmp_path,
        progress=False,
    )
    with pytest.raises(asl.TrialFailedError, match="exceeded the trial time limit"):
        trainer.fit(*small_split)


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda: asl.HyperDriveTrainer(
                hyperparameter_sampling=asl.BayesianParameterSampling({"hidden": asl.choice(8, 16)}),
                policy=asl.BanditPolicy(slack_factor=0.1),
            ),
            "does not support early-termination",
        ),
        (lambda: asl.HyperDriveTrainer(primary_metric_name="f1"), "primary_metric_name must be one of"),
        (lambda: asl.AutoMLTrainer(primary_metric="f1"), "primary_metric must be one of"),
        (lambda: asl.HyperDriveTrainer(max_total_runs=0), "max_total_runs must be an integer >= 1"),
        (lambda: asl.HyperDriveTrainer(max_duration_minutes=-1), "max_duration_minutes"),
        (lambda: asl.AutoMLTrainer(experiment_timeout_minutes=0), "experiment_timeout_minutes"),
        (lambda: asl.AutoMLTrainer(allowed_models=["XGBoost"]), "unknown algorithm"),
        (lambda: asl.HyperDriveTrainer(resume=True), "needs the run_dir"),
        (
            lambda: asl.HyperDriveTrainer(
                hyperparameter_sampling=asl.RandomParameterSampling({"hidden": asl.choice(8)}),
                fixed_params={"hidden": 8},
            ),
            "both sampled and fixed",
        ),
    ],
)
def test_construction_errors(make, message) -> None:
    with pytest.raises(asl.ConfigurationError, match=message):
        make()


def test_a_lambda_builder_cannot_run_in_worker_processes(small_split, tmp_path) -> None:
    trainer = asl.HyperDriveTrainer(builder=lambda p: None, max_concurrent_runs=2, run_dir=tmp_path, progress=False)
    with pytest.raises(asl.ConfigurationError, match="module-level builder"):
        trainer.fit(*small_split)


def test_automl_metrics_follow_their_definitions() -> None:
    targets = np.array([0, 0, 1, 2])
    proba = np.full((4, 24), 0.01, dtype=np.float32)
    proba[[0, 1, 2, 3], [0, 1, 1, 2]] = 0.9  # second image wrong
    assert score("accuracy", targets, proba) == 0.75
    # recall per present class: 0.5, 1, 1 -> macro 5/6; normalised by Azure's chance 1/C, C = 24 classes
    assert score("norm_macro_recall", targets, proba) == pytest.approx((5 / 6 - 1 / 24) / (23 / 24))
    assert 0.5 < score("AUC_weighted", targets, proba) <= 1.0
    assert 0.0 < score("precision_score_weighted", targets, proba) <= 1.0
    assert 0.0 < score("average_precision_score_weighted", targets, proba) <= 1.0


@pytest.mark.slow
def test_hyperdrive_runs_concurrent_trials_in_worker_processes(small_split, tmp_path) -> None:
    trainer = asl.HyperDriveTrainer(
        builder="seed",
        hyperparameter_sampling=asl.GridParameterSampling({"hidden": asl.choice(16, 32)}),
        fixed_params={"epochs": 1, "batch_size": 64},
        max_total_runs=2,
        max_concurrent_runs=2,
        run_dir=tmp_path,
        progress=False,
    )
    result = trainer.fit(*small_split)
    assert sorted(result.leaderboard["status"]) == ["completed", "completed"]
    assert (tmp_path / "data" / "x.npy").is_file()  # the data went to the workers as files
    starts = result.leaderboard["duration_s"]
    assert (starts > 0).all()


@pytest.mark.slow
def test_every_portfolio_pipeline_and_the_ensemble_convert_to_onnx(small_split) -> None:
    import onnxruntime as ort
    from threadpoolctl import threadpool_limits

    from asl_recog.data._labels import labels_to_indices
    from asl_recog.models._export import convert_sklearn_estimator
    from asl_recog.routes.automl._portfolio import build_pipeline
    from asl_recog.routes.automl._trainer import ALGORITHMS
    from asl_recog.routes.automl._voting import soft_voting

    train, validation = small_split
    x, y = train.flat[::4], labels_to_indices(train.labels[::4])  # 600 images: conversion, not accuracy
    fitted = {}
    with threadpool_limits(1):  # BLAS threads spinning on a busy machine are very slow
        for algorithm in ALGORITHMS:
            fitted[algorithm] = build_pipeline(algorithm, {"n_estimators": 20}, seed=0).fit(x, y)
    ensemble = soft_voting([fitted["MLP"], fitted["KNN"], fitted["SVM"]], [2, 1, 1])
    for name, model in [*fitted.items(), ("VotingEnsemble", ensemble)]:
        # The conversion every AutoML trial runs (LightGBM included: it patches a skl2onnx bug).
        onnx_model = convert_sklearn_estimator(model)
        session = ort.InferenceSession(onnx_model.SerializeToString())
        outputs = session.run(None, {session.get_inputs()[0].name: validation.flat[:50]})
        expected = model.predict_proba(validation.flat[:50])
        np.testing.assert_allclose(outputs[1], expected, atol=1e-3, err_msg=name)
