"""AzureBackend (SDK v2), offline: real azure-ai-ml jobs built from our specs and dumped to YAML,
and a fake MLClient (jobs, data, workspaces) where the SDK would call Azure. Child metrics
are read through real MLflow from a local tracking store."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

pytest.importorskip("azure.ai.ml", reason="the 'azure' extra (azure-ai-ml) is not installed")
pytest.importorskip("mlflow", reason="the 'azure' extra (mlflow-skinny) is not installed")

from azure.ai.ml import load_job
from azure_fakes import FakeJobs, FakeMLClient, child, local_mlflow_store, logged_run
from factories import azure_automl_onnx, small_keras_bytes

import asl_recog as asl
from asl_recog.backends import remote_spec
from asl_recog.backends.azure import _job as entry
from asl_recog.backends.azure import _translate as tr
from asl_recog.backends.azure._data import CSV_NAME, content_hash, ensure_v2_data
from asl_recog.backends.azure.v2 import _backend as v2
from asl_recog.data._augment import tabular_copies

pytestmark = pytest.mark.azure


# -- fakes at the network seams (tests/azure_fakes.py) ------------------------------------------------


@pytest.fixture(scope="module")
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any]:
    """A real local MLflow tracking store (Azure's is MLflow too) and its client."""
    return local_mlflow_store(tmp_path_factory.mktemp("mlruns"))


@pytest.fixture(scope="module")
def backend() -> asl.AzureBackend:
    return asl.AzureBackend(FakeMLClient(), "cpu-cluster")


@pytest.fixture(scope="module")
def onnx_classifier(small_split: Any) -> tuple[bytes, Any]:
    """A real ONNX classifier shaped like Azure AutoML's: raw 0-255 pixels in, dataset labels out."""
    from sklearn.naive_bayes import GaussianNB

    return azure_automl_onnx(GaussianNB(), small_split[0])


@pytest.fixture(scope="module")
def keras_bytes(tmp_path_factory: pytest.TempPathFactory, small_split: Any) -> bytes:
    return small_keras_bytes(tmp_path_factory.mktemp("keras"), small_split[0])


def hd_trainer(backend: Any, **overrides: Any) -> asl.HyperDriveTrainer:
    settings: dict[str, Any] = dict(
        builder="seed",
        hyperparameter_sampling=asl.RandomParameterSampling(
            {"hidden": asl.choice(128, 256), "dropout": asl.uniform(0.1, 0.5), "learning_rate": asl.loguniform(-8, -5)},
            seed=11,
        ),
        policy=asl.BanditPolicy(slack_amount=0.05, evaluation_interval=2, delay_evaluation=3),
        max_total_runs=6,
        max_concurrent_runs=2,
        max_duration_minutes=45,
        fixed_params={"epochs": 4},
        progress=False,
        backend=backend,
    )
    settings.update(overrides)
    return asl.HyperDriveTrainer(**settings)


# -- translation to real SDK v2 objects ------------------------------------------------------------------


@pytest.mark.parametrize(
    "expr",
    [
        asl.choice(16, 32, 64),
        asl.choice("relu", "tanh"),
        asl.randint(5),
        asl.uniform(0.1, 0.5),
        asl.quniform(32, 256, 32),
        asl.loguniform(-7, -4),
        asl.qloguniform(2, 6, 8),
        asl.normal(0.3, 0.05),
        asl.qnormal(64, 16, 8),
        asl.lognormal(-6, 1),
        asl.qlognormal(4, 0.5, 2),
    ],
)
def test_every_expression_has_the_same_wire_form_in_v2_as_in_v1(expr: Any) -> None:
    distribution = tr.v2_expression("p", expr)
    assert type(distribution).__module__.startswith("azure.ai.ml")
    assert distribution._to_rest_object() == [
        expr.kind,
        [list(expr.args)] if expr.kind == "choice" else list(expr.args),
    ]


def test_samplings_and_policies_become_v2_objects() -> None:
    from azure.ai.ml import sweep

    space = {"n": asl.choice(1, 2)}
    assert tr.v2_sampling(asl.RandomParameterSampling(space))[1] == "random"
    seeded = tr.v2_sampling(asl.RandomParameterSampling(space, seed=3))[1]
    assert isinstance(seeded, sweep.RandomSamplingAlgorithm) and (seeded.seed, seeded.rule) == (3, "random")
    assert tr.v2_sampling(asl.GridParameterSampling(space))[1] == "grid"
    assert tr.v2_sampling(asl.BayesianParameterSampling(space))[1] == "bayesian"
    bandit = tr.v2_policy(asl.BanditPolicy(slack_factor=0.2, evaluation_interval=2, delay_evaluation=5))
    assert (bandit.slack_factor, bandit.slack_amount, bandit.evaluation_interval, bandit.delay_evaluation) == (
        0.2,
        0,
        2,
        5,
    )
    median = tr.v2_policy(asl.MedianStoppingPolicy(evaluation_interval=3, delay_evaluation=1))
    assert isinstance(median, sweep.MedianStoppingPolicy) and median.evaluation_interval == 3
    truncation = tr.v2_policy(asl.TruncationSelectionPolicy(truncation_percentage=25))
    assert truncation.truncation_percentage == 25
    assert tr.v2_policy(None) is None and tr.v2_policy(asl.NoTerminationPolicy()) is None


def test_sweep_job_yaml_holds_the_search(backend: Any, tmp_path: Path) -> None:
    trainer = hd_trainer(backend)
    job = v2.sweep_job(
        remote_spec(trainer),
        "cpu-cluster",
        "asl-recog",
        v2.training_environment(),
        tmp_path,
        "azureml:sign-train:3",
        "azureml:sign-validation:2",
    )
    path = tmp_path / "sweep.yaml"
    job.dump(path)
    spec = yaml.safe_load(path.read_text())
    assert spec["type"] == "sweep" and spec["compute"] == "azureml:cpu-cluster"
    assert job._to_job().experiment_name == "asl-recog"  # what jobs.create_or_update submits
    assert spec["sampling_algorithm"] == {"type": "random", "seed": 11, "rule": "random"}
    assert spec["search_space"] == {
        "hidden": {"type": "choice", "values": [128, 256]},
        "dropout": {"type": "uniform", "min_value": 0.1, "max_value": 0.5},
        "learning_rate": {"type": "loguniform", "min_value": -8, "max_value": -5},
    }
    assert spec["objective"] == {"primary_metric": "accuracy", "goal": "maximize"}
    assert spec["early_termination"] == {
        "type": "bandit",
        "slack_amount": 0.05,
        "evaluation_interval": 2,
        "delay_evaluation": 3,
    }
    assert spec["limits"] == {"max_total_trials": 6, "max_concurrent_trials": 2, "timeout": 2700}
    command = spec["trial"]["command"]
    assert command.startswith("python -m asl_recog.routes.hyperdrive.train_cnn --data ${{inputs.data}}")
    for name in ("validation", "builder", "seed", "epochs", "output_dir", "hidden", "dropout", "learning_rate"):
        assert f"--{name} ${{{{inputs.{name}}}}}" in command
    assert spec["inputs"]["data"] == {"type": "mltable", "path": "azureml:sign-train:3", "mode": "ro_mount"}
    assert {k: spec["inputs"][k] for k in ("builder", "epochs", "seed")} == {"builder": "seed", "epochs": 4, "seed": 0}
    environment = spec["trial"]["environment"]
    assert environment["image"] == entry.TRAINING_IMAGE
    pip = environment["conda_file"]["dependencies"][-1]["pip"]
    assert {"tensorflow>=2.16", "azureml-mlflow>=1.55"} <= set(pip) and not any("azureml-core" in p for p in pip)
    with pytest.raises(Exception):  # noqa: B017 - azure-ai-ml 1.35 cannot reload its own sweep dump
        load_job(path)

    minimize = v2.sweep_job(
        remote_spec(
            hd_trainer(
                backend,
                primary_metric_name="loss",
                primary_metric_goal="minimize",
                hyperparameter_sampling=asl.GridParameterSampling({"hidden": asl.choice(64, 128)}),
                policy=None,
                max_duration_minutes=None,
            )
        ),
        "cpu-cluster",
        "e",
        "azureml:env:1",
        tmp_path,
        "azureml:t:1",
        "azureml:v:1",
    )
    spec = minimize._to_dict()
    assert spec["objective"] == {"goal": "minimize", "primary_metric": "loss"}
    assert spec["sampling_algorithm"] == "grid" or spec["sampling_algorithm"]["type"] == "grid"
    assert "early_termination" not in spec and "timeout" not in spec["limits"]


def test_automl_job_round_trips_through_yaml(backend: Any, tmp_path: Path) -> None:
    trainer = asl.AutoMLTrainer(
        primary_metric="norm_macro_recall",
        experiment_timeout_minutes=30,
        iteration_timeout_minutes=4,
        max_iterations=20,
        max_concurrent_iterations=4,
        allowed_models=["LogisticRegression", "RandomForest"],
        blocked_models=["MLP"],
        enable_voting_ensemble=False,
        augment=False,
        featurization="off",
        backend=backend,
    )
    job = v2.automl_job(
        remote_spec(trainer), "cpu-cluster", "asl-recog", "azureml:sign-train:1", "azureml:sign-validation:1"
    )
    path = tmp_path / "automl.yaml"
    job.dump(path)
    for spec in (yaml.safe_load(path.read_text()), load_job(path)._to_dict()):
        assert spec["type"] == "automl" and spec["task"] == "classification"
        assert spec["primary_metric"] == "norm_macro_recall" and spec["target_column_name"] == "label"
        assert spec["training_data"] == {"type": "mltable", "path": "azureml:sign-train:1"}
        assert spec["validation_data"] == {"type": "mltable", "path": "azureml:sign-validation:1"}
        assert spec["limits"] == {
            "timeout_minutes": 30,
            "trial_timeout_minutes": 4,
            "max_trials": 20,
            "max_concurrent_trials": 4,
            "enable_early_termination": True,
        }
        training = spec["training"]
        assert training["allowed_training_algorithms"] == ["logistic_regression", "random_forest"]
        assert training["enable_onnx_compatible_models"] is True and training["enable_vote_ensemble"] is False
        assert training["enable_stack_ensemble"] is False
        assert spec["featurization"] == {"mode": "off"}
        assert "blocked_training_algorithms" not in training  # MLP is never run on Azure anyway


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda b: hd_trainer(b, builder=lambda p: None), "builder function"),
        (lambda b: hd_trainer(b, policy=asl.TruncationSelectionPolicy(exclude_finished_jobs=True)), "exclude_finished"),
        (
            lambda b: hd_trainer(b, hyperparameter_sampling=asl.RandomParameterSampling({"x": asl.choice(None, 1)})),
            "choice value None",
        ),
        (lambda b: hd_trainer(b, fixed_params={"epochs": [4]}), "fixed parameter"),
        (lambda b: hd_trainer(b, fixed_params={"data": "x"}), "the entry point uses these options"),
        (lambda b: asl.AutoMLTrainer(augment=False, experiment_timeout_minutes=20.5, backend=b), "whole minutes"),
        (lambda b: asl.AutoMLTrainer(augment=False, allowed_models=["MLP"], backend=b), "no counterpart"),
    ],
)
def test_untranslatable_settings_raise_at_construction(backend: Any, make: Any, message: str) -> None:
    with pytest.raises(asl.ConfigurationError, match=message) as info:
        make(backend)
    assert "SDK v2" in str(info.value)


@pytest.mark.parametrize("policy", [asl.SuccessiveHalvingPolicy(), asl.HyperbandPolicy(max_resource=9)])
def test_rung_policies_are_refused_as_local_only(backend: Any, policy: Any) -> None:
    """HyperDrive has no rung budgets: the backend refuses them at construction, naming the policy and the fix."""
    name = type(policy).__name__
    with pytest.raises(asl.ConfigurationError, match=f"SDK v2.* cannot express {name}: rung budgets") as info:
        hd_trainer(backend, policy=policy)
    message = str(info.value)
    assert "local only" in message and "use BanditPolicy, MedianStoppingPolicy or TruncationSelectionPolicy" in message
    assert f"run {name} locally (backend='local')" in message
    with pytest.raises(asl.ConfigurationError, match="local only"):
        tr.v2_policy(policy)  # the translation itself refuses too


def test_seeded_random_and_fractional_q_are_fine_on_v2(backend: Any) -> None:
    trainer = hd_trainer(
        backend, hyperparameter_sampling=asl.RandomParameterSampling({"dropout": asl.quniform(0.0, 0.5, 0.1)}, seed=4)
    )
    assert trainer.backend is backend  # both are rejected by the v1 backend, expressed by v2


def test_reading_azure_metrics_without_azureml_mlflow_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "azureml.mlflow", None)  # as if azureml-mlflow were not installed
    client = FakeMLClient(tracking_uri="azureml://westeurope.api.azureml.ms/mlflow/v1.0/subscriptions/s")
    tracker = v2.MlflowTracker(client)
    with pytest.raises(asl.MissingExtraError, match="azureml-mlflow"):
        tracker.history("job", "accuracy")


def test_from_config_builds_a_real_ml_client(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "subscription_id": "00000000-0000-0000-0000-000000000000",
                "resource_group": "rg",
                "workspace_name": "asl-ws",
                "compute": "gpu-cluster",
            }
        )
    )
    backend = asl.AzureBackend.from_config(config)
    from azure.ai.ml import MLClient

    assert isinstance(backend.ml_client, MLClient) and backend.ml_client.workspace_name == "asl-ws"
    assert backend.compute == "gpu-cluster" and backend.name == "azure"


# -- data, submission, results -----------------------------------------------------------------------------


def test_data_assets_are_registered_once_per_content(small_split: Any) -> None:
    train, validation = small_split
    client = FakeMLClient()
    first = ensure_v2_data(client, "sign-train", train)
    assert (first.asset_id, first.reused) == ("azureml:sign-train:1", False)
    upload = client.data.uploads[0]
    assert upload["type"] == "mltable" and upload["mltable"]["paths"] == [{"file": f"./{CSV_NAME}"}]
    np.testing.assert_array_equal(upload["data"].images, train.images)
    assert client.data.assets["sign-train"][0].tags["sha256"] == content_hash(train)
    again = ensure_v2_data(client, "sign-train", train)
    assert (again.asset_id, again.reused, len(client.data.uploads)) == ("azureml:sign-train:1", True, 1)
    other = ensure_v2_data(client, "sign-train", validation)
    assert (other.asset_id, len(client.data.uploads)) == ("azureml:sign-train:2", 2)


def test_automl_fit_streams_lists_children_and_loads_the_best_onnx(
    mlflow_store: Any, small_split: Any, small_test: Any, onnx_classifier: Any, tmp_path: Path
) -> None:
    blob, estimator = onnx_classifier
    runs = {
        name: logged_run(mlflow_store, {"accuracy": [score]})
        for name, score in [("lr", 0.81), ("lgbm", 0.93), ("vote", 0.88)]
    }
    children = [
        child("parent-job-1_setup", "Completed"),
        child(runs["lr"], "Completed", {"run_algorithm": "LogisticRegression", "run_preprocessor": "MaxAbsScaler"}),
        child(runs["lgbm"], "Completed", {"run_algorithm": "LightGBM"}),
        child("failed-job", "Failed", {"run_algorithm": "SVM", "score": "nan"}),
        child(runs["vote"], "Completed", {"run_algorithm": "VotingEnsemble"}),
    ]
    artifacts = {
        runs["lgbm"]: {"outputs/model.pkl": b"not loadable here"},  # best, but no ONNX model
        runs["vote"]: {"outputs/model.onnx": blob, "outputs/model.pkl": b"..."},
    }
    jobs = FakeJobs(children, artifacts)
    parent = logged_run(mlflow_store, {})  # Azure ML v2 tracks the job itself as the MLflow run of its name
    jobs.NAMES = (parent, "refit-job-1")
    client = FakeMLClient(jobs)
    backend = asl.AzureBackend(client, "cpu-cluster", tracking_uri=mlflow_store[0], poll_seconds=0)
    train, validation = small_split
    trainer = asl.AutoMLTrainer(augment=True, progress=True, run_dir=tmp_path / "run", backend=backend)
    result = trainer.fit(train, validation)

    assert [c for c in jobs.calls if c[0] != "get"] == [
        ("create_or_update", "ClassificationJob"),
        ("stream", parent),
        ("list", parent),
        ("download", runs["lgbm"]),
        ("download", runs["vote"]),
    ]
    assert jobs.submitted.training_data.path == "azureml:sign-language-mnist-train:1"
    assert jobs.submitted.validation_data.path == "azureml:sign-language-mnist-validation:1"
    assert [u["name"] for u in client.data.uploads] == ["sign-language-mnist-train", "sign-language-mnist-validation"]
    uploaded_train, uploaded_validation = (u["data"] for u in client.data.uploads)
    # augment=True: exactly the local route's table (the originals, a robust and a geometric copy
    # of each, same seed); the validation split is never augmented.
    local_images, local_labels = tabular_copies(train.images, train.labels, 0)
    assert len(uploaded_train) == 3 * len(train) and len(uploaded_validation) == len(validation)
    np.testing.assert_array_equal(uploaded_train.images, local_images)
    np.testing.assert_array_equal(uploaded_train.labels, local_labels)
    assert not np.array_equal(uploaded_train.images[len(train) : 2 * len(train)], train.images)
    assert result.backend == "azure" and result.best_score == pytest.approx(0.88)
    # The job's MLflow run, where log_comparison adds the test figures, as for a local parent run.
    experiment = mlflow_store[1].get_run(parent).info.experiment_id
    assert result.extras["mlflow"] == {"tracking_uri": mlflow_store[0], "run_id": parent, "experiment_id": experiment}
    assert result.best_params == {"algorithm": "VotingEnsemble"}
    assert list(result.leaderboard["model"]) == ["LightGBM", "VotingEnsemble", "LogisticRegression", "SVM"]
    assert result.leaderboard["status"].iloc[-1] == "failed"
    model = result.best_model
    assert model.kind == "onnx"
    assert np.mean(model.predict(small_test) == estimator.predict(small_test.flat * 255.0)) > 0.99


def test_automl_without_any_onnx_model_says_so(mlflow_store: Any, small_split: Any, tmp_path: Path) -> None:
    run = logged_run(mlflow_store, {"accuracy": [0.9]})
    jobs = FakeJobs([child(run, "Completed", {"run_algorithm": "LightGBM"})], {run: {"outputs/model.pkl": b"x"}})
    backend = asl.AzureBackend(FakeMLClient(jobs), "cpu-cluster", tracking_uri=mlflow_store[0], poll_seconds=0)
    trainer = asl.AutoMLTrainer(augment=False, progress=False, run_dir=tmp_path / "run", backend=backend)
    with pytest.raises(asl.ModelFileError, match="none of the 1 completed AutoML trials .* outputs/model.onnx"):
        trainer.fit(*small_split)


def test_sweep_fit_polls_reads_mlflow_history_and_loads_the_best_keras_model(
    mlflow_store: Any, small_split: Any, keras_bytes: bytes, tmp_path: Path
) -> None:
    # A trial's params come from its MLflow params, else its literal inputs, else the parent's tags.
    runs = [
        logged_run(mlflow_store, {"accuracy": [0.5, 0.7, 0.72]}),
        logged_run(
            mlflow_store,
            {"accuracy": [0.6, 0.82, 0.8]},
            {"hidden": 256, "dropout": 0.35, "learning_rate": 0.0004, "unrelated": "x"},
        ),
        logged_run(mlflow_store, {"accuracy": [0.3]}),
    ]
    children = [
        child(runs[0], "Completed", hidden=128, dropout=0.2, learning_rate=0.001, data=object()),
        child(runs[1], "Completed"),
        child(runs[2], "Canceled"),
    ]
    jobs = FakeJobs(children, {runs[1]: {"outputs/model.keras": keras_bytes}})
    jobs.tags = {f"_aml_system_{runs[2]}": json.dumps({"hidden": 128, "dropout": 0.45, "learning_rate": 0.002})}
    client = FakeMLClient(jobs)
    backend = asl.AzureBackend(client, "cpu-cluster", tracking_uri=mlflow_store[0], poll_seconds=0)
    train, validation = small_split
    result = hd_trainer(backend, run_dir=tmp_path / "sweep", refit=False).fit(train, validation)

    # refit=False: the sweep only, as before refit existed; no second job.
    assert [c[0] for c in jobs.calls] == ["create_or_update", "get", "get", "get", "list", "download"]  # polled
    assert len(jobs.submissions) == 1 and result.refit is False and result.refit_seconds == 0.0
    assert result.best_trial == runs[1] and "refit_skipped" not in result.extras
    assert "mlflow" not in result.extras  # the store holds no run named parent-job-1: nothing to log to
    assert jobs.staged == ["asl_recog", "train_cnn_entry.py"]
    assert type(jobs.submitted._to_job()).__name__ == "SweepJob"
    assert result.best_params == {"hidden": 256, "dropout": 0.35, "learning_rate": 0.0004}
    assert result.best_score == pytest.approx(0.80)  # the last logged value: the saved model's score
    assert result.leaderboard["history"].iloc[0] == pytest.approx([0.6, 0.82, 0.8])
    assert list(result.leaderboard["status"]) == ["completed", "completed", "canceled"]
    assert list(result.leaderboard["params"]) == [
        {"hidden": 256, "dropout": 0.35, "learning_rate": 0.0004},
        {"hidden": 128, "dropout": 0.2, "learning_rate": 0.001},
        {"hidden": 128, "dropout": 0.45, "learning_rate": 0.002},
    ]
    assert result.best_model.kind == "keras" and (tmp_path / "sweep/best/artifacts/outputs/model.keras").is_file()
    assert result.best_model.predict(validation[:4]).shape == (4,)
    shutil.rmtree(tmp_path / "sweep")


def test_the_v2_trial_command_runs_train_cnn_on_the_uploaded_folders(
    backend: Any, small_split: Any, tmp_path: Path
) -> None:
    """The sweep's command, placeholders filled as Azure fills them, runs the real entry point on
    folders written exactly as they are uploaded, and leaves a loadable model in outputs/."""
    import shlex

    from asl_recog.backends.azure._data import write_table
    from asl_recog.routes.hyperdrive import train_cnn

    train, validation = small_split
    data_dir = write_table(train[::10], tmp_path / "data", mltable=True)
    validation_dir = write_table(validation[::6], tmp_path / "validation", mltable=True)
    trainer = hd_trainer(
        backend,
        hyperparameter_sampling=asl.RandomParameterSampling(
            {"hidden": asl.quniform(16, 64, 16), "dropout": asl.uniform(0.1, 0.5)}
        ),
        fixed_params={"epochs": 1},
    )
    job = v2.sweep_job(
        remote_spec(trainer), "cpu-cluster", "e", "azureml:env:1", tmp_path, "azureml:t:1", "azureml:v:1"
    )
    values = {
        "data": data_dir,
        "validation": validation_dir,
        "builder": "seed",
        "seed": 0,
        "epochs": 1,
        "output_dir": tmp_path / "outputs",
        "hidden": 32.0,
        "dropout": 0.25,
    }  # quantized values come as floats
    command = job.trial.command
    for name, value in values.items():
        command = command.replace(f"${{{{inputs.{name}}}}}", str(value))
    argv = shlex.split(command)
    assert argv[:3] == ["python", "-m", "asl_recog.routes.hyperdrive.train_cnn"] and "${{" not in command
    metrics = train_cnn.main(argv[3:])
    model = asl.Model.load(tmp_path / "outputs" / "model.keras")
    assert model.params["hidden"] == 32 and model.params["epochs"] == 1
    assert 0.0 <= metrics["accuracy"] <= 1.0 and model.predict(validation[:3]).shape == (3,)


# -- refit after the sweep, AutoML's refit, the model-size budget ------------------------------------------


def sweep_children(store: Any) -> tuple[list[Any], list[str]]:
    """Three trials; the winner's curve peaks at epochs 2 and 3, so the refit trains 3 (the latest best)."""
    runs = [
        logged_run(
            store, {"accuracy": [0.5, 0.7, 0.72, 0.71]}, {"hidden": 128, "dropout": 0.2, "learning_rate": 0.001}
        ),
        logged_run(
            store, {"accuracy": [0.6, 0.82, 0.82, 0.8]}, {"hidden": 256, "dropout": 0.35, "learning_rate": 0.0004}
        ),
        logged_run(store, {"accuracy": [0.3]}, {"hidden": 128, "dropout": 0.45, "learning_rate": 0.002}),
    ]
    return [child(runs[0], "Completed"), child(runs[1], "Completed"), child(runs[2], "Canceled")], runs


@pytest.fixture(scope="module")
def refit_outputs(backend: Any, small_split: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """The v2 refit job's command, placeholders filled as Azure fills them, run through the real entry
    point on folders written exactly as they are uploaded: (its outputs/ folder, the argv, its metrics)."""
    import shlex

    from asl_recog.backends.azure import _refit as refit
    from asl_recog.backends.azure._data import write_table
    from asl_recog.routes.hyperdrive import train_cnn

    train, validation = small_split
    root = tmp_path_factory.mktemp("refit")
    folders = {
        "data": write_table(train[::10], root / "data", mltable=True),
        "validation": write_table(validation[::6], root / "validation", mltable=True),
        "output_dir": root / "outputs",
    }
    trainer = hd_trainer(
        backend, hyperparameter_sampling=asl.RandomParameterSampling({"hidden": asl.quniform(16, 64, 16)})
    )
    plan = refit.RefitPlan("trial-7", {"hidden": 32.0, "epochs": 2}, 2, len(train[::10]) + len(validation[::6]))
    job = refit.v2_refit_job(
        remote_spec(trainer), plan, "cpu-cluster", "e", "azureml:env:1", root, "azureml:t:1", "azureml:v:1"
    )
    spec = job._to_job()._to_dict()
    command = spec["command"]
    for name, value in spec["inputs"].items():
        command = command.replace(f"${{{{inputs.{name}}}}}", str(folders.get(name, value)))
    argv = shlex.split(command)
    return root / "outputs", (argv, train_cnn.main(argv[3:]))


def test_the_v2_refit_command_trains_train_cnn_on_both_folders_without_holding_out(
    refit_outputs: Any, small_split: Any
) -> None:
    from asl_recog.routes.hyperdrive import train_cnn

    outputs, (argv, metrics) = refit_outputs
    train, validation = small_split
    assert argv[:3] == ["python", "-m", "asl_recog.routes.hyperdrive.train_cnn"] and "--refit" in argv
    assert not any("${{" in a for a in argv)
    args, params = train_cnn.parse_args(argv[3:])
    assert args.refit is True and params == {"hidden": 32, "epochs": 2}  # --refit is an option, not a param
    assert train_cnn.parse_args(["--hidden", "16"])[0].refit is False  # trials never refit
    both = len(train[::10]) + len(validation[::6])
    assert metrics["refit_images"] == both and metrics["epochs"] == 2
    assert "accuracy" not in metrics  # nothing was held out, so no validation score is claimed
    assert 0.0 <= metrics["train_accuracy"] <= 1.0 and np.isfinite(metrics["train_loss"])
    model = asl.Model.load(outputs / "model.keras")
    assert model.info["refit"] is True and model.info["refit_images"] == both and model.info["refit_epochs"] == 2
    assert model.params["hidden"] == 32 and model.predict(validation[:3]).shape == (3,)


def test_sweep_refit_submits_one_command_job_on_all_the_data_for_the_best_epoch(
    mlflow_store: Any, small_split: Any, keras_bytes: bytes, refit_outputs: Any, tmp_path: Path
) -> None:
    children, runs = sweep_children(mlflow_store)
    refit_file = refit_outputs[0] / "model.keras"
    artifacts = {
        runs[1]: {"outputs/model.keras": keras_bytes},
        "refit-job-1": {"outputs/model.keras": refit_file.read_bytes()},
    }
    jobs = FakeJobs(children, artifacts)
    client = FakeMLClient(jobs)
    backend = asl.AzureBackend(client, "cpu-cluster", tracking_uri=mlflow_store[0], poll_seconds=0)
    train, validation = small_split
    result = hd_trainer(backend, run_dir=tmp_path / "sweep").fit(train, validation)  # refit=True: the default

    assert [c for c in jobs.calls if c[0] != "get"] == [
        ("create_or_update", "Sweep"),
        ("list", "parent-job-1"),
        ("download", runs[1]),
        ("create_or_update", "Command"),
        ("download", "refit-job-1"),
    ]
    assert [u["name"] for u in client.data.uploads] == ["sign-language-mnist-train", "sign-language-mnist-validation"]
    job = jobs.submissions[1]
    path = tmp_path / "refit.yaml"
    job._to_job().dump(path)
    # The real CommandJob in its YAML form (not reloaded: its staged code folder is gone after submit).
    spec = yaml.safe_load(path.read_text())
    assert spec["type"] == "command" and spec["compute"] == "azureml:cpu-cluster"
    assert spec["experiment_name"] == "asl-recog"
    assert spec["command"].startswith(
        "python -m asl_recog.routes.hyperdrive.train_cnn --data ${{inputs.data}} "
        "--validation ${{inputs.validation}} --refit "
    )
    for name in ("builder", "seed", "epochs", "output_dir", "hidden", "dropout", "learning_rate"):
        assert f"--{name} ${{{{inputs.{name}}}}}" in spec["command"]
    # Both registered parts (training + validation), the sweep's own assets: the full data.
    assert spec["inputs"]["data"] == {
        "type": "mltable",
        "path": "azureml:sign-language-mnist-train:1",
        "mode": "ro_mount",
    }
    assert spec["inputs"]["validation"] == {
        "type": "mltable",
        "path": "azureml:sign-language-mnist-validation:1",
        "mode": "ro_mount",
    }
    literals = {k: v for k, v in spec["inputs"].items() if k not in ("data", "validation")}
    # The best trial's params; epochs 3, the latest best epoch of its curve, over the fixed 4.
    assert literals == {
        "builder": "seed",
        "seed": 0,
        "epochs": 3,
        "output_dir": "outputs",
        "hidden": 256,
        "dropout": 0.35,
        "learning_rate": 0.0004,
    }
    assert spec["environment"]["image"] == entry.TRAINING_IMAGE
    assert jobs.staged_each[1] == ["asl_recog", "train_cnn_entry.py"]  # the code is staged for the refit too

    assert result.refit is True and result.refit_seconds > 0 and result.best_trial == runs[1]
    assert result.best_score == pytest.approx(0.80)  # the selection score stays the trial's validation score
    assert result.best_params == {"hidden": 256, "dropout": 0.35, "learning_rate": 0.0004, "epochs": 3}
    model = result.best_model
    assert {k: model.params[k] for k in result.best_params} == result.best_params
    assert (model.info["refit"], model.info["refit_epochs"], model.info["selected_trial"]) == (True, 3, runs[1])
    assert model.info["refit_images"] == len(train) + len(validation)
    np.testing.assert_allclose(
        model.predict_proba(validation[:8]),  # the refit job's model, not the trial's
        asl.Model.load(refit_file).predict_proba(validation[:8]),
        atol=1e-6,
    )

    again = FakeJobs(children, artifacts)
    baseline = hd_trainer(
        asl.AzureBackend(FakeMLClient(again), "cpu-cluster", tracking_uri=mlflow_store[0], poll_seconds=0),
        run_dir=tmp_path / "plain",
        refit=False,
    ).fit(train, validation)
    pd.testing.assert_frame_equal(result.leaderboard, baseline.leaderboard)  # the leaderboard is the sweep's


def test_a_failed_refit_job_keeps_the_trial_model_and_says_why(
    mlflow_store: Any, small_split: Any, keras_bytes: bytes, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    children, runs = sweep_children(mlflow_store)
    jobs = FakeJobs(children, {runs[1]: {"outputs/model.keras": keras_bytes}}, statuses={"refit-job-1": "Failed"})
    backend = asl.AzureBackend(FakeMLClient(jobs), "cpu-cluster", tracking_uri=mlflow_store[0], poll_seconds=0)
    train, validation = small_split
    with caplog.at_level(logging.INFO, logger="asl_recog"):
        result = hd_trainer(backend, run_dir=tmp_path / "sweep").fit(train, validation)  # never raises

    assert len(jobs.submissions) == 2 and result.refit is False and result.best_trial == runs[1]
    assert "refit-job-1 ended with status Failed" in result.extras["refit_skipped"]
    assert "refit" not in result.best_model.info and result.best_params == {
        "hidden": 256,
        "dropout": 0.35,
        "learning_rate": 0.0004,
    }
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name == "asl_recog"] == [
        f"refit model not used: {result.extras['refit_skipped']}; keeping trial {runs[1]}'s own model"
    ]


def test_automl_refit_is_left_to_azure_and_the_result_says_so(
    mlflow_store: Any, small_split: Any, onnx_classifier: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run = logged_run(mlflow_store, {"accuracy": [0.9]})
    jobs = FakeJobs(
        [child(run, "Completed", {"run_algorithm": "LightGBM"})], {run: {"outputs/model.onnx": onnx_classifier[0]}}
    )
    backend = asl.AzureBackend(FakeMLClient(jobs), "cpu-cluster", tracking_uri=mlflow_store[0], poll_seconds=0)
    trainer = asl.AutoMLTrainer(augment=False, progress=False, run_dir=tmp_path / "run", backend=backend)
    assert trainer.refit is True  # the default
    with caplog.at_level(logging.INFO, logger="asl_recog"):
        result = trainer.fit(*small_split)

    assert len(jobs.submissions) == 1  # no job of ours retrains an AutoML pipeline
    assert result.refit is False and result.refit_seconds == 0.0 and result.best_trial == run
    assert result.extras["refit"].startswith("left to Azure") and "validation_data" in result.extras["refit"]
    ours = [r for r in caplog.records if r.name == "asl_recog" and "refit" in r.getMessage()]
    assert [(r.levelno, r.getMessage()) for r in ours] == [
        (logging.INFO, f"refit on Azure AutoML: {result.extras['refit']}")
    ]  # once, and not a warning


@pytest.fixture(scope="module")
def large_onnx(small_split: Any) -> bytes:
    """A real ONNX KNN classifier: it stores its training rows, so it is several times the GaussianNB one."""
    from sklearn.neighbors import KNeighborsClassifier

    return azure_automl_onnx(KNeighborsClassifier(3), small_split[0][::8])[0]


def test_an_automl_model_over_the_size_budget_is_skipped_with_the_reason(
    mlflow_store: Any, small_split: Any, small_test: Any, onnx_classifier: Any, large_onnx: bytes, tmp_path: Path
) -> None:
    blob, estimator = onnx_classifier
    budget_mb = (len(blob) + len(large_onnx)) / 2 / 1e6  # between the two files' sizes
    runs = {name: logged_run(mlflow_store, {"accuracy": [score]}) for name, score in [("knn", 0.95), ("nb", 0.9)]}
    children = [
        child(runs["knn"], "Completed", {"run_algorithm": "KNN"}),
        child(runs["nb"], "Completed", {"run_algorithm": "GaussianNB"}),
    ]
    artifacts = {runs["knn"]: {"outputs/model.onnx": large_onnx}, runs["nb"]: {"outputs/model.onnx": blob}}
    jobs = FakeJobs(children, artifacts)
    backend = asl.AzureBackend(FakeMLClient(jobs), "cpu-cluster", tracking_uri=mlflow_store[0], poll_seconds=0)
    trainer = asl.AutoMLTrainer(
        augment=False, progress=False, max_model_size_mb=budget_mb, run_dir=tmp_path / "run", backend=backend
    )
    result = trainer.fit(*small_split)

    assert result.best_trial == runs["nb"] and result.best_score == pytest.approx(0.9)
    np.testing.assert_array_equal(result.best_model.predict(small_test), estimator.predict(small_test.flat * 255.0))
    board = result.leaderboard.set_index("trial")
    reason = board.at[runs["knn"], "error"]
    assert board.at[runs["knn"], "status"] == "failed" and board.at[runs["nb"], "status"] == "completed"
    assert reason.startswith(
        f"rejected: its model model.onnx is {len(large_onnx) / 1e6:.1f} MB, over max_model_size_mb={budget_mb:g}"
    )
    assert result.leaderboard["trial"].iloc[0] == runs["nb"]  # the chosen trial heads the leaderboard
    assert result.extras["rejected_for_size"] == {runs["knn"]: reason}
    assert not (tmp_path / "run/best" / runs["knn"] / "artifacts/outputs/model.onnx").exists()  # never used

    small = asl.AutoMLTrainer(
        augment=False,
        progress=False,
        max_model_size_mb=len(blob) / 2 / 1e6,
        run_dir=tmp_path / "none",
        backend=asl.AzureBackend(
            FakeMLClient(FakeJobs(children, artifacts)), "cpu-cluster", tracking_uri=mlflow_store[0], poll_seconds=0
        ),
    )
    with pytest.raises(
        asl.TrialFailedError, match="every completed Azure trial with a model was over max_model_size_mb"
    ):
        small.fit(*small_split)
