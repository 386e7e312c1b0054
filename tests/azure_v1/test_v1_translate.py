"""AzureMLBackend (SDK v1), offline: our specs translated to the real azureml objects (expressions,
samplings, policies, the HyperDrive, script-run and AutoML configs), the settings SDK v1 cannot
express, the end-of-support warning, and from_config with a fake workspace."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("azureml.core", reason="the 'azureml' extra (azureml-core) is not installed")
pytest.importorskip("azureml.train.hyperdrive", reason="the 'azureml' extra (azureml-train-core) is not installed")
pytest.importorskip("azureml.train.automl", reason="the 'azureml' extra (azureml-train-automl-client) is not installed")

import azureml.core
from azure_fakes import FakeWorkspace
from azureml.data.dataset_factory import TabularDatasetFactory

import asl_recog as asl
from asl_recog.backends import remote_spec
from asl_recog.backends.azure import _translate as tr
from asl_recog.backends.azure._data import LAUNCHER
from asl_recog.backends.azure.v1 import _backend as v1

from .v1_helpers import V1_MARKS, hd_trainer

pytestmark = V1_MARKS


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
