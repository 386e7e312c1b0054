"""SDK v2 jobs built from a remote spec, offline (no workspace call): the AutoML job and the sweep job."""

from __future__ import annotations

import logging
import os
from typing import Any

from asl_recog import _azure as sdk
from asl_recog.backends._remote import AutoMLSpec, SweepSpec
from asl_recog.backends.azure import _checks as checks
from asl_recog.backends.azure import _job as entry
from asl_recog.backends.azure import _translate as tr

logger = logging.getLogger("asl_recog")


# -- SDK v2 jobs, built from a spec (offline: no workspace call) ------------------------------------


def automl_job(spec: AutoMLSpec, compute: str, experiment_name: str, train: str, validation: str) -> Any:
    """The v2 ``automl.classification`` job of an AutoML spec (validation: our grouped split)."""
    tr.import_v2()
    s = checks.automl_settings(spec, "v2")
    job = sdk.ml.automl.classification(
        training_data=sdk.ml.Input(type=sdk.ml_constants.AssetTypes.MLTABLE, path=train),
        validation_data=sdk.ml.Input(type=sdk.ml_constants.AssetTypes.MLTABLE, path=validation),
        target_column_name="label",
        primary_metric=s["primary_metric"],
        enable_model_explainability=False,
        compute=compute,
        experiment_name=experiment_name,
    )
    job.set_limits(
        timeout_minutes=int(s["experiment_timeout_minutes"]),
        trial_timeout_minutes=s["iteration_timeout_minutes"],
        max_trials=s["max_iterations"],
        max_concurrent_trials=s["max_concurrent_iterations"],
        enable_early_termination=s["enable_early_stopping"],
    )
    job.set_training(
        enable_onnx_compatible_models=s["enable_onnx_compatible_models"],
        allowed_training_algorithms=s["allowed_models"],
        blocked_training_algorithms=s["blocked_models"],
        enable_vote_ensemble=s["enable_voting_ensemble"],
        enable_stack_ensemble=s["enable_stack_ensemble"],
    )
    job.set_featurization(mode=s["featurization"])  # "auto" or "off": Azure's own featurizers (HOG runs locally)
    return job


def training_environment(environment: Any = None) -> Any:
    """The trial environment: the given one (entity or ``"name:version"``), or the library's requirements."""
    tr.import_v2()
    if environment is not None:
        return environment
    conda = {
        "name": "asl-recog-train",
        "channels": ["conda-forge"],
        "dependencies": [f"python={entry.TRAINING_PYTHON}", "pip", {"pip": entry.training_requirements("v2")}],
    }
    return sdk.ml_entities.Environment(
        image=entry.TRAINING_IMAGE,
        conda_file=conda,
        description="asl_recog training (built from the library's requirements)",
    )


def sweep_job(
    spec: SweepSpec,
    compute: str,
    experiment_name: str,
    environment: Any,
    code: str | os.PathLike[str],
    train: str,
    validation: str,
) -> Any:
    """The v2 sweep job: ``command(...)`` over the entry point, then ``.sweep(...)`` and ``set_limits``."""
    tr.import_v2()
    checks.check_hyperdrive(spec, "v2")
    sampling = spec.sampling
    space, algorithm = tr.v2_sampling(sampling)
    line, constants = entry.v2_command(spec, list(space))
    inputs: dict[str, Any] = {
        "data": sdk.ml.Input(type="mltable", path=train, mode="ro_mount"),
        "validation": sdk.ml.Input(type="mltable", path=validation, mode="ro_mount"),
        **constants,
        **{name: tr.representative(expr) for name, expr in sampling.parameter_space.items()},
    }
    trial = sdk.ml.command(
        code=str(code),
        command=line,
        inputs=inputs,
        environment=environment,
        compute=compute,
        experiment_name=experiment_name,
        display_name="asl-recog-trial",
    )
    sweep = trial(**space).sweep(
        sampling_algorithm=algorithm,
        primary_metric=spec.metric,
        goal=tr.v2_goal(spec.goal),
        early_termination_policy=tr.v2_policy(spec.policy),
        compute=compute,
    )
    sweep.set_limits(
        max_total_trials=spec.max_total_runs,
        max_concurrent_trials=spec.max_concurrent_runs,
        timeout=tr.v2_timeout_seconds(spec.max_duration_minutes),
    )
    sweep.experiment_name = experiment_name
    sweep.display_name = f"asl-recog-{spec.builder}-sweep"
    return sweep


__all__ = ["automl_job", "sweep_job", "training_environment"]
