"""SDK v1 objects built from a remote spec, offline (no workspace call): AutoMLConfig, ScriptRunConfig, HyperDrive."""

from __future__ import annotations

import logging
import os
from typing import Any

from asl_recog import _azure as sdk
from asl_recog.backends._remote import AutoMLSpec, SweepSpec
from asl_recog.backends.azure import _checks as checks
from asl_recog.backends.azure import _job as entry
from asl_recog.backends.azure import _translate as tr
from asl_recog.backends.azure._data import LAUNCHER

logger = logging.getLogger("asl_recog")


# -- SDK v1 objects, built from a spec (offline: no workspace call) ---------------------------------


def automl_config(spec: AutoMLSpec, compute_target: Any, training_data: Any, validation_data: Any) -> Any:
    """The v1 ``AutoMLConfig`` of an AutoML spec (validation is our grouped split, never random CV)."""
    tr.import_v1()
    s = checks.automl_settings(spec, "v1")
    kwargs: dict[str, Any] = {}
    if s["max_iterations"] is not None:
        kwargs["iterations"] = s["max_iterations"]
    return tr._call_sdk(
        "v1",
        "the AutoML settings",
        sdk.aml_train_automl.AutoMLConfig,
        task="classification",
        primary_metric=s["primary_metric"],
        compute_target=compute_target,
        training_data=training_data,
        validation_data=validation_data,
        label_column_name="label",
        experiment_timeout_hours=s["experiment_timeout_minutes"] / 60,
        iteration_timeout_minutes=s["iteration_timeout_minutes"],
        enable_early_stopping=s["enable_early_stopping"],
        max_concurrent_iterations=s["max_concurrent_iterations"],
        enable_onnx_compatible_models=s["enable_onnx_compatible_models"],
        allowed_models=s["allowed_models"],
        blocked_models=s["blocked_models"],
        enable_voting_ensemble=s["enable_voting_ensemble"],
        enable_stack_ensemble=s["enable_stack_ensemble"],
        featurization=s["featurization"],  # "auto" or "off": Azure's own featurizers (HOG runs locally only)
        model_explainability=False,
        **kwargs,
    )


def training_environment(environment: Any = None, workspace: Any = None) -> Any:
    """The trial environment: the given one (object or registered name), or the library's requirements."""
    tr.import_v1()
    if isinstance(environment, str):
        return sdk.aml_core.Environment.get(workspace, environment)
    if environment is not None:
        return environment
    env = sdk.aml_core.Environment("asl-recog-train")
    env.python.conda_dependencies = sdk.aml_core_conda_dependencies.CondaDependencies.create(
        python_version=entry.TRAINING_PYTHON, pip_packages=entry.training_requirements("v1"), pin_sdk_version=False
    )
    return env


def script_run_config(
    spec: SweepSpec,
    source_directory: str | os.PathLike[str],
    compute_target: Any,
    environment: Any,
    train: Any,
    validation: Any,
) -> Any:
    """The v1 ``ScriptRunConfig`` running the packaged entry point from ``source_directory``."""
    tr.import_v1()
    return sdk.aml_core.ScriptRunConfig(
        source_directory=str(source_directory),
        script=LAUNCHER,
        arguments=entry.v1_arguments(spec, train, validation),
        compute_target=compute_target,
        environment=environment,
    )


def hyperdrive_config(spec: SweepSpec, run_config: Any) -> Any:
    """The v1 ``HyperDriveConfig``: sampling, policy, metric and limits translated from the spec."""
    tr.import_v1()
    checks.check_hyperdrive(spec, "v1")
    return tr._call_sdk(
        "v1",
        "the HyperDrive settings",
        sdk.aml_train_hyperdrive.HyperDriveConfig,
        run_config=run_config,
        hyperparameter_sampling=tr.v1_sampling(spec.sampling),
        policy=tr.v1_policy(spec.policy),
        primary_metric_name=spec.metric,
        primary_metric_goal=tr.v1_goal(spec.goal),
        max_total_runs=spec.max_total_runs,
        max_concurrent_runs=spec.max_concurrent_runs,
        max_duration_minutes=tr.v1_duration_minutes(spec.max_duration_minutes),
    )


__all__ = ["automl_config", "hyperdrive_config", "script_run_config", "training_environment"]
