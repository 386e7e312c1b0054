"""AzureBackend (SDK v2), offline: our specs translated to real azure-ai-ml objects (distributions,
samplings, policies, sweep and AutoML jobs dumped to YAML), the settings SDK v2 cannot express,
the missing azureml-mlflow message, and from_config building a real MLClient."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("azure.ai.ml", reason="the 'azure' extra (azure-ai-ml) is not installed")
pytest.importorskip("mlflow", reason="the 'azure' extra (mlflow-skinny) is not installed")

from azure.ai.ml import load_job
from azure_fakes import FakeMLClient

import asl_recog as asl
from asl_recog.backends import remote_spec
from asl_recog.backends.azure import _job as entry
from asl_recog.backends.azure import _translate as tr
from asl_recog.backends.azure.v2 import _backend as v2

from .v2_helpers import hd_trainer

pytestmark = pytest.mark.azure


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
