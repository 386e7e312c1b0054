"""The HyperDrive route as backends see it."""

from __future__ import annotations

import functools
from typing import Any

from asl_recog.backends._remote import SweepSpec
from asl_recog.routes._route import Route
from asl_recog.routes.hyperdrive._refit import refit_hyperdrive
from asl_recog.routes.hyperdrive._search import local_plan, trial_params

#: The module a remote backend runs for each trial (``python -m``); it parses the sampled values as options.
ENTRY_MODULE = "asl_recog.routes.hyperdrive.train_cnn"


def remote_spec(trainer: Any) -> SweepSpec:
    """A HyperDriveTrainer as a sweep of :data:`ENTRY_MODULE` (its default space when none is given)."""
    return SweepSpec(
        builder=trainer.builder,
        entry_module=ENTRY_MODULE,
        sampling=trainer.resolved_sampling(),
        metric=trainer.primary_metric_name,
        goal=trainer.goal,
        max_total_runs=trainer.max_total_runs,
        max_concurrent_runs=trainer.max_concurrent_runs,
        max_duration_minutes=trainer.max_duration_minutes,
        policy=trainer.policy,
        fixed_params=dict(trainer.fixed_params or {}),
        seed=trainer.seed,
        resume=bool(trainer.resume),
        progress=bool(trainer.progress),
        trial_params=functools.partial(trial_params, trainer),
        max_model_size_mb=trainer.max_model_size_mb,
        refit=bool(trainer.refit),
    )


HYPERDRIVE = Route(
    name="hyperdrive",
    title="HyperDrive",
    local_plan=local_plan,
    refit=refit_hyperdrive,
    remote_spec=remote_spec,
    trial_params=trial_params,
)

__all__ = ["ENTRY_MODULE", "HYPERDRIVE", "remote_spec"]
