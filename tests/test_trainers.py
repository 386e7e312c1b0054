"""Both local trainers on a small real subset, with tiny budgets."""

from __future__ import annotations

import math

import numpy as np
import pytest

import asl_recog as asl
from asl_recog._automl_search import score
from trainer_contract import TrainerContract

TINY_CNN = {"hidden": 32, "epochs": 2, "batch_size": 64, "dropout": 0.1}


class TestHyperDriveContract(TrainerContract):
    @pytest.fixture(scope="class")
    def make_trainer(self):
        def make(seed, run_dir):
            return asl.HyperDriveTrainer(
                builder="seed", sampling=asl.RandomParameterSampling({"learning_rate": asl.loguniform(-6.5, -5.5)}),
                fixed_params=TINY_CNN, max_total_runs=2, seed=seed, run_dir=run_dir, progress=False)
        return make


class TestAutoMLContract(TrainerContract):
    @pytest.fixture(scope="class")
    def make_trainer(self):
        def make(seed, run_dir):
            return asl.AutoMLTrainer(allowed_models=["LogisticRegression", "KNN"], max_iterations=2,
                                     max_concurrent_iterations=2, augment=False, seed=seed, run_dir=run_dir,
                                     experiment_timeout_minutes=5, progress=False)
        return make


def _failing_builder(params):
    from asl_recog._builders import build_seed

    if params["hidden"] == 8:
        raise ValueError("hidden=8 is refused by this test builder")
    return build_seed(params)


def _broken_builder(params):
    raise RuntimeError(f"broken builder {params['hidden']}")


def test_a_failed_trial_is_recorded_and_the_search_goes_on(small_split, tmp_path) -> None:
    trainer = asl.HyperDriveTrainer(
        builder=_failing_builder, sampling=asl.GridParameterSampling({"hidden": asl.choice(8, 16)}),
        fixed_params={"epochs": 1, "batch_size": 64}, max_total_runs=5, run_dir=tmp_path, progress=False)
    result = trainer.fit(*small_split)
    board = result.leaderboard.set_index("status")
    assert len(result.leaderboard) == 2  # a grid of two: the trial limit is capped at the grid size
    assert "hidden=8 is refused" in board.loc["failed", "error"]
    assert result.best_params["hidden"] == 16
    assert len(board.loc["completed", "history"]) == 1


def test_all_trials_failing_raises_with_the_first_failure(small_split, tmp_path) -> None:
    trainer = asl.HyperDriveTrainer(
        builder=_broken_builder, sampling=asl.GridParameterSampling({"hidden": asl.choice(8, 16)}),
        max_total_runs=2, run_dir=tmp_path, progress=False)
    with pytest.raises(asl.TrialFailedError, match=r"all 2 trial\(s\) failed.*trial 0.*broken builder 8"):
        trainer.fit(*small_split)


def test_bandit_policy_stops_a_hopeless_trial_after_its_first_epoch(small_split, tmp_path) -> None:
    trainer = asl.HyperDriveTrainer(
        builder="seed", sampling=asl.GridParameterSampling({"learning_rate": asl.choice(3e-3, 1e-7)}),
        policy=asl.BanditPolicy(slack_factor=0.1, evaluation_interval=1), fixed_params={**TINY_CNN, "epochs": 3},
        max_total_runs=2, run_dir=tmp_path, progress=False)
    result = trainer.fit(*small_split)
    board = result.leaderboard.set_index("trial")
    statuses = dict(zip(result.leaderboard["params"].map(lambda p: p["learning_rate"]), result.leaderboard["status"]))
    assert statuses == {3e-3: "completed", 1e-7: "pruned"}
    pruned = result.leaderboard[result.leaderboard["status"] == "pruned"].iloc[0]
    assert len(pruned["history"]) < 3  # stopped before its last epoch
    assert len(board.loc[result.best_model.info["trial"], "history"]) == 3  # metric logged every epoch


def test_loss_can_be_minimised(small_split, tmp_path) -> None:
    trainer = asl.HyperDriveTrainer(
        builder="seed", sampling=asl.GridParameterSampling({"learning_rate": asl.choice(3e-3)}),
        primary_metric_name="loss", primary_metric_goal="minimize", fixed_params={**TINY_CNN, "epochs": 1},
        max_total_runs=1, run_dir=tmp_path, progress=False)
    result = trainer.fit(*small_split)
    assert result.primary_metric == "loss" and 0 < result.best_score < math.log(24) * 2
    assert "loss" in result.leaderboard.columns


def test_max_duration_stops_starting_trials(small_split, tmp_path) -> None:
    trainer = asl.HyperDriveTrainer(
        builder="seed", sampling=asl.RandomParameterSampling({"hidden": asl.choice(8, 16, 32)}),
        fixed_params={"epochs": 1}, max_total_runs=50, max_duration_minutes=0.001, run_dir=tmp_path, progress=False)
    result = trainer.fit(*small_split)
    assert len(result.leaderboard) == 1  # the deadline passed during the first trial


def test_an_automl_trial_over_its_time_limit_is_recorded_failed(small_split, tmp_path) -> None:
    trainer = asl.AutoMLTrainer(allowed_models=["SVM"], max_iterations=1, iteration_timeout_minutes=0.01,
                                enable_voting_ensemble=False, augment=False, run_dir=tmp_path, progress=False)
    with pytest.raises(asl.TrialFailedError, match="exceeded the trial time limit"):
        trainer.fit(*small_split)


@pytest.mark.parametrize("make, message", [
    (lambda: asl.HyperDriveTrainer(sampling=asl.BayesianParameterSampling({"hidden": asl.choice(8, 16)}),
                                   policy=asl.BanditPolicy(slack_factor=0.1)), "does not support early-termination"),
    (lambda: asl.HyperDriveTrainer(primary_metric_name="f1"), "primary_metric_name must be one of"),
    (lambda: asl.AutoMLTrainer(primary_metric="f1"), "primary_metric must be one of"),
    (lambda: asl.HyperDriveTrainer(max_total_runs=0), "max_total_runs must be an integer >= 1"),
    (lambda: asl.HyperDriveTrainer(max_duration_minutes=-1), "max_duration_minutes"),
    (lambda: asl.AutoMLTrainer(experiment_timeout_minutes=0), "experiment_timeout_minutes"),
    (lambda: asl.AutoMLTrainer(allowed_models=["XGBoost"]), "unknown algorithm"),
    (lambda: asl.HyperDriveTrainer(resume=True), "needs the run_dir"),
    (lambda: asl.HyperDriveTrainer(sampling=asl.RandomParameterSampling({"hidden": asl.choice(8)}),
                                   fixed_params={"hidden": 8}), "both sampled and fixed"),
])
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
    # recall per present class: 0.5, 1, 1 -> macro 5/6; normalised by chance 1/3
    assert score("norm_macro_recall", targets, proba) == pytest.approx((5 / 6 - 1 / 3) / (2 / 3))
    assert 0.5 < score("AUC_weighted", targets, proba) <= 1.0
    assert 0.0 < score("precision_score_weighted", targets, proba) <= 1.0
    assert 0.0 < score("average_precision_score_weighted", targets, proba) <= 1.0


@pytest.mark.slow
def test_hyperdrive_runs_concurrent_trials_in_worker_processes(small_split, tmp_path) -> None:
    trainer = asl.HyperDriveTrainer(
        builder="seed", sampling=asl.GridParameterSampling({"hidden": asl.choice(16, 32)}),
        fixed_params={"epochs": 1, "batch_size": 64}, max_total_runs=2, max_concurrent_runs=2,
        run_dir=tmp_path, progress=False)
    result = trainer.fit(*small_split)
    assert sorted(result.leaderboard["status"]) == ["completed", "completed"]
    assert (tmp_path / "data" / "x.npy").is_file()  # the data went to the workers as files
    starts = result.leaderboard["duration_s"]
    assert (starts > 0).all()


@pytest.mark.slow
def test_every_portfolio_pipeline_and_the_ensemble_convert_to_onnx(small_split) -> None:
    import onnxruntime as ort
    from skl2onnx import to_onnx

    from asl_recog._automl import ALGORITHMS
    from asl_recog._labels import labels_to_indices
    from asl_recog._portfolio import build_pipeline, soft_voting

    train, validation = small_split
    x, y = train.flat, labels_to_indices(train.labels)
    fitted = {}
    for algorithm in ALGORITHMS:
        pipeline = build_pipeline(algorithm, {"n_estimators": 50} if "Forest" in algorithm or "Trees" in algorithm
                                  else {}, seed=0).fit(x, y)
        fitted[algorithm] = pipeline
    ensemble = soft_voting([fitted["LogisticRegression"], fitted["KNN"], fitted["SVM"]], [2, 1, 1])
    for name, model in [*fitted.items(), ("VotingEnsemble", ensemble)]:
        onnx_model = to_onnx(model, x[:1], options={id(model): {"zipmap": False}}, target_opset=17)
        session = ort.InferenceSession(onnx_model.SerializeToString())
        outputs = session.run(None, {session.get_inputs()[0].name: validation.flat[:50]})
        expected = model.predict_proba(validation.flat[:50])
        np.testing.assert_allclose(outputs[1], expected, atol=1e-3, err_msg=name)


def test_train_cnn_script_logs_every_epoch_and_saves_the_model(small_split, tmp_path, monkeypatch) -> None:
    from asl_recog import train_cnn

    train, validation = small_split
    data = tmp_path / "part.csv"
    train[:1200].to_frame().to_csv(data, index=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("AZUREML_RUN_ID", raising=False)
    logged: list[tuple[str, float, int]] = []

    class Sink:
        name = "test"

        def log(self, key: str, value: float, step: int) -> None:
            logged.append((key, value, step))

    monkeypatch.setattr(train_cnn, "metric_logger", Sink)
    metrics = train_cnn.main(["--builder", "seed", "--hidden", "16", "--epochs", "2", "--batch_size", "64",
                              "--learning_rate", "0.003", "--data", str(data), "--output_dir", str(tmp_path / "out"),
                              "--note", "extra"])
    assert [(k, s) for k, _, s in logged] == [("loss", 1), ("accuracy", 1), ("loss", 2), ("accuracy", 2)]
    model = asl.Model.load(tmp_path / "out" / "model.keras")
    assert model.params["hidden"] == 16 and model.params["note"] == "extra"
    assert metrics["accuracy"] == pytest.approx(logged[-1][1])


def test_train_cnn_picks_its_metric_logger_from_the_environment(monkeypatch) -> None:
    from asl_recog.train_cnn import metric_logger, parse_args

    monkeypatch.delenv("AZUREML_RUN_ID", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert metric_logger().name == "logging"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "file:///tmp/asl-recog-mlruns")
    assert metric_logger().name == "mlflow"
    args, params = parse_args(["--builder", "seed", "--dropout", "0.25", "--filters", "8", "--momentum", "0.9"])
    assert args.builder == "seed" and params == {"dropout": 0.25, "filters": 8, "momentum": 0.9}
    with pytest.raises(SystemExit):
        parse_args(["--dangling"])
