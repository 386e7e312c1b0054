"""The local backend: any route's search runs on this machine with Optuna."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import TrialState

from asl_recog._errors import ConfigurationError, TrialFailedError
from asl_recog.backends._base import Backend, Trainer
from asl_recog.backends.local._engine import STUDY_NAME, open_study
from asl_recog.backends.local._heartbeat import is_interrupted
from asl_recog.backends.local._plan import LocalPlan
from asl_recog.backends.local._progress import SearchProgress, trial_status
from asl_recog.backends.local._recipe import encode_settings
from asl_recog.backends.local._reservation import was_not_run
from asl_recog.backends.local._scheduler import recover, run_schedule
from asl_recog.backends.local._shared import model_path, share, wait_for_others, watching
from asl_recog.backends.local._storage_url import masked, storage_url
from asl_recog.backends.local._tracked import ending, finish_tracking, start_tracking
from asl_recog.data._dataset import SignMnistDataset
from asl_recog.models._base import Model
from asl_recog.results import TrainingResult, make_leaderboard
from asl_recog.results._leaderboard import final_value
from asl_recog.results._persist import LEADERBOARD_FILE, write_leaderboard
from asl_recog.results._run_dir import prepare_run_dir
from asl_recog.tracking._background import Tracking

if TYPE_CHECKING:
    import pandas as pd


logger = logging.getLogger("asl_recog")


class LocalBackend(Backend):
    """Run searches on this machine: trials as Optuna trials, in parallel worker processes.

    The route supplies the plan (:class:`LocalPlan`: sampler, trial runner,
    limits); this backend runs any plan the same way: it opens the study in the
    run directory, runs the trials, ranks them and, with ``refit=True``, lets the
    route retrain the selected configuration on all the data.

    With ``storage=`` the study lives in a shared Optuna RDB storage (PostgreSQL or
    MySQL; Optuna warns against SQLite for many hosts) under ``study_name``, and
    ``asl-recog worker --study NAME --artifacts PATH`` processes on any host join the
    search; this process is one worker among them and gathers the result. Trial
    data and models travel through the artifact store ``artifacts`` (a folder every
    host mounts, or ``s3://bucket``; by default ``<run_dir>/artifacts``). See
    ``docs/scaling.md``.

    A URL with a password is a secret: a script that holds it shows it to whoever reads
    the script, and a command line shows it to every local user. So the URL may come from
    ``storage_file`` (e.g. a mounted secret) or, as Optuna's CLI reads it, from
    ``$OPTUNA_STORAGE`` when ``study_name`` is given without ``storage``.

    Args:
        storage: an Optuna storage URL, e.g. ``postgresql+psycopg://user@host/db``
            (extra ``postgres``); None keeps the study in SQLite under ``run_dir``,
            unless ``storage_file`` or (with ``study_name``) ``$OPTUNA_STORAGE`` gives one.
        study_name: the study's name in the storage (workers name it with ``--study``);
            None means ``"search"``.
        artifacts: the shared artifact store (with a shared storage only).
        storage_file: a file whose first line is the storage URL (instead of ``storage``).

    Example:
        >>> trainer = HyperDriveTrainer(builder="seed", max_total_runs=1, progress=False, backend=LocalBackend(),
        ...                             fixed_params={"hidden": 16, "batch_size": 64, "epochs": 1, "dropout": 0.1})
        >>> result = trainer.fit(train, validation)
        >>> result.backend, len(result.leaderboard)
        ('local', 1)
    """

    name = "local"

    def __init__(
        self,
        storage: str | None = None,
        study_name: str | None = None,
        artifacts: str | None = None,
        storage_file: str | os.PathLike[str] | None = None,
    ) -> None:
        if storage is None and (storage_file is not None or study_name is not None):
            storage = storage_url(None, storage_file, "LocalBackend(storage_file=...)")
        elif storage is not None and storage_file is not None:
            raise ConfigurationError("LocalBackend: give storage= or storage_file=, not both")
        if storage is not None and (not isinstance(storage, str) or "://" not in storage):
            raise ConfigurationError(
                f"LocalBackend(storage=...): {storage!r} is not an Optuna storage URL; write e.g. "
                "'postgresql+psycopg://user@host/db' (or leave it None for SQLite under run_dir)"
            )
        if study_name is not None and (not isinstance(study_name, str) or not study_name.strip()):
            raise ConfigurationError(f"LocalBackend(study_name=...): give a non-empty name, not {study_name!r}")
        if artifacts is not None and storage is None:
            raise ConfigurationError("LocalBackend(artifacts=...) is for a shared storage: give storage= too")
        self.storage, self.study_name, self.artifacts = storage, study_name, artifacts
        self.storage_file = storage_file

    def __repr__(self) -> str:
        where = "" if self.storage is None else f"storage={masked(self.storage)!r}, study_name={self.study_name!r}"
        return f"LocalBackend({where})"

    def check(self, trainer: Trainer) -> None:
        """A shared storage: the trainer's settings must be writable as JSON for workers on other hosts."""
        if self.storage is not None:
            encode_settings(trainer.get_params(deep=False))

    def fit(self, trainer: Trainer, train: SignMnistDataset, validation: SignMnistDataset) -> TrainingResult:
        """Run ``trainer``'s search here and return its result."""
        start = time.perf_counter()
        route = trainer.route
        run_dir = prepare_run_dir(trainer)
        plan = route.local_plan(trainer, train, validation, run_dir)
        resume = bool(getattr(trainer, "resume", False))
        shared = self.storage is not None
        artifacts = (self.artifacts or str((run_dir / "artifacts").resolve())) if shared else None
        study = open_study(
            run_dir,
            direction=plan.goal.value,
            sampler=plan.sampler,
            pruner=plan.pruner,
            resume=resume,
            storage=self.storage,
            study_name=self.study_name or STUDY_NAME,
        )
        if shared and not resume:
            arrays = (train.images, train.labels, validation.images, validation.labels)
            # Workers never take a tracking URI from the study (only the parent run's id): it is not written.
            settings = {k: v for k, v in trainer.get_params(deep=False).items() if k != "tracking_uri"}
            share(study, route.name, settings, arrays, str(artifacts))
        if resume:
            requeued = recover(study, run_dir)
            done = sum(t.state.is_finished() for t in study.get_trials(deepcopy=False))
            logger.info("resuming %s: %d trials done, %d interrupted trial(s) queued again", run_dir, done, requeued)
        else:
            for params in plan.initial:
                study.enqueue_trial(dict(params))
        search = start_tracking(trainer, study, run_dir, plan.metric, train, validation, shared=shared)
        with ending(search):
            result = self._run(trainer, study, run_dir, plan, train, validation, artifacts, search, start)
        return result

    def _run(
        self,
        trainer: Trainer,
        study: optuna.Study,
        run_dir: Path,
        plan: LocalPlan,
        train: SignMnistDataset,
        validation: SignMnistDataset,
        artifacts: str | None,
        search: Tracking | None,
        start: float,
    ) -> TrainingResult:
        route, shared = trainer.route, self.storage is not None
        with SearchProgress(
            getattr(trainer, "progress", True),
            route.title,
            plan.metric,
            plan.expected_trials,
            deadline_s=plan.schedule.deadline_s,
        ) as progress:
            schedule = dataclasses.replace(plan.schedule, on_update=progress.update, tracking=search)
            try:
                with watching(study) if shared else contextlib.nullcontext():
                    run_schedule(study, run_dir, schedule, artifacts=artifacts)
                    if shared:
                        wait_for_others(study, run_dir, schedule, str(artifacts))
            except KeyboardInterrupt:
                # The workers are stopped by their ids (the supervisor's finally); their trials stay
                # running in the study, which resume queues again. Say how to go on, then stop.
                done = sum(t.state.is_finished() for t in study.get_trials(deepcopy=False))
                logger.warning(
                    "interrupted after %d finished trial(s); resume with resume=True and run_dir=%r "
                    "(asl-recog train ... --out %s --resume)",
                    done,
                    str(run_dir),
                    run_dir,
                )
                raise
            if plan.after_search is not None:
                plan.after_search(study, run_dir)
            progress.update(study, {}, force=True)
        result = build_result(study, run_dir, plan, time.perf_counter() - start, artifacts)
        write_leaderboard(result.leaderboard, run_dir / LEADERBOARD_FILE)  # as the CLI does: a Python fit keeps one too
        if getattr(trainer, "refit", False):
            route.refit(trainer, result, train, validation, run_dir)
        finish_tracking(search, result, run_dir / LEADERBOARD_FILE)
        return result


def leaderboard(study: optuna.Study, metric: str, model_name: Any) -> pd.DataFrame:
    """The study's leaderboard (the one schema of :func:`asl_recog.results.make_leaderboard`)."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        if not t.state.is_finished() or was_not_run(t):  # duplicates and trials over the limit never ran
            continue
        history = list(t.user_attrs.get("history") or [t.intermediate_values[s] for s in sorted(t.intermediate_values)])
        end, begin = t.datetime_complete, t.datetime_start
        rows.append(
            {
                "trial": t.number,
                "model": model_name(t),
                "params": t.user_attrs.get("params", {}),
                "status": trial_status(t),
                "value": t.value if t.value is not None else final_value(history),
                "history": history,
                "duration_s": (end - begin).total_seconds() if end and begin else math.nan,
                "error": t.user_attrs.get("error"),
                "host": str(t.user_attrs.get("worker", "")).rpartition(":")[0] or None,
            }
        )
    return make_leaderboard(rows, metric, maximize=study.direction == optuna.study.StudyDirection.MAXIMIZE)


def first_failure(study: optuna.Study) -> TrialFailedError:
    """The error raised when no trial completed, naming the first failure."""
    trials = study.get_trials(deepcopy=False)
    failed = [t for t in trials if t.state == TrialState.FAIL and not is_interrupted(t) and not was_not_run(t)]
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
    study: optuna.Study, run_dir: Path, plan: LocalPlan, seconds: float, artifacts: str | None = None
) -> TrainingResult:
    """The TrainingResult of a finished study: the leaderboard's top completed trial and its saved model
    (downloaded from the artifact store ``artifacts`` when another host trained it)."""
    board = leaderboard(study, plan.metric, plan.model_name)
    by_number = {t.number: t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))}
    selectable = [n for n, s in zip(board["trial"], board["status"], strict=True) if s == "completed"]
    selectable = [n for n in selectable if by_number.get(n) and by_number[n].user_attrs.get("model_file")]
    if not selectable:
        raise first_failure(study)
    best = by_number[selectable[0]]  # the leaderboard's order is the one best-trial rule
    score = math.nan if best.value is None else float(best.value)  # a completed trial has a value
    model = Model.load(model_path(best, run_dir, artifacts))
    model.params = dict(best.user_attrs.get("params", {}))
    info = best.user_attrs.get("info", {})
    model.info = {
        **model.info,
        **info,
        # A robustly selected trial ranks by the mean of clean and corrupted validation accuracy
        # (its selection_score); its validation_score stays the clean one, comparable with test.
        "validation_score": info["validation_score"] if "selection_score" in info else score,
        "primary_metric": plan.metric,
        "trial": best.number,
    }
    return TrainingResult(
        best_model=model,
        best_params=model.params,
        best_score=score,
        primary_metric=plan.metric,
        leaderboard=board,
        run_dir=run_dir,
        backend="local",
        duration_s=seconds,
        extras=dict(plan.extras),
        best_trial=best.number,
    )


__all__ = ["LocalBackend", "build_result", "first_failure", "leaderboard"]
