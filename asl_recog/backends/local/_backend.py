"""The local backend: both routes' searches run on this machine with Optuna."""

from __future__ import annotations

import json
import logging
import math
import os
import pickle
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from asl_recog._errors import ConfigurationError, TrialFailedError
from asl_recog.backends._base import Backend

if TYPE_CHECKING:
    import optuna

    from asl_recog.data._dataset import SignMnistDataset
    from asl_recog.routes._trainer import TrainingResult
    from asl_recog.routes.hyperdrive._trainer import HyperDriveTrainer

logger = logging.getLogger("asl_recog")


class LocalBackend(Backend):
    """Run searches on this machine: trials as Optuna trials, in parallel worker processes.

    Example:
        >>> trainer = HyperDriveTrainer(builder="seed", max_total_runs=1, progress=False, backend=LocalBackend(),
        ...                             fixed_params={"hidden": 16, "batch_size": 64, "epochs": 1, "dropout": 0.1})
        >>> result = trainer.fit(train, validation)
        >>> result.backend, len(result.leaderboard)
        ('local', 1)
    """

    name = "local"

    def fit(self, trainer: Any, train: SignMnistDataset, validation: SignMnistDataset) -> TrainingResult:
        if trainer.route == "hyperdrive":
            return run_hyperdrive(trainer, train, validation)
        if trainer.route == "automl":
            from asl_recog.routes.automl._search import run_automl

            return run_automl(trainer, train, validation)
        raise ConfigurationError(f"the local backend has no route {trainer.route!r}; expected 'hyperdrive' or 'automl'")


def prepare_run_dir(trainer: Any) -> Path:
    """The trainer's run directory (created), with its settings recorded for later inspection."""
    from asl_recog.routes._trainer import _default_run_dir

    run_dir = Path(trainer.run_dir) if trainer.run_dir is not None else _default_run_dir(trainer.route)
    run_dir.mkdir(parents=True, exist_ok=True)
    settings = {
        k: v if isinstance(v, (int, float, str, bool, type(None), list, dict)) else repr(v)
        for k, v in trainer.get_params().items()
    }
    (run_dir / "settings.json").write_text(json.dumps(settings, indent=2, default=repr))
    return run_dir


def save_arrays(run_dir: Path, train: SignMnistDataset, validation: SignMnistDataset) -> Path:
    """Write the data once as .npy files that worker processes load."""
    folder = run_dir / "data"
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in (("x", train.images), ("y", train.labels), ("vx", validation.images), ("vy", validation.labels)):
        np.save(folder / f"{name}.npy", array)
    return folder


def run_hyperdrive(trainer: HyperDriveTrainer, train: SignMnistDataset, validation: SignMnistDataset) -> TrainingResult:
    """The HyperDrive route, locally: sample, train each trial epoch by epoch, apply the policy."""
    from asl_recog.backends.local._engine import make_sampler, max_trials_for, open_study, suggest_space
    from asl_recog.backends.local._progress import SearchProgress
    from asl_recog.backends.local._pruners import make_pruner
    from asl_recog.backends.local._scheduler import Schedule, recover, run_schedule
    from asl_recog.backends.local._workers import thread_env
    from asl_recog.routes.hyperdrive._training import hyperdrive_runner

    start = time.perf_counter()
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
    run_dir = prepare_run_dir(trainer)
    goal = trainer.goal
    seed = trainer.seed or 0
    study = open_study(
        run_dir,
        direction=goal.value,
        sampler=make_sampler(sampling, seed),
        pruner=make_pruner(trainer.policy, goal),
        resume=trainer.resume,
    )
    if trainer.resume:
        requeued = recover(study, run_dir)
        logger.info(
            "resuming %s: %d trials done, %d interrupted trial(s) queued again",
            run_dir,
            sum(t.state.is_finished() for t in study.get_trials(deepcopy=False)),
            requeued,
        )
    payload: dict[str, Any] = {
        "builder": builder,
        "metric": trainer.primary_metric_name,
        "max_model_size_mb": trainer.max_model_size_mb,
    }
    if concurrent > 1:
        payload["data_dir"] = str(save_arrays(run_dir, train, validation))
        payload["threads"] = max(1, (os.cpu_count() or 1) // concurrent)
    else:
        payload["arrays"] = (train.images, train.labels, validation.images, validation.labels)
    max_trials = max_trials_for(sampling, trainer.max_total_runs)
    with SearchProgress(trainer.progress, "HyperDrive", trainer.primary_metric_name, max_trials) as progress:
        schedule = Schedule(
            propose=lambda trial: {**suggest_space(trial, sampling.parameter_space), **fixed},
            runner=hyperdrive_runner,
            max_trials=max_trials,
            max_concurrent=concurrent,
            deadline_s=None if trainer.max_duration_minutes is None else trainer.max_duration_minutes * 60,
            in_process=concurrent == 1,
            goal=goal,
            policy=trainer.policy,
            seed=seed,
            payload=payload,
            on_update=progress.update,
            env=thread_env(payload.get("threads", 1)) if concurrent > 1 else {},
            in_process_hint="set max_concurrent_runs=1 to run trials in this process",
        )
        run_schedule(study, run_dir, schedule)
        progress.update(study, {}, force=True)
    name = builder if isinstance(builder, str) else getattr(builder, "__name__", "custom")
    result = build_result(study, run_dir, trainer.primary_metric_name, lambda t: name, time.perf_counter() - start)
    if trainer.refit:
        from asl_recog.routes._refit import refit_hyperdrive

        refit_hyperdrive(trainer, result, train, validation, run_dir)
    return result


def leaderboard(study: optuna.Study, metric: str, model_name: Any) -> pd.DataFrame:
    """One row per trial, best first: completed by metric, then pruned, then failed."""
    from asl_recog.backends.local._progress import trial_status
    from asl_recog.backends.local._reservation import was_not_run

    maximize = study.direction.name == "MAXIMIZE"
    rows = []
    for t in study.get_trials(deepcopy=False):
        if not t.state.is_finished() or was_not_run(t):  # duplicates and trials over the limit never ran
            continue
        history = list(t.user_attrs.get("history") or [t.intermediate_values[s] for s in sorted(t.intermediate_values)])
        value = t.value if t.value is not None else (history[-1] if history else math.nan)
        end, begin = t.datetime_complete, t.datetime_start
        rows.append(
            {
                "trial": t.number,
                "model": model_name(t),
                "params": t.user_attrs.get("params", {}),
                "status": trial_status(t),
                metric: value,
                "history": history,
                "duration_s": (end - begin).total_seconds() if end and begin else math.nan,
                "error": t.user_attrs.get("error"),
            }
        )
    order = {"completed": 0, "pruned": 1, "failed": 2, "interrupted": 3}
    columns = ["trial", "model", "params", "status", metric, "history", "duration_s", "error"]
    frame = pd.DataFrame(rows, columns=columns)
    if frame.empty:
        return frame
    frame["_rank"] = frame["status"].map(order).fillna(4)
    frame["_value"] = -frame[metric] if maximize else frame[metric]
    frame = frame.sort_values(["_rank", "_value", "trial"], na_position="last")
    return frame.drop(columns=["_rank", "_value"]).reset_index(drop=True)


def first_failure(study: optuna.Study) -> TrialFailedError:
    """The error raised when no trial completed, naming the first failure."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    failed = [
        t
        for t in trials
        if t.state == TrialState.FAIL and not t.user_attrs.get("interrupted") and not t.user_attrs.get("over_limit")
    ]
    if not failed:
        return TrialFailedError(
            f"no trial completed ({len(trials)} trials, none failed outright: all were "
            "stopped by the policy or interrupted); relax the policy or raise the limits"
        )
    first = failed[0]
    detail = first.user_attrs.get("traceback") or ""
    tail = "\n".join(detail.strip().splitlines()[-8:])
    return TrialFailedError(
        f"all {len(failed)} trial(s) failed; the first failure (trial {first.number}, "
        f"params {first.user_attrs.get('params')}): {first.user_attrs.get('error')}" + (f"\n{tail}" if tail else "")
    )


def build_result(
    study: optuna.Study,
    run_dir: Path,
    metric: str,
    model_name: Any,
    seconds: float,
    extras: dict[str, Any] | None = None,
) -> TrainingResult:
    """The TrainingResult of a finished study: the best completed trial's saved model and the leaderboard."""
    from optuna.trial import TrialState

    from asl_recog.models._base import Model
    from asl_recog.routes._trainer import TrainingResult

    completed = [
        t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.user_attrs.get("model_file")
    ]
    if not completed:
        raise first_failure(study)
    pick = max if study.direction.name == "MAXIMIZE" else min
    best = pick(completed, key=lambda t: (t.value, -t.number))
    model = Model.load(best.user_attrs["model_file"])
    model.params = dict(best.user_attrs.get("params", {}))
    model.info = {
        **model.info,
        **best.user_attrs.get("info", {}),
        "validation_score": best.value,
        "primary_metric": metric,
        "trial": best.number,
    }
    board = leaderboard(study, metric, model_name)
    return TrainingResult(
        best_model=model,
        best_params=model.params,
        best_score=float(best.value),
        primary_metric=metric,
        leaderboard=board,
        run_dir=run_dir,
        backend="local",
        duration_s=seconds,
        extras=extras or {},
        best_trial=best.number,
    )


__all__ = ["LocalBackend", "run_hyperdrive", "build_result", "leaderboard", "prepare_run_dir", "save_arrays"]
