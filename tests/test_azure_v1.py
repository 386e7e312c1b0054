"""AzureMLBackend (SDK v1), offline: the real azureml objects built from our specs, and a fake
workspace only where the SDK would call Azure (experiment submit, dataset registry, uploads)."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("azureml.core", reason="the 'azureml' extra (azureml-core) is not installed")
pytest.importorskip("azureml.train.hyperdrive", reason="the 'azureml' extra (azureml-train-core) is not installed")
pytest.importorskip("azureml.train.automl", reason="the 'azureml' extra (azureml-train-automl-client) is not installed")

import azureml.core
from azure_fakes import FakeParentRun, FakeRun, FakeWorkspace, Registry, fake_experiment, install_registry
from azureml.data.dataset_factory import TabularDatasetFactory
from factories import azure_automl_onnx, small_keras_bytes

import asl_recog as asl
from asl_recog.backends import remote_spec
from asl_recog.backends.azure import _refit as refit
from asl_recog.backends.azure import _translate as tr
from asl_recog.backends.azure._data import LAUNCHER, content_hash, ensure_v1_dataset
from asl_recog.backends.azure.v1 import _backend as v1

pytestmark = [
    pytest.mark.azure,
    # azureml-core's conda handling calls ruamel.yaml APIs that warn of their removal; not ours to fix.
    pytest.mark.filterwarnings(r"ignore:(?s).*will be removed, use"),
]


# -- fakes at the network seams (tests/azure_fakes.py) ------------------------------------------------


@pytest.fixture()
def registry(monkeypatch: pytest.MonkeyPatch) -> Registry:
    return install_registry(monkeypatch)


# -- fixtures ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workspace() -> FakeWorkspace:
    return FakeWorkspace()


@pytest.fixture(scope="module")
def backend(workspace: FakeWorkspace) -> asl.AzureMLBackend:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return asl.AzureMLBackend(workspace, "cpu-cluster")


@pytest.fixture(scope="module")
def azure_style_onnx(small_split: Any) -> tuple[bytes, Any]:
    """A real ONNX classifier shaped like Azure AutoML's: raw 0-255 pixels in, dataset labels out."""
    from sklearn.naive_bayes import GaussianNB

    return azure_automl_onnx(GaussianNB(), small_split[0])  # fits in milliseconds


@pytest.fixture(scope="module")
def keras_bytes(tmp_path_factory: pytest.TempPathFactory, small_split: Any) -> bytes:
    """A real small Keras network trained one epoch, saved as .keras (what train_cnn leaves in outputs/)."""
    return small_keras_bytes(tmp_path_factory.mktemp("keras"), small_split[0])


def hd_trainer(backend: Any, **overrides: Any) -> asl.HyperDriveTrainer:
    settings: dict[str, Any] = dict(
        builder="seed",
        hyperparameter_sampling=asl.RandomParameterSampling(
            {"hidden": asl.choice(128, 256), "dropout": asl.uniform(0.1, 0.5), "batch_size": asl.quniform(32, 256, 32)}
        ),
        policy=asl.BanditPolicy(slack_factor=0.1, evaluation_interval=2, delay_evaluation=3),
        max_total_runs=6,
        max_concurrent_runs=2,
        max_duration_minutes=90,
        fixed_params={"epochs": 4},
        progress=False,
        backend=backend,
    )
    settings.update(overrides)
    return asl.HyperDriveTrainer(**settings)


# -- translation to real SDK v1 objects ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (asl.choice(16, 32, 64), ["choice", [[16, 32, 64]]]),
        (asl.choice("relu", "tanh"), ["choice", [["relu", "tanh"]]]),
        (asl.randint(5), ["randint", [5]]),
        (asl.uniform(0.1, 0.5), ["uniform", [0.1, 0.5]]),
        (asl.quniform(32, 256, 32), ["quniform", [32, 256, 32]]),
        (asl.loguniform(-7, -4), ["loguniform", [-7, -4]]),
        (asl.qloguniform(2, 6, 8), ["qloguniform", [2, 6, 8]]),
        (asl.normal(0.3, 0.05), ["normal", [0.3, 0.05]]),
        (asl.qnormal(64, 16, 8), ["qnormal", [64, 16, 8]]),
        (asl.lognormal(-6, 1), ["lognormal", [-6, 1]]),
        (asl.qlognormal(4, 0.5, 2), ["qlognormal", [4, 0.5, 2]]),
    ],
)
def test_every_expression_maps_to_its_v1_counterpart(expr: Any, expected: list) -> None:
    assert tr.v1_expression("p", expr) == expected


def test_samplings_policies_and_goal_become_v1_objects() -> None:
    from azureml.train import hyperdrive as hd

    space = {"hidden": asl.choice(128, 256), "lr": asl.uniform(0.001, 0.01)}
    random = tr.v1_sampling(asl.RandomParameterSampling(space))
    assert isinstance(random, hd.RandomParameterSampling)
    assert random.to_json() == {
        "name": "RANDOM",
        "parameter_space": {"--hidden": ["choice", [[128, 256]]], "--lr": ["uniform", [0.001, 0.01]]},
    }
    assert tr.v1_sampling(asl.GridParameterSampling({"hidden": asl.choice(1, 2)})).to_json()["name"] == "GRID"
    bayes = tr.v1_sampling(asl.BayesianParameterSampling({"n": asl.quniform(16, 128, 16), "lr": asl.uniform(0, 1)}))
    assert bayes.to_json()["name"] == "BayesianOptimization"

    assert tr.v1_policy(asl.BanditPolicy(slack_factor=0.2, evaluation_interval=2, delay_evaluation=5)).to_json() == {
        "name": "Bandit",
        "properties": {"evaluation_interval": 2, "delay_evaluation": 5, "slack_factor": 0.2},
    }
    assert tr.v1_policy(asl.BanditPolicy(slack_amount=0.05)).to_json()["properties"]["slack_amount"] == 0.05
    assert tr.v1_policy(asl.MedianStoppingPolicy(evaluation_interval=1, delay_evaluation=4)).to_json() == {
        "name": "MedianStopping",
        "properties": {"evaluation_interval": 1, "delay_evaluation": 4},
    }
    assert tr.v1_policy(asl.TruncationSelectionPolicy(truncation_percentage=20, delay_evaluation=2)).to_json() == {
        "name": "TruncationSelection",
        "properties": {
            "evaluation_interval": 1,
            "delay_evaluation": 2,
            "truncation_percentage": 20,
            "exclude_finished_jobs": False,
        },
    }
    excluding = tr.v1_policy(asl.TruncationSelectionPolicy(truncation_percentage=30, exclude_finished_jobs=True))
    assert excluding.to_json()["properties"]["exclude_finished_jobs"] is True
    assert tr.v1_policy(None).to_json()["name"] == "Default"
    assert tr.v1_policy(asl.NoTerminationPolicy()).to_json()["name"] == "Default"
    assert tr.v1_goal(asl.PrimaryMetricGoal.MINIMIZE) is hd.PrimaryMetricGoal.MINIMIZE


def test_hyperdrive_config_and_script_run_config_carry_the_trainer_settings(backend: Any, tmp_path: Path) -> None:
    from azureml.core.script_run_config import get_run_config_from_script_run

    trainer = hd_trainer(backend)
    src = v1.script_run_config(
        remote_spec(trainer), tmp_path, "cpu-cluster", v1.training_environment(), "TRAIN", "VALID"
    )
    config = v1.hyperdrive_config(remote_spec(trainer), src)
    assert config._generator_config == {
        "name": "RANDOM",
        "parameter_space": {
            "--hidden": ["choice", [[128, 256]]],
            "--dropout": ["uniform", [0.1, 0.5]],
            "--batch_size": ["quniform", [32, 256, 32]],
        },
    }
    assert config._policy_config == {
        "name": "Bandit",
        "properties": {"evaluation_interval": 2, "delay_evaluation": 3, "slack_factor": 0.1},
    }
    assert config._primary_metric_config == {"name": "accuracy", "goal": "maximize"}
    assert (config._max_total_runs, config._max_concurrent_runs, config._max_duration_minutes) == (6, 2, 90)

    run_config = get_run_config_from_script_run(src)
    assert run_config.script == LAUNCHER and run_config.target == "cpu-cluster"
    assert run_config.arguments == [
        "--data",
        "TRAIN",
        "--validation",
        "VALID",
        "--builder",
        "seed",
        "--seed",
        0,
        "--epochs",
        4,
        "--output_dir",
        "outputs",
    ]
    pip = run_config.environment.python.conda_dependencies.pip_packages
    assert {"tensorflow>=2.16", "scikit-learn>=1.4", "azureml-core>=1.55"} <= set(pip)
    assert not any("azure-ai-ml" in p or "pytest" in p for p in pip)  # extras are not training requirements
    assert "python=3.11" in run_config.environment.python.conda_dependencies.serialize_to_string()

    loss = v1.hyperdrive_config(
        remote_spec(
            hd_trainer(
                backend,
                primary_metric_name="loss",
                primary_metric_goal="minimize",
                max_duration_minutes=None,
                policy=None,
            )
        ),
        src,
    )
    assert loss._primary_metric_config == {"name": "loss", "goal": "minimize"}
    assert loss._max_duration_minutes == tr.MAX_DURATION_MINUTES and loss._policy_config["name"] == "Default"


def test_automl_config_is_built_from_the_trainer(backend: Any) -> None:
    data = TabularDatasetFactory.from_delimited_files(
        path="https://example.invalid/t.csv", validate=False, infer_column_types=False
    )
    valid = TabularDatasetFactory.from_delimited_files(
        path="https://example.invalid/v.csv", validate=False, infer_column_types=False
    )
    trainer = asl.AutoMLTrainer(
        primary_metric="AUC_weighted",
        experiment_timeout_minutes=45,
        iteration_timeout_minutes=3,
        max_iterations=12,
        enable_early_stopping=False,
        max_concurrent_iterations=3,
        allowed_models=["SVM", "LightGBM", "KNN"],
        blocked_models=["KNN", "MLP"],
        enable_voting_ensemble=False,
        augment=False,
        featurization="off",
        backend=backend,
    )
    config = v1.automl_config(remote_spec(trainer), "cpu-cluster", data, valid)
    s = config.user_settings
    assert s["task_type"] == "classification" and s["primary_metric"] == "AUC_weighted"
    assert s["experiment_timeout_minutes"] == 45 and s["iteration_timeout_minutes"] == 3  # 0.75 h back in minutes
    assert s["iterations"] == 12 and s["max_concurrent_iterations"] == 3 and s["enable_early_stopping"] is False
    assert s["enable_onnx_compatible_models"] is True and s["enable_voting_ensemble"] is False
    assert s["enable_stack_ensemble"] is False and s["featurization"] == "off"
    assert s["label_column_name"] == "label" and s["compute_target"] == "cpu-cluster"
    assert s["allowed_models"] == ["SVM", "LightGBM", "KNN"]
    assert s["blocked_models"] == ["KNN"]  # MLP has no Azure counterpart, so Azure never runs it anyway
    assert s["training_data"] is data and s["validation_data"] is valid
    assert s["n_cross_validations"] is None  # our grouped split, never Azure's leaky random CV


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"hyperparameter_sampling": asl.RandomParameterSampling({"hidden": asl.choice(1, 2)}, seed=7)},
            "no sampling seed",
        ),
        (
            {"hyperparameter_sampling": asl.RandomParameterSampling({"dropout": asl.quniform(0.0, 0.5, 0.1)})},
            "integer q",
        ),
        (
            {
                "hyperparameter_sampling": asl.BayesianParameterSampling({"dropout": asl.quniform(0.5, 9.5, 1)}),
                "policy": None,
            },
            "integer quniform bounds",
        ),
        (
            {"hyperparameter_sampling": asl.RandomParameterSampling({"flag": asl.choice(True, False)})},
            "choice value True",
        ),
        ({"max_duration_minutes": 2.5}, "whole minutes"),
        ({"max_duration_minutes": 20000}, "7 days"),
        ({"builder": lambda params: None}, "builder function"),
        ({"run_dir": "x", "resume": True}, "resume"),
        ({"fixed_params": {"epochs": None}}, "fixed parameter"),
        ({"fixed_params": {"validation": "x"}}, "the entry point uses these options"),
        (
            {"hyperparameter_sampling": asl.RandomParameterSampling({"seed": asl.choice(1, 2)})},
            r"parameters named \['seed'\]",
        ),
    ],
)
def test_untranslatable_hyperdrive_settings_raise_at_construction(backend: Any, overrides: dict, message: str) -> None:
    with pytest.raises(asl.ConfigurationError, match=message) as info:
        hd_trainer(backend, **overrides)
    assert "SDK v1" in str(info.value)


@pytest.mark.parametrize("policy", [asl.SuccessiveHalvingPolicy(), asl.HyperbandPolicy(max_resource=9)])
def test_rung_policies_are_refused_as_local_only(backend: Any, policy: Any) -> None:
    """HyperDrive has no rung budgets: the backend refuses them at construction, naming the policy and the fix."""
    name = type(policy).__name__
    with pytest.raises(asl.ConfigurationError, match=f"SDK v1.* cannot express {name}: rung budgets") as info:
        hd_trainer(backend, policy=policy)
    message = str(info.value)
    assert "local only" in message and "use BanditPolicy, MedianStoppingPolicy or TruncationSelectionPolicy" in message
    assert f"run {name} locally (backend='local')" in message
    with pytest.raises(asl.ConfigurationError, match="local only"):
        tr.v1_policy(policy)  # the translation itself refuses too


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"allowed_models": ["MLP", "SVM"]}, r"allowed_models \['MLP'\]"),
        ({"experiment_timeout_minutes": 10}, "minimum is 15"),
        ({"iteration_timeout_minutes": 2.5}, "whole minutes"),
        ({"run_dir": "x", "resume": True}, "resume"),
    ],
)
def test_untranslatable_automl_settings_raise_at_construction(backend: Any, overrides: dict, message: str) -> None:
    settings = {"augment": False, **overrides}
    with pytest.raises(asl.ConfigurationError, match=message):
        asl.AutoMLTrainer(backend=backend, **settings)


def test_v1_backend_warns_once_that_sdk_v1_support_ends(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("asl_recog._deprecation._warned", set())
    with caplog.at_level(logging.WARNING, logger="asl_recog"), warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        asl.AzureMLBackend(FakeWorkspace(), "cpu-cluster")
        asl.AzureMLBackend(FakeWorkspace(), "cpu-cluster")
    ours = [w for w in seen if issubclass(w.category, FutureWarning) and "2026-06-30" in str(w.message)]
    assert len(ours) == 1 and "AzureBackend" in str(ours[0].message)
    assert sum("2026-06-30" in r.getMessage() for r in caplog.records) == 1


def test_from_config_reads_the_workspace_config_and_compute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps({"subscription_id": "s", "resource_group": "rg", "workspace_name": "ws", "compute": "gpu-cluster"})
    )
    seen: list[dict] = []

    def from_config(path: str | None = None, auth: Any = None) -> FakeWorkspace:
        seen.append({"path": path, "auth": auth})
        return FakeWorkspace()

    monkeypatch.setattr(azureml.core.Workspace, "from_config", staticmethod(from_config))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        backend = asl.AzureMLBackend.from_config(config)
        named = asl.AzureMLBackend.from_config(config, compute_target="cpu-2")
    assert seen[0]["path"] == str(config) and backend.compute_target == "gpu-cluster"
    assert named.compute_target == "cpu-2" and backend.name == "azureml"


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


# -- refit after HyperDrive, and the model-size budget ------------------------------------------------


@pytest.fixture(scope="module")
def other_keras_bytes(tmp_path_factory: pytest.TempPathFactory, small_split: Any) -> bytes:
    """Another network of keras_bytes' size, trained from another seed: what the refit job leaves."""
    return small_keras_bytes(tmp_path_factory.mktemp("refit"), small_split[0], seed=1)


@pytest.fixture(scope="module")
def large_keras_bytes(tmp_path_factory: pytest.TempPathFactory, small_split: Any) -> bytes:
    """A network with a 128-unit hidden layer: several times keras_bytes' file size."""
    return small_keras_bytes(tmp_path_factory.mktemp("large"), small_split[0], hidden=128)


def sweep_children(files: dict[str, bytes]) -> tuple[list[FakeRun], dict[str, str]]:
    """Two completed trials; HD_3_1's curve peaks at epochs 2 and 3, so its refit trains 3 (the latest best)."""
    children = [
        FakeRun("HD_3_0", "Completed", {"accuracy": [0.50, 0.70, 0.72, 0.70]}, files=files),
        FakeRun("HD_3_1", "Completed", {"accuracy": [0.60, 0.80, 0.80, 0.78]}, files=files),
    ]
    params = {
        "HD_3_0": json.dumps({"--hidden": 128, "--dropout": 0.2, "--batch_size": 64}),
        "HD_3_1": json.dumps({"--hidden": 256, "--dropout": 0.3, "--batch_size": 128}),
    }
    return children, params


def refit_parent(files: dict[str, bytes]) -> FakeParentRun:
    run = FakeParentRun([])
    run.id, run.files = "refit_1", files
    return run


def test_hyperdrive_refit_is_one_script_run_config_on_both_datasets_for_the_best_epoch(
    backend: Any,
    registry: Registry,
    small_split: Any,
    keras_bytes: bytes,
    other_keras_bytes: bytes,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from azureml.core import ScriptRunConfig
    from azureml.core.script_run_config import get_run_config_from_script_run

    from asl_recog.routes.hyperdrive import train_cnn

    children, params = sweep_children({"outputs/model.keras": keras_bytes})
    refit_run = refit_parent({"outputs/model.keras": other_keras_bytes, "outputs/metrics.json": b"{}"})
    staged: list[bool] = []
    calls = fake_experiment(
        monkeypatch,
        FakeParentRun(children, params),
        lambda c: staged.append((Path(c.source_directory) / LAUNCHER).is_file()),
        refit_run,
    )
    train, validation = small_split
    result = hd_trainer(backend, run_dir=tmp_path / "hd").fit(train, validation)  # refit=True: the default

    sweep, config = (c["config"] for c in calls if "config" in c)
    assert isinstance(config, ScriptRunConfig) and staged == [True, True]  # code staged for both submits
    run_config = get_run_config_from_script_run(config)
    assert run_config.script == LAUNCHER and run_config.target == "cpu-cluster"
    arguments = run_config.arguments
    # Both registered datasets, the sweep's own (training part + validation): the full data.
    sweep_arguments = sweep.run_config.arguments
    assert [a.name for a in (arguments[1], arguments[3])] == ["train", "validation"]
    assert str(arguments[1].dataset) == str(sweep_arguments[1].dataset)
    assert str(arguments[3].dataset) == str(sweep_arguments[3].dataset)
    assert content_hash(train)[:16] in str(arguments[1].dataset)  # the folders named after each part's hash
    assert content_hash(validation)[:16] in str(arguments[3].dataset)
    assert len(registry.uploads) == 2  # nothing uploaded again for the refit
    # The best trial's params; epochs 3, the latest best epoch of its curve, over the fixed 4.
    assert arguments[4:] == [
        "--refit",
        "--builder",
        "seed",
        "--seed",
        0,
        "--epochs",
        3,
        "--output_dir",
        "outputs",
        "--hidden",
        256,
        "--dropout",
        0.3,
        "--batch_size",
        128,
    ]
    assert run_config.environment.name == get_run_config_from_script_run(sweep.run_config).environment.name
    args, parsed = train_cnn.parse_args(["--data", "/mnt/train", "--validation", "/mnt/v", *map(str, arguments[4:])])
    assert args.refit is True and parsed == {"hidden": 256, "dropout": 0.3, "batch_size": 128, "epochs": 3}

    assert refit_run.waited == [{"show_output": False, "raise_on_error": False}]
    assert refit_run.downloads == ["outputs"] and (tmp_path / "hd/refit/outputs/model.keras").is_file()
    assert result.refit is True and result.refit_seconds > 0 and result.best_trial == "HD_3_1"
    assert result.best_score == pytest.approx(0.78)  # the selection score stays the trial's
    assert result.best_params == {"hidden": 256, "dropout": 0.3, "batch_size": 128, "epochs": 3}
    info = result.best_model.info
    assert (info["refit"], info["refit_epochs"], info["refit_images"]) == (True, 3, len(train) + len(validation))
    refit_model = asl.Model.load(tmp_path / "hd/refit/outputs/model.keras")
    np.testing.assert_allclose(
        result.best_model.predict_proba(validation[:8]), refit_model.predict_proba(validation[:8]), atol=1e-6
    )  # the refit's, not the trial's

    fake_experiment(monkeypatch, FakeParentRun(children, params))
    baseline = hd_trainer(backend, run_dir=tmp_path / "plain", refit=False).fit(train, validation)
    import pandas as pd

    pd.testing.assert_frame_equal(result.leaderboard, baseline.leaderboard)  # the leaderboard is the sweep's


def test_models_over_the_size_budget_are_skipped_with_the_reason(
    backend: Any,
    registry: Registry,
    small_split: Any,
    keras_bytes: bytes,
    large_keras_bytes: bytes,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    children, params = sweep_children({"outputs/model.keras": keras_bytes})
    children[1].files = {"outputs/model.keras": large_keras_bytes}  # the best trial's model is the large one
    refit_run = refit_parent({"outputs/model.keras": large_keras_bytes})  # and so is the refit's
    fake_experiment(monkeypatch, FakeParentRun(children, params), refit_run=refit_run)
    budget_mb = (len(keras_bytes) + len(large_keras_bytes)) / 2 / 1e6
    result = hd_trainer(backend, run_dir=tmp_path / "hd", max_model_size_mb=budget_mb).fit(*small_split)

    assert result.best_trial == "HD_3_0" and result.best_score == pytest.approx(0.70)  # the best that fits
    board = result.leaderboard.set_index("trial")
    reason = board.at["HD_3_1", "error"]
    assert board.at["HD_3_1", "status"] == "failed" and reason.startswith(
        f"rejected: its model model.keras is {len(large_keras_bytes) / 1e6:.1f} MB, over "
        f"max_model_size_mb={budget_mb:g}"
    )
    assert result.extras["rejected_for_size"] == {"HD_3_1": reason}
    assert list(result.leaderboard["trial"]) == ["HD_3_0", "HD_3_1"]  # the chosen trial heads the leaderboard
    # The refit (of HD_3_0's params) left a model over the budget too: the trial's own model is kept.
    assert refit_run.downloads == ["outputs"] and result.refit is False
    assert "the refit model model.keras" in result.extras["refit_skipped"]
    assert result.best_params == {"hidden": 128, "dropout": 0.2, "batch_size": 64}
    np.testing.assert_allclose(
        result.best_model.predict_proba(small_split[1][:4]),
        asl.Model.load(tmp_path / "hd/best/outputs/model.keras").predict_proba(small_split[1][:4]),
        atol=1e-6,
    )


def test_the_refit_plan_falls_back_to_the_trained_epochs_without_a_curve(backend: Any) -> None:
    import pandas as pd

    board = pd.DataFrame({"trial": ["HD_4_0"], "history": [[]]})
    result = asl.TrainingResult(
        best_model=None,
        best_params={"hidden": 64},
        best_score=0.5,  # type: ignore[arg-type]
        primary_metric="loss",
        leaderboard=board,
        best_trial="HD_4_0",
    )
    plan = refit.plan_refit(remote_spec(hd_trainer(backend)), result, images=100)
    assert (plan.epochs, plan.params) == (4, {"hidden": 64, "epochs": 4})  # the fixed epochs it was trained for
    board.at[0, "history"] = [0.9, 0.4, 0.4, 0.6]  # loss: the latest of the lowest values
    minimize = hd_trainer(backend, primary_metric_name="loss", primary_metric_goal="minimize")
    assert refit.plan_refit(remote_spec(minimize), result, images=100).epochs == 3
