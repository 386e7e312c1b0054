"""The AutoML route as backends see it."""

from __future__ import annotations

from typing import Any

from asl_recog.backends._remote import AutoMLSpec
from asl_recog.routes._route import Route
from asl_recog.routes.automl._portfolio import ALGORITHMS
from asl_recog.routes.automl._refit import refit_automl
from asl_recog.routes.automl._search import local_plan

#: Our algorithm names -> Azure AutoML's; identical in SDK v1's SupportedModels and v2's ClassificationModels.
AZURE_NAMES = {name: spec.azure_name for name, spec in ALGORITHMS.items() if spec.azure_name is not None}


def remote_spec(trainer: Any) -> AutoMLSpec:
    """An AutoMLTrainer as a managed AutoML search (the remote backend checks what it can express)."""
    return AutoMLSpec(
        metric=trainer.primary_metric,
        experiment_timeout_minutes=trainer.experiment_timeout_minutes,
        iteration_timeout_minutes=trainer.iteration_timeout_minutes,
        max_iterations=trainer.max_iterations,
        max_concurrent_iterations=trainer.max_concurrent_iterations,
        early_stopping=bool(trainer.enable_early_stopping),
        onnx=bool(trainer.enable_onnx_compatible_models),
        allowed_models=trainer.allowed_models,
        blocked_models=trainer.blocked_models,
        names=AZURE_NAMES,
        voting_ensemble=bool(trainer.enable_voting_ensemble),
        stack_ensemble=bool(getattr(trainer, "enable_stack_ensemble", False)),
        featurization=getattr(trainer, "featurization", "off"),
        max_latency_ms=getattr(trainer, "max_latency_ms", None),
        resume=bool(trainer.resume),
        progress=bool(trainer.progress),
        max_model_size_mb=trainer.max_model_size_mb,
        refit=bool(trainer.refit),
        augment=bool(getattr(trainer, "augment", False)),
        seed=getattr(trainer, "seed", None),
    )


AUTOML = Route(
    name="automl",
    title="AutoML",
    local_plan=local_plan,
    refit=refit_automl,
    remote_spec=remote_spec,
)

__all__ = ["AUTOML", "AZURE_NAMES", "remote_spec"]
