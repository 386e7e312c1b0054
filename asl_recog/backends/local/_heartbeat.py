"""Crash recovery with Optuna's own heartbeat: a trial whose process died is failed and run again.

Every process that shares a study opens its storage with ``heartbeat_interval`` and
``grace_period`` (:func:`asl_recog.backends.local._engine.open_storage`), so
``study.optimize`` records a heartbeat for each running trial, and fails the trials
whose heartbeat is older than the grace period at the start of each of its trials.
Optuna's :class:`~optuna.storages.RetryHeartbeatStaleTrialCallback` (called
``RetryFailedTrialCallback`` before Optuna 4.9) then queues a copy of each, with its
parameters, user attributes and intermediate values, as a new trial.

What Optuna lacks is added here, through public API only:

* A worker process that the search itself sees die is not left to the grace period:
  its trials are failed and queued again at once (:func:`fail_and_retry`).
* A resumed search must recover the trials of the killed one before it counts how many
  trials are left, although no ``optimize`` step may come to fail them (all places of
  the trial limit can be taken by them): :func:`recover_stale` waits for the grace
  period and fails them itself (``optuna.storages.fail_stale_trials``).
* A trial stopped by Ctrl-C is failed by ``optimize`` but not retried (its heartbeat
  never went stale): resuming queues it again (:func:`requeue_interrupted`).

A trial failed this way carries no ``error`` user attribute (every outcome recorded
by the search sets one), so :func:`is_interrupted` tells it from a trial that failed
by itself. Heartbeats are compared with the database's clock, so hosts sharing a
study need no synchronised clocks.
"""

from __future__ import annotations

import inspect
import logging
import time
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

logger = logging.getLogger("asl_recog")

#: Seconds between two heartbeats of a running trial (Optuna takes whole seconds).
HEARTBEAT_INTERVAL_S = 1
#: A running trial whose last heartbeat is older than this belongs to a process that died.
GRACE_PERIOD_S = 5
#: The grace period of a study in a database server shared between hosts: longer, because a busy
#: host can starve a heartbeat thread for seconds (a first TensorFlow import holds the interpreter),
#: and another host would then take a live trial for a dead one.
SHARED_GRACE_PERIOD_S = 30


def grace_period(url: str) -> int:
    """The heartbeat grace period for a storage URL: short for a local SQLite file, longer for a server."""
    return GRACE_PERIOD_S if url.startswith("sqlite") else SHARED_GRACE_PERIOD_S


#: How often one configuration is run again after its process died (Optuna's ``max_retry``).
MAX_RETRY = 3


# Optuna 4.9 renamed RetryFailedTrialCallback (and RDBStorage's ``failed_trial_callback``);
# the old names still work before 4.9, which pyproject.toml allows (optuna>=4.0).
_RETRY: Any = (
    getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) or optuna.storages.RetryFailedTrialCallback
)
#: RDBStorage's keyword argument for the callback run on each trial failed by the heartbeat check.
STALE_CALLBACK_ARG = (
    "heartbeat_stale_trial_callback"
    if "heartbeat_stale_trial_callback" in inspect.signature(optuna.storages.RDBStorage).parameters
    else "failed_trial_callback"
)


def retry_callback() -> Callable[[optuna.Study, FrozenTrial], None]:
    """Optuna's retry of a dead process's trial, keeping its intermediate values (for the policies)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        callback: Callable[[optuna.Study, FrozenTrial], None] = _RETRY(
            max_retry=MAX_RETRY, inherit_intermediate_values=True
        )
        return callback


def retried_from(trial: FrozenTrial) -> int | None:
    """The number of the trial that ``trial`` runs again after its process died, if any."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        number: int | None = _RETRY.retried_trial_number(trial)
        return number


def retry_history(trial: FrozenTrial) -> list[int]:
    """The trials that ``trial`` runs again, oldest first (empty for a first run)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        history: list[int] = _RETRY.retry_history(trial)
        return history


def is_interrupted(trial: FrozenTrial) -> bool:
    """True for a trial failed because its process died or was stopped, not by its own error.

    ``interrupted`` is the attribute of searches made before Optuna's heartbeat was used.
    """
    return trial.state == TrialState.FAIL and (
        bool(trial.user_attrs.get("interrupted")) or "error" not in trial.user_attrs
    )


def fail_stale(study: optuna.Study) -> None:
    """Fail the trials whose heartbeat went stale, and queue them again (Optuna's retry callback)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def fail_and_retry(study: optuna.Study, storage: optuna.storages.BaseStorage, numbers: Iterable[int]) -> None:
    """Fail trials ``numbers``, whose process is known to be dead, and queue them again now.

    This is what ``fail_stale_trials`` does after the grace period, through the
    storage's public API. A trial that another process recorded meanwhile is left as it is.
    """
    study_id = storage.get_study_id_from_name(study.study_name)
    retry = retry_callback()
    for number in numbers:
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, number)
        try:
            if not storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # finished meanwhile (or failed by another process's heartbeat check)
        retry(study, storage.get_trial(trial_id))


def recover_stale(
    study: optuna.Study,
    wait_s: float = GRACE_PERIOD_S + 2 * HEARTBEAT_INTERVAL_S,
    storage: optuna.storages.RDBStorage | None = None,
) -> None:
    """Fail and queue again the running trials of processes that died (a killed search).

    A recent heartbeat cannot tell a live process from one killed a moment ago, so this
    waits, at most ``wait_s``, until every trial running now has finished (its process
    lives, or it went stale and was failed here); trials still running after that
    belong to a live process (another worker of the study) and are left to it.

    Optuna never takes a running trial without any heartbeat for stale: a process killed
    after asking for its trial but before its heartbeat thread first wrote would leave
    that trial running for ever. So, given the study's ``storage``, each trial still
    running after a first check is given a heartbeat here: a live process keeps it
    fresh, a dead one lets it go stale within the grace period, inside ``wait_s``.
    """
    running = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    if running:
        fail_stale(study)  # trials of processes dead long ago go at once, before any heartbeat is renewed
        running &= {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        if storage is not None and running:
            study_id = storage.get_study_id_from_name(study.study_name)
            for number in running:
                # record_heartbeat writes the database's "now": it never makes a live trial look older.
                storage.record_heartbeat(storage.get_trial_id_from_study_id_trial_number(study_id, number))
    deadline = time.monotonic() + wait_s
    while running:
        fail_stale(study)
        running &= {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        if not running or time.monotonic() > deadline:
            return
        time.sleep(HEARTBEAT_INTERVAL_S / 2)


def requeue_interrupted(study: optuna.Study) -> int:
    """Queue again the interrupted trials that no trial runs again yet (e.g. stopped by Ctrl-C).

    Returns:
        How many trials were queued.
    """
    trials = study.get_trials(deepcopy=False)
    retried = {number for t in trials for number in retry_history(t)}
    retry, queued = retry_callback(), 0
    for trial in trials:
        if is_interrupted(trial) and trial.number not in retried:
            before = len(study.get_trials(deepcopy=False))
            retry(study, trial)
            queued += len(study.get_trials(deepcopy=False)) > before
    return queued


__all__ = [
    "GRACE_PERIOD_S",
    "SHARED_GRACE_PERIOD_S",
    "grace_period",
    "HEARTBEAT_INTERVAL_S",
    "MAX_RETRY",
    "STALE_CALLBACK_ARG",
    "fail_and_retry",
    "fail_stale",
    "is_interrupted",
    "recover_stale",
    "requeue_interrupted",
    "retried_from",
    "retry_callback",
    "retry_history",
]
