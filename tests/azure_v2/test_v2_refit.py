"""AzureBackend (SDK v2), offline: the refit after the sweep (one command job on all the data for the
best epoch, its command run through the real entry point, a failed refit), AutoML's refit left to
Azure, and the model-size budget."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

pytest.importorskip("azure.ai.ml", reason="the 'azure' extra (azure-ai-ml) is not installed")
pytest.importorskip("mlflow", reason="the 'azure' extra (mlflow-skinny) is not installed")

from azure_fakes import FakeJobs, FakeMLClient, child, logged_run
from factories import azure_automl_onnx

import asl_recog as asl
from asl_recog.backends import remote_spec
from asl_recog.backends.azure import _job as entry

from .v2_helpers import hd_trainer

pytestmark = pytest.mark.azure


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
