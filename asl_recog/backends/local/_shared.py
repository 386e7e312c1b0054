"""One search shared by workers on many hosts: the study in a shared RDB storage, files in an artifact store.

The search that calls ``fit`` (the coordinator) creates the study, writes its
recipe (``_recipe``) and uploads its data (``_artifacts``); it then runs its own
workers like any local search, and so does every ``asl-recog worker`` that joins
(:func:`join`). They talk only through the database and the artifact store; the
trial limit, the early-termination policies and crash recovery work across hosts
because they read the shared storage (``_reservation``, ``_pruners``, ``_heartbeat``).
When the coordinator's workers are done, it waits for the trials other hosts still
run (:func:`wait_for_others`) and then gathers the result, downloading the winner's
model from the artifact store (:func:`model_path`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from asl_recog._errors import ConfigurationError
from asl_recog.backends.local._artifacts import artifact_store, download_data, fetch_model, upload_data
from asl_recog.backends.local._engine import open_storage, remember_url, study_url
from asl_recog.backends.local._heartbeat import HEARTBEAT_INTERVAL_S, SHARED_GRACE_PERIOD_S, fail_and_retry, fail_stale
from asl_recog.backends.local._plan import LocalPlan
from asl_recog.backends.local._recipe import RECIPE_KEY, encode_settings, publish, wait_for
from asl_recog.backends.local._reservation import queued_with_place
from asl_recog.backends.local._scheduler import Schedule, run_schedule
from asl_recog.backends.local._storage_url import masked

logger = logging.getLogger("asl_recog")

#: Seconds after which a running trial that no worker has signed belongs to a process that died.
UNSIGNED_AFTER_S = 2 * SHARED_GRACE_PERIOD_S


def share(
    study: optuna.Study,
    route: str,
    settings: dict[str, Any],
    arrays: tuple[np.ndarray, ...],
    artifacts: str,
) -> None:
    """Make ``study`` joinable: upload the data and write the recipe (route, settings, data, artifact store)."""
    encoded = encode_settings(settings)
    data = upload_data(study, artifact_store(artifacts), arrays)
    publish(study, {"route": route, "settings": encoded, "data": data, "artifacts": str(artifacts)})


def recipe_of(study: optuna.Study) -> dict[str, Any]:
    """The recipe that :func:`share` wrote into ``study``."""
    return dict(study.user_attrs[RECIPE_KEY])


def open_shared(url: str, study_name: str, wait_s: float) -> optuna.Study:
    """The shared study, once its search has written its recipe (see ``_recipe.wait_for``)."""
    try:
        storage = open_storage(url)
    except ImportError as exc:  # Optuna's wording hides which module; its cause names it
        missing = getattr(exc.__cause__, "name", None) or str(exc)
        raise ConfigurationError(
            f"the storage {masked(url)} needs the database driver {missing!r}, which is not installed here; "
            "pip install 'asl-recog[postgres]' for PostgreSQL, or the driver that URL names"
        ) from None
    return wait_for(storage, study_name, wait_s)


def fetch_data(study: optuna.Study, artifacts: str, folder: Path) -> tuple[np.ndarray, ...]:
    """The search's data arrays (train images, labels, validation images, labels), checked by checksum.

    ``artifacts`` is this host's own setting: the recipe's ``artifacts`` (the coordinator's
    path) is never opened, as anyone who can write the study could point it at ``/``.
    """
    return download_data(artifact_store(artifacts), recipe_of(study)["data"], folder)


def join(url: str, study_name: str, run_dir: Path, plan: LocalPlan, artifacts: str) -> None:
    """Run trials of the shared study here until the search's limits end this worker's share.

    Args:
        url: the storage's URL.
        study_name: the shared study's name.
        run_dir: where this worker keeps its models and logs.
        plan: the search, rebuilt on this host from the recipe (the route's ``local_plan``).
        artifacts: this host's path to the artifact store (its own setting, never the recipe's).
    """
    study = optuna.load_study(
        study_name=study_name, storage=open_storage(url), sampler=plan.sampler, pruner=plan.pruner
    )
    remember_url(study, url)
    # Copies of one seeded sampler on every host would propose the same points (TPE; the random
    # sampler draws per trial number, so reseeding it changes nothing).
    study.sampler.reseed_rng()
    run_schedule(study, run_dir, plan.schedule, artifacts=artifacts, joining=True)


@contextlib.contextmanager
def watching(study: optuna.Study) -> Iterator[None]:
    """Fail and queue again, every few seconds, the trials of workers that died on any host.

    Optuna's own check runs only when a worker starts a trial, so a trial of a dead host
    would wait for the next one; the search process watches while its trials run.
    """
    done = threading.Event()

    def watch() -> None:
        while not done.wait(2 * HEARTBEAT_INTERVAL_S):
            try:
                fail_stale(study)
            except Exception as exc:  # a lost connection must not end the search: the next look retries
                logger.debug("checking for stale trials failed: %s", exc)

    thread = threading.Thread(target=watch, name="asl-stale-watch", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def wait_for_others(study: optuna.Study, run_dir: Path, schedule: Schedule, artifacts: str) -> None:
    """After this process's workers are done: wait for the trials other hosts run, and run what they leave.

    A trial whose host died goes stale and is failed and queued again by Optuna's
    heartbeat; when no worker is left to run that copy, this process runs it.
    """
    while True:
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if running:
            fail_stale(study)
            # A worker that died between Optuna's ask and its first heartbeat leaves a trial that no
            # heartbeat check sees: unsigned (no ``worker``) long after it started, it is failed here.
            now = time.time()
            unsigned = [
                t.number
                for t in running
                if "worker" not in t.user_attrs
                and t.datetime_start is not None
                and now - t.datetime_start.timestamp() > UNSIGNED_AFTER_S
            ]
            if unsigned:
                fail_and_retry(study, open_storage(study_url(study, run_dir)), unsigned)
            time.sleep(HEARTBEAT_INTERVAL_S)
            continue
        if not queued_with_place(study.get_trials(deepcopy=False), schedule.max_trials):
            return
        logger.info("running the trials that workers on other hosts left queued")
        run_schedule(study, run_dir, schedule, artifacts=artifacts, joining=True)


def model_path(trial: FrozenTrial, run_dir: Path, artifacts: str | None) -> str:
    """A trial's model file here: its own path, else downloaded from the artifact store (another host's)."""
    path = str(trial.user_attrs["model_file"])
    artifact_id = trial.user_attrs.get("model_artifact")
    if Path(path).is_file() or artifacts is None or not artifact_id:
        return path
    return str(fetch_model(artifact_store(artifacts), str(artifact_id), path, Path(run_dir) / "models" / "shared"))


__all__ = ["fetch_data", "join", "model_path", "open_shared", "recipe_of", "share", "wait_for_others", "watching"]
