"""Heartbeats: tell a trial that a live process is running from one left RUNNING by a killed search.

Several processes, on one host or many, may share a run's study (two resumers of
one ``run_dir``, or the workers of a distributed search). A resumer must recover
the trials of a killed search, but must leave alone those that another live
process is running. The process that supervises a trial (the search process,
for in-process trials and worker-process trials alike) therefore records the
time in the trial's user attribute ``heartbeat`` every
:data:`HEARTBEAT_INTERVAL_S` seconds from a background thread. A RUNNING trial
whose heartbeat has not advanced for :data:`STALE_AFTER_S` seconds belongs to a
process that stopped.

Optuna's own heartbeat (``RDBStorage(heartbeat_interval=...)`` with
``fail_stale_trials``) is not used: it moves a stale trial to FAIL before any
callback runs, and a finished trial's user attributes can no longer be written,
so the trial could not be marked ``interrupted`` (which keeps it out of the
trial limit and the leaderboard); and it can only be read through private
storage methods. Heartbeats compare wall clocks, so hosts that share a study
need synchronised clocks (NTP), as Optuna's heartbeat does.
"""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType
from typing import Self

import optuna
from optuna.trial import TrialState

logger = logging.getLogger("asl_recog")

#: Seconds between two heartbeats of a running trial.
HEARTBEAT_INTERVAL_S = 1.0
#: A RUNNING trial whose heartbeat is this old (five missed beats) belongs to a stopped process.
#: It is also the longest a resume waits, right after a kill, to tell a killed trial from a live one.
STALE_AFTER_S = 5.0
HEARTBEAT = "heartbeat"


class Heartbeat:
    """Records a heartbeat for each trial this process runs, from a background thread.

    Example:
        >>> study = optuna.create_study()
        >>> trial = study.ask()
        >>> with Heartbeat() as heartbeat:
        ...     heartbeat.add(trial)  # beats until removed
        ...     _ = study.tell(trial, 0.5)  # the trial runs here
        ...     heartbeat.remove(trial.number)
        >>> HEARTBEAT in study.trials[0].user_attrs
        True
    """

    def __init__(self, interval_s: float = HEARTBEAT_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._trials: dict[int, optuna.trial.Trial] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="asl-recog-heartbeat", daemon=True)

    def start(self) -> None:
        """Start beating (in a daemon thread, so a killed or exiting process simply stops)."""
        self._thread.start()

    def stop(self) -> None:
        """Stop beating for every trial: those still RUNNING become stale after ``STALE_AFTER_S``."""
        self._stopped.set()
        self._thread.join()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def add(self, trial: optuna.trial.Trial) -> None:
        """Beat for ``trial`` now (so a resumer never sees it without one) and every interval after."""
        _beat(trial)
        with self._lock:
            self._trials[trial.number] = trial

    def remove(self, number: int) -> None:
        """Stop beating for trial ``number`` (it finished, or was recorded without running)."""
        with self._lock:
            self._trials.pop(number, None)

    def _run(self) -> None:
        while not self._stopped.wait(self.interval_s):
            with self._lock:
                trials = list(self._trials.values())
            for trial in trials:
                _beat(trial)


def _beat(trial: optuna.trial.Trial) -> None:
    try:
        trial.set_user_attr(HEARTBEAT, time.time())
    except optuna.exceptions.UpdateFinishedTrialError:
        pass  # finished between the last beat and its removal, or by another process: nothing to keep alive
    except optuna.exceptions.StorageInternalError as exc:  # e.g. a database busy past its timeout
        # A missed beat must not end a search; the next one retries. Only STALE_AFTER_S of
        # missed beats in a row would let a resumer take the trial for a killed one.
        logger.debug("heartbeat of trial %d not recorded: %s", trial.number, exc)
    except Exception as exc:
        # A dead heartbeat thread would let a resumer take every trial of this live process for a
        # killed one; keep beating, and say why this beat was lost.
        logger.warning("heartbeat of trial %d not recorded: %s: %s", trial.number, type(exc).__name__, exc)


def last_beat(trial: optuna.trial.FrozenTrial) -> float:
    """When the trial last showed life: its heartbeat, else its start (a trial of an older version)."""
    beat = trial.user_attrs.get(HEARTBEAT)
    if beat is not None:
        return float(beat)
    return trial.datetime_start.timestamp() if trial.datetime_start is not None else 0.0


def stale_running_trials(
    study: optuna.Study, stale_after_s: float = STALE_AFTER_S, poll_s: float = HEARTBEAT_INTERVAL_S
) -> list[optuna.trial.FrozenTrial]:
    """The RUNNING trials whose process has stopped (killed, or its host lost).

    A trial whose heartbeat is older than ``stale_after_s`` is stale at once. A
    recent heartbeat cannot tell a live process from one killed a moment ago, so
    this waits, at most ``stale_after_s``, until each such trial's heartbeat
    advances (alive), the trial finishes (alive), or its heartbeat grows old (stale).

    Returns:
        The stale trials, as read last.
    """
    first = {t.number: last_beat(t) for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    while True:
        now = time.time()
        current = {t.number: t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        silent = {n: t for n, t in current.items() if n in first and last_beat(t) == first[n]}
        if all(now - first[n] >= stale_after_s for n in silent):
            return [silent[n] for n in sorted(silent)]
        time.sleep(poll_s)


__all__ = ["HEARTBEAT", "HEARTBEAT_INTERVAL_S", "STALE_AFTER_S", "Heartbeat", "last_beat", "stale_running_trials"]
