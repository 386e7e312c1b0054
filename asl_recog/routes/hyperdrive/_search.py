"""The HyperDrive route's local search: sample the space, train each trial epoch by epoch, apply the policy."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from asl_recog._errors import ConfigurationError
from asl_recog.backends.local._engine import SpaceProposal, make_sampler, max_trials_for
from asl_recog.backends.local._plan import LocalPlan
from asl_recog.backends.local._pruners import make_pruner
from asl_recog.backends.local._scheduler import Schedule
from asl_recog.backends.local._workers import thread_env
from asl_recog.data._dataset import SignMnistDataset
from asl_recog.routes.hyperdrive._builders import BUILDERS, DEFAULTS
from asl_recog.routes.hyperdrive._settings import HyperDriveSettings
from asl_recog.routes.hyperdrive._training import TRAINING_DEFAULTS, hyperdrive_runner
from asl_recog.search._space import Sampling


def save_arrays(run_dir: Path, train: SignMnistDataset, validation: SignMnistDataset) -> Path:
    """Write the data once as .npy files that worker processes load."""
    folder = run_dir / "data"
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in (("x", train.images), ("y", train.labels), ("vx", validation.images), ("vy", validation.labels)):
        np.save(folder / f"{name}.npy", array)
    return folder


def builder_name(trainer: HyperDriveSettings) -> str:
    """The builder's name on the leaderboard."""
    builder = trainer.builder
    return builder if isinstance(builder, str) else getattr(builder, "__name__", "custom")


def trial_params(trainer: HyperDriveSettings, params: dict[str, Any]) -> dict[str, Any]:
    """A trial's parameters completed with the trainer's fixed ones and the named builder's defaults."""
    defaults = DEFAULTS.get(trainer.builder, {}) if isinstance(trainer.builder, str) else {}
    return {**defaults, **(trainer.fixed_params or {}), **params}


def longest_epochs(trainer: HyperDriveSettings, sampling: Sampling) -> int | None:
    """The most epochs a trial of this search runs, as the training loop reads them; None when unknowable.

    A rung policy needs it: Hyperband's ``max_resource="auto"`` is this, and a first rung
    beyond it would never compare a trial.

    Example:
        >>> trainer = HyperDriveTrainer(builder="seed", fixed_params={"epochs": 3})
        >>> longest_epochs(trainer, trainer.resolved_sampling())
        3
        >>> longest_epochs(HyperDriveTrainer(), RandomParameterSampling({"epochs": choice(10, 12)}))
        12
    """
    expr = sampling.parameter_space.get("epochs")
    if expr is None:
        fixed = trial_params(trainer, {}).get("epochs", TRAINING_DEFAULTS["epochs"])
        return int(fixed) if isinstance(fixed, (int, float)) and not isinstance(fixed, bool) else None
    if expr.kind == "choice" and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in expr.args):
        return int(max(expr.args))
    if expr.kind == "randint":
        return int(expr.args[0]) - 1
    if expr.kind == "quniform":
        return int(round(expr.args[1] / expr.args[2]) * expr.args[2])
    return None  # a continuous or unbounded draw of epochs: Hyperband falls back on Optuna's estimate


def local_plan(
    trainer: HyperDriveSettings, train: SignMnistDataset, validation: SignMnistDataset, run_dir: Path
) -> LocalPlan:
    """The local search of a :class:`HyperDriveTrainer`."""
    sampling = trainer.resolved_sampling()
    fixed = dict(trainer.fixed_params or {})
    clash = set(sampling.parameter_space) & set(fixed)
    if clash:
        raise ConfigurationError(f"parameters {sorted(clash)} are both sampled and fixed; keep one")
    concurrent = trainer.max_concurrent_runs
    builder = trainer.builder
    if concurrent > 1 and not isinstance(builder, str):
        try:
            pickle.dumps(builder)
        except Exception as exc:
            raise ConfigurationError(
                "max_concurrent_runs > 1 runs trials in worker processes, which need a module-level builder "
                f"function; {builder!r} cannot be pickled ({exc}). Define it at module level or use "
                "max_concurrent_runs=1"
            ) from exc
    goal = trainer.goal
    seed = trainer.seed or 0
    payload: dict[str, Any] = {
        "builder": builder,
        "metric": trainer.primary_metric_name,
        "max_model_size_mb": trainer.max_model_size_mb,
        # The default network is selected for robustness: the mean of its accuracy on the clean
        # validation images and on a fixed corrupted copy of them (training photos only).
        "robust_selection": isinstance(builder, str) and builder in BUILDERS and BUILDERS[builder].robust_selection,
    }
    if concurrent > 1:
        payload["data_dir"] = str(save_arrays(run_dir, train, validation))
        payload["threads"] = max(1, (os.cpu_count() or 1) // concurrent)
    else:
        payload["arrays"] = (train.images, train.labels, validation.images, validation.labels)
    max_trials = max_trials_for(sampling, trainer.max_total_runs)
    schedule = Schedule(
        propose=SpaceProposal(sampling.parameter_space, fixed),
        runner=hyperdrive_runner,
        max_trials=max_trials,
        max_concurrent=concurrent,
        deadline_s=None if trainer.max_duration_minutes is None else trainer.max_duration_minutes * 60,
        in_process=concurrent == 1,
        goal=goal,
        policy=trainer.policy,
        seed=seed,
        payload=payload,
        env=thread_env(payload.get("threads", 1)) if concurrent > 1 else {},
        in_process_hint="set max_concurrent_runs=1 to run trials in this process",
    )
    name = builder_name(trainer)
    return LocalPlan(
        schedule=schedule,
        sampler=make_sampler(sampling, seed),
        pruner=make_pruner(trainer.policy, goal, longest_epochs(trainer, sampling)),
        goal=goal,
        metric=trainer.primary_metric_name,
        expected_trials=max_trials,
        model_name=lambda trial: name,
    )


__all__ = ["local_plan", "longest_epochs", "save_arrays", "trial_params"]
