"""Checks of a route's remote spec for the Azure backends (run when a trainer is built) and AutoML's shared settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asl_recog._errors import ConfigurationError
from asl_recog.backends._remote import AutoMLSpec, RemoteSpec, SweepSpec, remote_spec
from asl_recog.backends.azure._job import RESERVED
from asl_recog.backends.azure._translate import (
    Sdk,
    reject,
    v1_duration_minutes,
    v1_policy,
    v1_sampling,
    v2_policy,
    v2_sampling,
    whole_minutes,
)

# -- whole-trainer checks (Backend.check calls these at trainer construction) -----------------------


#: What each SDK does instead of tracking_uri= (the local backend's MLflow tracking), and the fix.
_TRACKING = {
    "v2": (
        "tracking_uri=: Azure ML tracks every job of this search in the workspace's own MLflow (the sweep or "
        "AutoML job is the parent run, each trial a child run with its metrics), and a job cannot log to a "
        "second server",
        "leave tracking_uri unset and open the job in Azure ML studio, or read it with "
        "MlflowClient(ml_client.workspaces.get(NAME).mlflow_tracking_uri) (docs/tracking.md)",
    ),
    "v1": (
        "tracking_uri=: SDK v1 records the search in the workspace's run history (Experiment and Run, a "
        "parent HyperDrive or AutoML run with child runs), which MLflow reads through azureml-mlflow; a run "
        "cannot log to a second server",
        "leave tracking_uri unset and read the runs in Azure ML studio (docs/tracking.md)",
    ),
}


def check_trainer(trainer: Any, sdk: Sdk, backend: str) -> RemoteSpec:
    """The spec of the job the trainer's route becomes, once SDK ``sdk`` is known to express it."""
    if not callable(getattr(getattr(trainer, "route", None), "remote_spec", None)):
        raise ConfigurationError(
            f"{backend} runs routes that become an Azure AutoML job or sweep job; {type(trainer).__name__}'s "
            "route has no remote_spec"
        )
    spec = remote_spec(trainer)
    if getattr(trainer, "tracking_uri", None) is not None:
        raise reject(sdk, *_TRACKING[sdk])
    if isinstance(spec, SweepSpec):
        check_hyperdrive(spec, sdk)
    else:
        check_automl(spec, sdk)
    return spec


def check_hyperdrive(spec: SweepSpec, sdk: Sdk) -> None:
    """Raise ConfigurationError for any sweep setting ``sdk`` cannot express."""
    if not isinstance(spec.builder, str):
        raise reject(
            sdk,
            "a builder function: Azure runs the packaged entry point "
            "`python -m asl_recog.routes.hyperdrive.train_cnn`, which knows the named builders only",
            "use builder='default' or builder='seed', or run the custom builder locally",
        )
    if spec.resume:
        raise reject(
            sdk,
            "resume=True: an Azure sweep cannot continue a local study",
            "drop resume, or resume locally with backend='local'",
        )
    sampling = spec.sampling  # the builder's default space when none is given
    if sdk == "v1":
        v1_sampling(sampling)
    else:
        v2_sampling(sampling)
    if sdk == "v1":
        v1_policy(spec.policy)
        v1_duration_minutes(spec.max_duration_minutes)
    else:
        v2_policy(spec.policy)
    clash = sorted(set(RESERVED) & (set(sampling.parameter_space) | set(spec.fixed_params)))
    if clash:
        raise reject(
            sdk,
            f"parameters named {clash}: the entry point uses these options itself",
            f"rename them; reserved: {', '.join(RESERVED)}",
        )
    for name, value in spec.fixed_params.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise reject(sdk, f"fixed parameter name {name!r}", "use identifier names such as 'epochs'")
        if value is None or not isinstance(value, (int, float, str)):  # bools reach train_cnn as True/False
            raise reject(
                sdk, f"fixed parameter {name}={value!r} (passed on the command line)", "use an int, float or str value"
            )


def azure_algorithms(sdk: Sdk, names: Any, setting: str, azure_names: Mapping[str, str]) -> list[str] | None:
    """Map our algorithm names to Azure's; reject names without a counterpart (allowed lists only)."""
    if names is None:
        return None
    missing = [n for n in names if n not in azure_names]
    if missing and setting == "allowed_models":
        raise reject(
            sdk,
            f"allowed_models {missing}: Azure AutoML has no counterpart (it offers {sorted(azure_names)} of ours)",
            f"drop {missing} from allowed_models, or run them locally",
        )
    # A blocked model Azure does not have is never run there anyway, so blocking it is already true.
    return [azure_names[n] for n in names if n in azure_names]


def azure_featurization(spec: AutoMLSpec, sdk: Sdk) -> str:
    """Azure's featurization mode for the trainer's ``featurization``; a featurizer Azure cannot run is refused.

    ``"auto"`` and ``"off"`` are Azure's own modes (with ``"auto"``, Azure chooses its own
    featurizers, as the local search chooses between HOG and pixels). A FeaturizationConfig
    names this library's featurizers (HOG), which Azure AutoML's service cannot run.
    """
    featurization = spec.featurization
    if featurization in ("auto", "off"):
        return str(featurization)
    raise reject(
        sdk,
        f"featurization={featurization!r}: Azure AutoML runs its own featurizers only, not this library's "
        "HOG featurizer",
        "use featurization='auto' (Azure's own) or 'off' on Azure, or run the HOG search locally (backend='local')",
    )


def check_automl(spec: AutoMLSpec, sdk: Sdk) -> None:
    """Raise ConfigurationError for any AutoML setting ``sdk`` cannot express."""
    if spec.resume:
        raise reject(
            sdk,
            "resume=True: an Azure AutoML run cannot continue a local study",
            "drop resume, or resume locally with backend='local'",
        )
    if spec.experiment_timeout_minutes < 15:
        raise reject(
            sdk,
            f"experiment_timeout_minutes={spec.experiment_timeout_minutes}: Azure AutoML's minimum is 15 minutes",
            "use experiment_timeout_minutes=15 or more",
        )
    whole_minutes(sdk, "iteration_timeout_minutes", spec.iteration_timeout_minutes)
    if spec.max_latency_ms is not None:
        raise reject(
            sdk,
            f"max_latency_ms={spec.max_latency_ms}: Azure AutoML does not time its candidates' ONNX graphs",
            "drop max_latency_ms on Azure, or run the search locally (backend='local')",
        )
    azure_featurization(spec, sdk)
    if sdk == "v2":
        whole_minutes(sdk, "experiment_timeout_minutes", spec.experiment_timeout_minutes)
    azure_algorithms(sdk, spec.allowed_models, "allowed_models", spec.names)
    if spec.allowed_models is not None and spec.blocked_models is not None:
        left = set(azure_algorithms(sdk, spec.allowed_models, "allowed_models", spec.names) or ()) - set(
            azure_algorithms(sdk, spec.blocked_models, "blocked_models", spec.names) or ()
        )
        if not left:
            raise reject(sdk, "allowed_models minus blocked_models: nothing left to try", "allow more models")


def automl_settings(spec: AutoMLSpec, sdk: Sdk) -> dict[str, Any]:
    """The AutoML settings both SDKs share, in the services' terms, already translated and checked."""
    check_automl(spec, sdk)
    return {
        "primary_metric": spec.metric,
        "experiment_timeout_minutes": spec.experiment_timeout_minutes,
        "iteration_timeout_minutes": whole_minutes(sdk, "iteration_timeout_minutes", spec.iteration_timeout_minutes),
        "max_iterations": spec.max_iterations,
        "enable_early_stopping": spec.early_stopping,
        "max_concurrent_iterations": spec.max_concurrent_iterations,
        "enable_onnx_compatible_models": spec.onnx,
        "allowed_models": azure_algorithms(sdk, spec.allowed_models, "allowed_models", spec.names),
        "blocked_models": azure_algorithms(sdk, spec.blocked_models, "blocked_models", spec.names) or None,
        "enable_voting_ensemble": spec.voting_ensemble,
        "enable_stack_ensemble": spec.stack_ensemble,
        "featurization": azure_featurization(spec, sdk),
    }


__all__ = [
    "automl_settings",
    "azure_algorithms",
    "azure_featurization",
    "check_automl",
    "check_hyperdrive",
    "check_trainer",
]
