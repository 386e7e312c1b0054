"""AzureMLBackend (SDK v1), offline: the jobs, with a fake workspace only where the SDK would call Azure
(experiment submit, dataset registry, uploads): datasets uploaded once per content, AutoML and
HyperDrive fits submitted, streamed and their best models loaded, and the trial command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("azureml.core", reason="the 'azureml' extra (azureml-core) is not installed")
pytest.importorskip("azureml.train.hyperdrive", reason="the 'azureml' extra (azureml-train-core) is not installed")
pytest.importorskip("azureml.train.automl", reason="the 'azureml' extra (azureml-train-automl-client) is not installed")

from azure_fakes import FakeParentRun, FakeRun, FakeWorkspace, Registry, fake_experiment
from factories import azure_automl_onnx

import asl_recog as asl
from asl_recog.backends import remote_spec
from asl_recog.backends.azure._data import LAUNCHER, content_hash, ensure_v1_dataset
from asl_recog.backends.azure.v1 import _backend as v1

from .v1_helpers import V1_MARKS, hd_trainer

pytestmark = V1_MARKS


# -- fixtures ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def azure_style_onnx(small_split: Any) -> tuple[bytes, Any]:
    """A real ONNX classifier shaped like Azure AutoML's: raw 0-255 pixels in, dataset labels out."""
    from sklearn.naive_bayes import GaussianNB

    return azure_automl_onnx(GaussianNB(), small_split[0])  # fits in milliseconds


# -- data, submission, results -----------------------------------------------------------------------------


def test_datasets_are_uploaded_once_per_content(registry: Registry, workspace: FakeWorkspace, small_split: Any) -> None:
    train, validation = small_split
    first = ensure_v1_dataset(workspace, "sign-train", train)
    assert not first.reused and len(registry.uploads) == 1
    target, uploaded = registry.uploads[0]
    assert target[0] is workspace.datastore and target[1].endswith(content_hash(train)[:16])
    np.testing.assert_array_equal(uploaded.images, train.images)  # the CSV round-trips through load_sign_mnist
    np.testing.assert_array_equal(uploaded.labels, train.labels)
    assert first.tabular.tags["sha256"] == content_hash(train) and first.tabular.version == 1
    assert "sign_mnist_train.csv" in str(first.tabular) and "column_type: int" in str(first.tabular)

    again = ensure_v1_dataset(workspace, "sign-train", train)
    assert again.reused and again.tabular is first.tabular and len(registry.uploads) == 1

    changed = ensure_v1_dataset(workspace, "sign-train", validation)
    assert not changed.reused and changed.tabular.version == 2 and len(registry.uploads) == 2


def test_automl_fit_submits_streams_picks_the_best_onnx_run_and_loads_it(
    backend: Any,
    registry: Registry,
    small_split: Any,
    small_test: Any,
    azure_style_onnx: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    blob, estimator = azure_style_onnx
    children = [
        FakeRun("AutoML_1_setup", "Completed", {}),  # setup run: no algorithm, skipped
        FakeRun(
            "AutoML_1_0",
            "Completed",
            {"accuracy": 0.81},
            {"run_algorithm": "LogisticRegression", "run_preprocessor": "MaxAbsScaler"},
            {"outputs/model.onnx": b"never downloaded"},
        ),
        FakeRun(
            "AutoML_1_1", "Completed", {"accuracy": 0.93}, {"run_algorithm": "LightGBM"}, {"outputs/model.pkl": b"..."}
        ),  # best score, but no ONNX model
        FakeRun("AutoML_1_2", "Failed", {}, {"run_algorithm": "SVM"}),
        FakeRun(
            "AutoML_1_3",
            "Completed",
            {"accuracy": 0.88},
            {"run_algorithm": "VotingEnsemble"},
            {"outputs/model.onnx": blob, "outputs/model.pkl": b"..."},
        ),
    ]
    parent = FakeParentRun(children)
    calls = fake_experiment(monkeypatch, parent)
    train, validation = small_split
    trainer = asl.AutoMLTrainer(
        augment=False,
        allowed_models=["LogisticRegression", "LightGBM", "SVM"],
        progress=True,
        run_dir=tmp_path / "run",
        backend=backend,
    )
    result = trainer.fit(train, validation)

    assert calls[0] == {"workspace": backend.workspace, "name": "asl-recog"}
    config = calls[1]["config"]
    assert config.user_settings["training_data"].name == "sign-language-mnist-train"
    assert config.user_settings["validation_data"].name == "sign-language-mnist-validation"
    assert [len(d) for _, d in registry.uploads] == [len(train), len(validation)]
    assert parent.waited == [{"show_output": True, "raise_on_error": False}]
    assert children[4].downloads == ["outputs/model.onnx"] and children[1].downloads == []

    assert result.backend == "azureml" and result.best_score == 0.88
    assert result.best_params == {"algorithm": "VotingEnsemble"} and result.best_trial == "AutoML_1_3"
    # refit=True (the default) is Azure's on this route: no job of ours, and the result says why.
    assert sum("config" in c for c in calls) == 1 and result.refit is False
    assert result.extras["refit"].startswith("left to Azure") and "validation_data" in result.extras["refit"]
    assert list(result.leaderboard["trial"]) == ["AutoML_1_1", "AutoML_1_3", "AutoML_1_0", "AutoML_1_2"]
    assert list(result.leaderboard["status"]) == ["completed", "completed", "completed", "failed"]
    assert result.leaderboard["duration_s"].iloc[0] == 90.0
    model = result.best_model
    assert isinstance(model, asl.Model) and model.kind == "onnx" and (tmp_path / "run/best/model.onnx").is_file()
    expected = estimator.predict(small_test.flat * 255.0)
    assert np.mean(model.predict(small_test) == expected) > 0.99  # the downloaded graph is the trained one
    assert model.info["validation_score"] == 0.88 and model.info["algorithm"] == "VotingEnsemble"


def test_hyperdrive_fit_stages_the_package_submits_and_loads_the_best_keras_model(
    backend: Any,
    registry: Registry,
    small_split: Any,
    keras_bytes: bytes,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    files = {"outputs/model.keras": keras_bytes}
    children = [
        FakeRun("HD_1_0", "Completed", {"accuracy": [0.50, 0.70, 0.72]}, files=files),
        FakeRun("HD_1_1", "Completed", {"accuracy": [0.60, 0.80, 0.78]}, files=files),  # best value 0.80
        FakeRun("HD_1_2", "Canceled", {"accuracy": [0.40]}),  # stopped by the Bandit policy
        FakeRun("HD_1_3", "Failed", {}),
    ]
    params = {
        f"HD_1_{i}": json.dumps({"--hidden": h, "--dropout": d, "--batch_size": b})
        for i, (h, d, b) in enumerate([(128, 0.2, 64), (256, 0.3, 128), (128, 0.4, 32), (256, 0.1, 64)])
    }
    parent = FakeParentRun(children, params)
    staged: dict[str, Any] = {}

    def on_submit(config: Any) -> None:  # the code snapshot is taken at submit, while the folder exists
        folder = Path(config.run_config.source_directory)
        staged.update(
            launcher=(folder / LAUNCHER).read_text(),
            package=(folder / "asl_recog" / "__init__.py").is_file(),
            pycache=any(folder.rglob("__pycache__")),
        )

    calls = fake_experiment(monkeypatch, parent, on_submit)  # a second submit would fail the test
    train, validation = small_split
    result = hd_trainer(backend, run_dir=tmp_path / "hd", progress=True, refit=False).fit(train, validation)

    assert sum("config" in c for c in calls) == 1 and result.refit is False and result.best_trial == "HD_1_1"
    config = calls[1]["config"]
    assert config._generator_config["parameter_space"]["--hidden"] == ["choice", [[128, 256]]]
    arguments = config.run_config.arguments
    assert arguments[0] == "--data" and arguments[2] == "--validation"
    assert {type(arguments[1]).__name__, type(arguments[3]).__name__} == {"DatasetConsumptionConfig"}
    assert arguments[1].name == "train" and arguments[3].name == "validation"
    assert staged == {"launcher": staged["launcher"], "package": True, "pycache": False}
    assert "asl_recog.routes.hyperdrive.train_cnn" in staged["launcher"]
    assert parent.waited == [{"show_output": True, "raise_on_error": False}]

    assert result.best_params == {"hidden": 256, "dropout": 0.3, "batch_size": 128}
    assert result.best_score == pytest.approx(0.78) and result.primary_metric == "accuracy"  # last logged value
    assert list(result.leaderboard["trial"]) == ["HD_1_1", "HD_1_0", "HD_1_2", "HD_1_3"]
    assert result.leaderboard["history"].iloc[0] == [0.60, 0.80, 0.78]
    assert list(result.leaderboard["status"]) == ["completed", "completed", "canceled", "failed"]
    assert children[1].downloads == ["outputs"] and children[0].downloads == []
    model = result.best_model
    assert model.kind == "keras" and model.predict_proba(validation[:5]).shape == (5, 24)
    assert model.params["hidden"] == 256


def test_no_completed_trial_raises_trial_failed(
    backend: Any, registry: Registry, small_split: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    parent = FakeParentRun([FakeRun("HD_2_0", "Failed", {}), FakeRun("HD_2_1", "Canceled", {"accuracy": [0.3]})])
    fake_experiment(monkeypatch, parent)
    with pytest.raises(asl.TrialFailedError, match="failed"):
        hd_trainer(backend, run_dir=tmp_path / "hd").fit(*small_split)


def test_the_v1_trial_command_line_is_accepted_by_train_cnn(backend: Any, tmp_path: Path) -> None:
    """What a v1 trial runs: the launcher's arguments with mounted paths, plus HyperDrive's sampled pairs."""
    from asl_recog.routes.hyperdrive import train_cnn

    # augment is the default builder's param (the seed builder has none).
    trainer = hd_trainer(backend, builder="default", fixed_params={"epochs": 4, "augment": False})
    src = v1.script_run_config(
        remote_spec(trainer), tmp_path, "cpu-cluster", v1.training_environment(), "/mnt/train", "/mnt/validation"
    )
    # HyperDrive appends the sampled values; quantized ones arrive as floats such as 64.0.
    argv = [str(a) for a in src.arguments] + ["--hidden", "256", "--dropout", "0.35", "--batch_size", "64.0"]
    args, params = train_cnn.parse_args(argv)
    assert (args.data, args.validation, args.builder, args.seed, args.output_dir) == (
        "/mnt/train",
        "/mnt/validation",
        "default",
        0,
        "outputs",
    )
    assert params == {"hidden": 256, "dropout": 0.35, "batch_size": 64, "epochs": 4, "augment": False}
