"""A local search in MLflow: the parent run from the search, a nested run per trial from each worker.

The parent run's id is the one thing the study holds (user attribute :data:`RUN_ID_ATTR`):
a worker on another host reads it, checks it is a run id and that the run exists on its
*own* tracking server (``--tracking-uri`` / ``$MLFLOW_TRACKING_URI``), and logs its trials
there. The tracking URI never comes from the study: whoever can write the study must not
be able to send a worker's traffic (and credentials) elsewhere.

A trial is logged once it is recorded, so trials appear in MLflow as the search runs: by the
in-process worker's after-trial callback, or by the process that supervises the worker processes
(the search, or an ``asl-recog worker``), which sees each finished trial of its workers. Worker
processes never import MLflow (about 76 MiB each). A tracking failure (the server
went away) is logged as a warning and the search goes on: its trials stay in the study.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from asl_recog.backends.local._progress import trial_status
from asl_recog.backends.local._reservation import was_not_run
from asl_recog.data._dataset import SignMnistDataset
from asl_recog.results import TrainingResult
from asl_recog.tracking._background import OPEN_TIMEOUT_S, OpeningSearch, Tracking, flush, opened, submit
from asl_recog.tracking._client import check_reachable
from asl_recog.tracking._search import (
    SearchRun,
    TrialRun,
    dataset_tags,
    end_search,
    log_artifact,
    log_nested,
    log_to_parent,
    start_search,
)

logger = logging.getLogger("asl_recog")

#: The study's user attribute holding the parent run's id (nothing else about tracking is in the study).
RUN_ID_ATTR = "mlflow_run_id"
#: Leaderboard words -> the run states of :mod:`asl_recog.tracking._search`.
_LOGGED = {"completed": "completed", "pruned": "stopped early", "failed": "failed"}


def trial_run(trial: FrozenTrial) -> TrialRun | None:
    """A finished trial as plain values for MLflow; None for one recorded without running (a duplicate)."""
    status = _LOGGED.get(trial_status(trial))
    if status is None or was_not_run(trial):
        return None  # interrupted trials run again under a new number; duplicates never ran
    begin, end = trial.datetime_start, trial.datetime_complete
    history = trial.user_attrs.get("history") or [v for _, v in sorted(trial.intermediate_values.items())]
    return TrialRun(
        number=trial.number,
        status=status,
        params=dict(trial.user_attrs.get("params") or trial.params),
        history=[float(v) for v in history],
        value=trial.value,
        start=begin.timestamp() if begin else 0.0,
        duration_s=(end - begin).total_seconds() if begin and end else None,
        host=str(trial.user_attrs.get("worker", "")).rpartition(":")[0] or "unknown",
        error=trial.user_attrs.get("error"),
    )


def log_finished_trial(search: Tracking, trial: FrozenTrial) -> None:
    """Queue ``trial`` to be logged under the search's parent run, in the background (see ``flush``)."""
    run = trial_run(trial)
    if run is not None:
        submit(search, run)


def start_tracking(
    trainer: Any,
    study: optuna.Study,
    run_dir: Path,
    metric: str,
    train: SignMnistDataset,
    validation: SignMnistDataset,
    *,
    shared: bool = False,
) -> Tracking | None:
    """The parent run of ``trainer``'s search when it has a ``tracking_uri``, else None.

    On resume, the run recorded in the study goes on; otherwise a new one is opened with the
    trainer's settings as params and the data's checksums and split as tags, and its id is
    written to the study for workers that join. A new run of a search that only this process
    runs (not ``shared``) is opened in the background once its first trial has finished (see
    ``_background.OpeningSearch``), so that no trial waits for MLflow's import; a shared search's
    id must be in the study before workers join.
    """
    uri = getattr(trainer, "tracking_uri", None)
    if uri is None:
        return None
    resume_id = study.user_attrs.get(RUN_ID_ATTR) if getattr(trainer, "resume", False) else None
    settings = {k: v for k, v in trainer.get_params(deep=False).items() if k != "backend"}
    tags = {
        "asl_recog.route": trainer.route.name,
        "run_dir": str(run_dir),
        "data.split": str(getattr(trainer, "validation_split_", "given")),
        **dataset_tags("train", train),
        **dataset_tags("validation", validation),
    }
    if resume_id is None and not shared:
        check_reachable(uri)  # a wrong address stops the search now, not after its first trial
        started = time.time()

        def open_run() -> SearchRun:
            return start_search(
                uri,
                run_name=run_dir.name,
                metric=metric,
                settings=settings,
                tags=tags,
                in_background=True,
                start_time=started,
            )

        return OpeningSearch(open_run, on_open=lambda run: study.set_user_attr(RUN_ID_ATTR, run.run_id))
    search = start_search(
        uri, run_name=run_dir.name, metric=metric, settings=settings, tags=tags, resume_run_id=resume_id
    )
    study.set_user_attr(RUN_ID_ATTR, search.run_id)
    return search


@contextlib.contextmanager
def ending(search: Tracking | None) -> Iterator[None]:
    """End the parent run with the search: FINISHED, KILLED on Ctrl-C, FAILED on an error."""
    if search is None:
        yield
        return
    try:
        yield
    except KeyboardInterrupt:
        flush(search, timeout_s=10)  # Ctrl-C: the trials done so far, if quick; the study has them all
        _end(search, "KILLED", timeout_s=10)
        raise
    except BaseException:
        flush(search)
        _end(search, "FAILED")
        raise
    flush(search)
    _end(search, "FINISHED")


def _end(search: Tracking, status: str, timeout_s: float = OPEN_TIMEOUT_S) -> None:
    try:
        parent = opened(search, timeout_s)
        if parent is not None:
            end_search(parent, status)
    except Exception as exc:  # never hide the search's own outcome behind the tracker's
        logger.warning("tracking: the search's MLflow run was not marked %s (%s)", status, exc)
    finally:
        if isinstance(search, OpeningSearch):
            search.close()


def finish_tracking(tracking: Tracking | None, result: TrainingResult, board_file: Path) -> None:
    """Log the search's outcome to its parent run (best score, leaderboard) and the refit as a nested run."""
    search = None if tracking is None else opened(tracking)
    if search is None:
        return  # untracked, or its parent run was not opened (warned then)
    result.extras["mlflow"] = search.as_dict()
    try:
        log_to_parent(
            search,
            metrics={f"best_{search.metric}": result.best_score, "trials": len(result.leaderboard)},
            tags={"best_trial": str(result.best_trial), "best_model": str(result.best_model)[:500]},
        )
        log_artifact(search, str(board_file))
        if result.refit:
            refit_tags = {k: str(v) for k, v in result.extras.items() if k.startswith("refit")}
            log_nested(
                search,
                "refit",
                params=result.best_params,
                metrics={"duration_s": result.refit_seconds or float("nan")},
                tags={"trial": str(result.best_trial), **refit_tags},
                start=time.time() - (result.refit_seconds or 0.0),  # it has just ended
            )
    except Exception as exc:  # the model is trained and saved; say what MLflow lacks and go on
        logger.warning("tracking: the search's outcome was not logged to MLflow run %s (%s)", search.run_id, exc)


__all__ = ["RUN_ID_ATTR", "ending", "finish_tracking", "log_finished_trial", "start_tracking", "trial_run"]
