"""A search as MLflow runs: one parent run, a nested run per trial, one for the refit.

Written on :class:`mlflow.MlflowClient` rather than ``optuna_integration.MLflowCallback``:
that callback logs through MLflow's fluent API (one process-global active run and
tracking URI, which a notebook's own run would collide with), names the experiment after
the study, and logs only a trial's final value. A search here needs each trial's
per-epoch curve as a metric history, its host, and a parent run that workers on other
hosts find by id (from the study) on their own tracking server.

Every trial run is one ``create_run`` (its start time and tags), one ``log_batch``
(params, the metric history, duration) and one ``set_terminated``: three requests, so
tracking costs a search milliseconds per trial.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeGuard

from asl_recog._environ import environment
from asl_recog._errors import ConfigurationError
from asl_recog._version import __version__
from asl_recog.data._dataset import SignMnistDataset
from asl_recog.models._record import dataset_sha256
from asl_recog.tracking._client import (
    MLFLOW_CALLS,
    MLFLOW_FIRST_CONTACT,
    check_run_id,
    client,
    entities,
    experiment_id,
    mlflow_exception,
)

logger = logging.getLogger("asl_recog")

#: MLflow's limits (``mlflow.utils.validation``): a param value's length, and entries per log_batch.
MAX_PARAM_LENGTH = 6000
_BATCH_PARAMS, _BATCH_METRICS = 100, 1000
#: The MLflow tag that nests a run under another (what ``mlflow.start_run(nested=True)`` writes).
PARENT_TAG = "mlflow.parentRunId"
#: Run status per trial state: pruned trials were stopped by the policy (KILLED, as MLflow names a stopped run).
_STATUS = {"completed": "FINISHED", "stopped early": "KILLED", "failed": "FAILED"}


@dataclass(frozen=True)
class SearchRun:
    """Where a tracked search logs: the server, its parent run and experiment, and its primary metric.

    Picklable: spawned workers receive it in their plan. A worker on another host builds its
    own from its tracking URI and the parent run's id, which it reads from the study.

    Example:
        >>> SearchRun("http://127.0.0.1:5000", "0" * 32, "1", "accuracy").as_dict()["run_id"] == "0" * 32
        True
    """

    tracking_uri: str
    run_id: str
    experiment_id: str
    metric: str

    def as_dict(self) -> dict[str, str]:
        """The JSON form kept in ``TrainingResult.extras["mlflow"]``."""
        return {"tracking_uri": self.tracking_uri, "run_id": self.run_id, "experiment_id": self.experiment_id}


@dataclass
class TrialRun:
    """One finished trial as a nested run: plain values, so this module needs no search engine.

    Attributes:
        number: the trial's number (the run is named ``trial-<number>``).
        status: ``"completed"``, ``"stopped early"`` or ``"failed"`` (the leaderboard's words).
        params: the values the trial used.
        history: the primary metric per epoch (logged as the metric's history, step = epoch).
        value: the trial's final metric, if any.
        start: wall-clock start (``time.time()``).
        duration_s: how long it ran.
        host: the host that ran it.
        error: why it failed, if it did.
    """

    number: int
    status: str
    params: Mapping[str, Any]
    history: Sequence[float] = ()
    value: float | None = None
    start: float = field(default_factory=time.time)
    duration_s: float | None = None
    host: str = field(default_factory=socket.gethostname)
    error: str | None = None


@lru_cache(maxsize=8)
def _client(tracking_uri: str) -> Any:
    """One client per server and process (a worker logs many trials)."""
    return client(tracking_uri)


def _short(exc: BaseException) -> str:
    """The first line of an MLflow error (its messages can carry a whole traceback)."""
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= MAX_PARAM_LENGTH else text[: MAX_PARAM_LENGTH - 3] + "..."


def _finite(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _log_batch(mlflow_client: Any, run_id: str, params: Mapping[str, Any], metrics: Sequence[Any] = ()) -> None:
    """Params and metrics in as few requests as MLflow's per-batch limits allow (usually one)."""
    names = [entities.Param(str(k), _text(v)) for k, v in params.items()]
    values = list(metrics)
    while names or values:
        mlflow_client.log_batch(run_id, params=names[:_BATCH_PARAMS], metrics=values[:_BATCH_METRICS])
        names, values = names[_BATCH_PARAMS:], values[_BATCH_METRICS:]


def dataset_tags(name: str, data: SignMnistDataset) -> dict[str, str]:
    """Tags that identify one data set: rows, source and the SHA-256 its run record holds.

    Example:
        >>> tags = dataset_tags("train", train)
        >>> tags["data.train.sha256"] == dataset_sha256(train), tags["data.train.rows"] == str(len(train))
        (True, True)
    """
    return {
        f"data.{name}.rows": str(len(data)),
        f"data.{name}.sha256": dataset_sha256(data),
        f"data.{name}.source": data.source,
    }


def start_search(
    tracking_uri: str,
    *,
    run_name: str,
    metric: str,
    settings: Mapping[str, Any],
    tags: Mapping[str, str],
    resume_run_id: str | None = None,
    in_background: bool = False,
    start_time: float | None = None,
) -> SearchRun:
    """Open the parent run of a search (or, on resume, its earlier one) and log its settings and data.

    Args:
        tracking_uri: the server (``http://...``), a SQLAlchemy URL or a folder.
        run_name: shown in the MLflow UI (the run folder's name).
        metric: the primary metric the trials log.
        settings: the trainer's settings, logged as params.
        tags: the data's checksums and split, the route, the run folder.
        resume_run_id: the parent run of the search being resumed (read from its study).
        in_background: called from a background thread (``_background.OpeningSearch``), which
            must not touch the environment: changing it from a second thread races with C code
            reading it. MLflow's settings (:data:`MLFLOW_CALLS`) are then set by the thread that
            started it, and the first request retries as the others do.
        start_time: when the search started (``time.time()``), for a run opened after its start;
            None is now.

    Raises:
        ConfigurationError: the server cannot be reached, or the run to resume is not on it.
    """
    with contextlib.nullcontext() if in_background else environment(MLFLOW_CALLS):
        return _start(tracking_uri, run_name, metric, settings, tags, resume_run_id, in_background, start_time)


def _start(
    tracking_uri: str,
    run_name: str,
    metric: str,
    settings: Mapping[str, Any],
    tags: Mapping[str, str],
    resume_run_id: str | None,
    in_background: bool,
    start_time: float | None,
) -> SearchRun:
    mlflow_client = _client(tracking_uri)
    # The first request does not retry (a wrong URI fails at once); in the background the search has
    # checked the server already (_client.check_reachable), and the environment is not ours to change.
    contact = contextlib.nullcontext() if in_background else environment(MLFLOW_FIRST_CONTACT)
    try:
        if resume_run_id is not None:
            with contact:
                run = mlflow_client.get_run(check_run_id(resume_run_id, "the study's parent run"))
            mlflow_client.update_run(run.info.run_id, status="RUNNING")
            logger.info("tracking: resuming MLflow run %s on %s", run.info.run_id, tracking_uri)
            return SearchRun(tracking_uri, run.info.run_id, run.info.experiment_id, metric)
        with contact:
            experiment = experiment_id(mlflow_client)
        all_tags = {"asl_recog.version": __version__, "host": socket.gethostname(), **tags}
        started = None if start_time is None else int(start_time * 1000)
        run = mlflow_client.create_run(experiment, start_time=started, run_name=run_name, tags=all_tags)
        _log_batch(mlflow_client, run.info.run_id, settings)
    except (mlflow_exception(), OSError) as exc:  # OSError: requests' ConnectionError
        raise ConfigurationError(
            f"tracking_uri={tracking_uri!r}: MLflow did not take the search's run ({_short(exc)}). Fix: start the "
            "server or correct the URI, or leave tracking_uri unset to run without tracking"
        ) from exc
    where = (
        f"{tracking_uri.rstrip('/')}/#/experiments/{experiment}/runs/{run.info.run_id}"
        if tracking_uri.startswith(("http://", "https://"))
        else f"{tracking_uri}, experiment {experiment}"
    )
    logger.info("tracking: this search is MLflow run %s: %s", run.info.run_id, where)
    return SearchRun(tracking_uri, run.info.run_id, str(experiment), metric)


@environment(MLFLOW_CALLS)
def join_search(tracking_uri: str, run_id: Any, metric: str) -> SearchRun:
    """A worker's view of a tracked search: the parent run ``run_id`` (read from the study) on its own server.

    Raises:
        ConfigurationError: ``run_id`` is not a run id, or no such run is on ``tracking_uri``.
    """
    run_id = check_run_id(run_id, "the study's MLflow parent run")
    try:
        with environment(MLFLOW_FIRST_CONTACT):
            run = _client(tracking_uri).get_run(run_id)
    except (mlflow_exception(), OSError) as exc:
        raise ConfigurationError(
            f"the search logs to MLflow run {run_id}, which is not on tracking server {tracking_uri!r} "
            f"({_short(exc)}). "
            "Fix: point --tracking-uri (or $MLFLOW_TRACKING_URI) at the server the search was started with"
        ) from exc
    return SearchRun(tracking_uri, run_id, run.info.experiment_id, metric)


def log_trial(search: SearchRun, trial: TrialRun) -> str:
    """Log one finished trial as a run nested under the search's parent; returns its run id.

    Called with MLflow's settings (:data:`MLFLOW_CALLS`) already in the environment: by the
    background thread of ``_background``, which sets them from the search's thread, since
    changing the environment from a second thread races with C code reading it.
    """
    mlflow_client = _client(search.tracking_uri)
    tags = {PARENT_TAG: search.run_id, "trial": str(trial.number), "state": trial.status, "host": trial.host}
    if trial.error:
        tags["error"] = trial.error[:5000]
    start_ms = int(trial.start * 1000)
    run = mlflow_client.create_run(
        search.experiment_id, start_time=start_ms, tags=tags, run_name=f"trial-{trial.number}"
    )
    # The curve: one point per epoch, timed across the trial (only its total duration is known).
    steps = [float(v) for v in trial.history]
    step_ms = (trial.duration_s or 0.0) * 1000 / max(len(steps), 1)
    metrics = [
        entities.Metric(search.metric, v, int(start_ms + (i + 1) * step_ms), i + 1)
        for i, v in enumerate(steps)
        if _finite(v)
    ]
    if _finite(trial.value) and (not steps or steps[-1] != trial.value):
        metrics.append(
            entities.Metric(search.metric, float(trial.value), start_ms + int(len(steps) * step_ms), len(steps))
        )
    if _finite(trial.duration_s):
        metrics.append(entities.Metric("duration_s", float(trial.duration_s), start_ms, 0))
    _log_batch(mlflow_client, run.info.run_id, trial.params, metrics)
    end_ms = start_ms + int((trial.duration_s or 0.0) * 1000)
    mlflow_client.set_terminated(run.info.run_id, status=_STATUS.get(trial.status, "FAILED"), end_time=end_ms)
    return str(run.info.run_id)


@environment(MLFLOW_CALLS)
def log_nested(
    search: SearchRun,
    name: str,
    *,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    status: str = "FINISHED",
    tags: Mapping[str, str] | None = None,
    start: float | None = None,
) -> str:
    """Log a finished step of the search (the refit) as a nested run; returns its run id."""
    mlflow_client = _client(search.tracking_uri)
    start_ms = int((start or time.time()) * 1000)
    run = mlflow_client.create_run(
        search.experiment_id, start_time=start_ms, run_name=name, tags={PARENT_TAG: search.run_id, **(tags or {})}
    )
    _log_values(search, run.info.run_id, params, metrics)
    mlflow_client.set_terminated(run.info.run_id, status=status)
    return str(run.info.run_id)


def _log_values(search: SearchRun, run_id: str, params: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
    now = int(time.time() * 1000)
    entries = [entities.Metric(k, float(v), now, 0) for k, v in metrics.items() if _finite(v)]
    _log_batch(_client(search.tracking_uri), run_id, params, entries)


@environment(MLFLOW_CALLS)
def log_to_parent(search: SearchRun, *, metrics: Mapping[str, float], tags: Mapping[str, str] | None = None) -> None:
    """Add figures (the search's best score, the comparison's test figures) and tags to the parent run."""
    _log_values(search, search.run_id, {}, metrics)
    for key, value in (tags or {}).items():
        _client(search.tracking_uri).set_tag(search.run_id, key, value)


@environment(MLFLOW_CALLS)
def log_artifact(search: SearchRun, path: str, artifact_path: str | None = None) -> None:
    """Upload a file or folder (a leaderboard, a report) to the parent run."""
    mlflow_client = _client(search.tracking_uri)
    if os.path.isdir(path):
        mlflow_client.log_artifacts(search.run_id, path, artifact_path)
    else:
        mlflow_client.log_artifact(search.run_id, path, artifact_path)


@environment(MLFLOW_CALLS)
def end_search(search: SearchRun, status: str) -> None:
    """Mark the parent run ``FINISHED``, ``KILLED`` (interrupted) or ``FAILED``."""
    _client(search.tracking_uri).set_terminated(search.run_id, status=status)


__all__ = [
    "PARENT_TAG",
    "SearchRun",
    "TrialRun",
    "dataset_tags",
    "end_search",
    "join_search",
    "log_artifact",
    "log_nested",
    "log_to_parent",
    "log_trial",
    "start_search",
]
