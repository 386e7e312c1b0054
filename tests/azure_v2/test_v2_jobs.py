"""AzureBackend (SDK v2), offline: the jobs, with a fake MLClient (jobs, data) where the SDK would call
Azure and child metrics read through real MLflow from a local store: data assets registered once per
content, AutoML and sweep fits submitted, streamed and their best models loaded, the trial command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("azure.ai.ml", reason="the 'azure' extra (azure-ai-ml) is not installed")
pytest.importorskip("mlflow", reason="the 'azure' extra (mlflow-skinny) is not installed")

from azure_fakes import FakeJobs, FakeMLClient, child, logged_run

import asl_recog as asl
from asl_recog.backends import remote_spec
from asl_recog.backends.azure._data import CSV_NAME, content_hash, ensure_v2_data
from asl_recog.backends.azure.v2 import _backend as v2
from asl_recog.data._augment import tabular_copies

from .v2_helpers import hd_trainer

pytestmark = pytest.mark.azure


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
