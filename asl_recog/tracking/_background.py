"""Trial runs logged from a background thread, so that their requests overlap the next trial's training.

Each trial is three requests to the tracking server (see :func:`log_trial`), a few hundred
milliseconds on a small server; done in the thread that runs the trials they would add that
to every trial (12 % of a 20-trial search of 1-epoch CNNs, measured with
``bench/bench_tracking.py``). Here they go to a queue that one daemon thread per search
empties in order; :func:`flush` waits for it when the search ends. A failure to log a trial
is a warning and the search goes on: the trial is in the study either way.

MLflow's own asynchronous logging (``log_batch(synchronous=False)``) covers only the batch;
creating and ending the run, two of the three requests, stay synchronous there.
"""

from __future__ import annotations

import logging
import queue
import threading

from asl_recog._environ import environment
from asl_recog.tracking._client import MLFLOW_CALLS
from asl_recog.tracking._search import SearchRun, TrialRun, log_trial

logger = logging.getLogger("asl_recog")

#: How long the end of a search waits for trial runs still queued.
FLUSH_TIMEOUT_S = 120.0

_lock = threading.Lock()
_queues: dict[str, _TrialQueue] = {}


class _TrialQueue:
    """The trial runs of one search, logged in order by one daemon thread."""

    def __init__(self, search: SearchRun) -> None:
        self.search = search
        # MLflow's settings for these calls, set here in the search's thread and put back by flush:
        # setting the environment from the logging thread would race with C code reading it.
        self.settings = environment(MLFLOW_CALLS)
        self.settings.__enter__()
        self.pending: queue.SimpleQueue[TrialRun | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._work, name=f"asl-recog-mlflow-{search.run_id[:8]}", daemon=True)
        self.thread.start()

    def _work(self) -> None:
        while (run := self.pending.get()) is not None:
            try:
                log_trial(self.search, run)
            except Exception as exc:  # the server is gone or refused: the trial is safe in the study
                logger.warning(
                    "tracking: trial %d was not logged to MLflow (%s: %s)", run.number, type(exc).__name__, exc
                )


def submit(search: SearchRun, run: TrialRun) -> None:
    """Queue ``run`` to be logged under ``search``'s parent run (it is logged in the background).

    Example:
        >>> search = SearchRun("http://127.0.0.1:9", "0" * 32, "1", "accuracy")
        >>> flush(search)  # nothing was queued: returns at once
        0
    """
    with _lock:
        pending = _queues.get(search.run_id)
        if pending is None:
            pending = _queues[search.run_id] = _TrialQueue(search)
    pending.pending.put(run)


def flush(search: SearchRun, timeout_s: float = FLUSH_TIMEOUT_S) -> int:
    """Wait until every trial queued for ``search`` is logged; returns how many were still queued at the timeout."""
    with _lock:
        pending = _queues.pop(search.run_id, None)
    if pending is None:
        return 0
    pending.pending.put(None)
    pending.thread.join(timeout_s)
    if not pending.thread.is_alive():
        pending.settings.__exit__(None, None, None)
        return 0
    left = pending.pending.qsize()
    logger.warning("tracking: %d trial run(s) were not logged to MLflow within %.0f s", left, timeout_s)
    return left


__all__ = ["FLUSH_TIMEOUT_S", "flush", "submit"]
