"""Trial runs logged from a background thread, so that their requests overlap the next trial's training.

Each trial is three requests to the tracking server (see :func:`log_trial`), a few hundred
milliseconds on a small server; done in the thread that runs the trials they would add that
to every trial (12 % of a 20-trial search of 1-epoch CNNs, measured with
``bench/bench_tracking.py``). Here they go to a queue that one daemon thread per search
empties in order; :func:`flush` waits for it when the search ends. A failure to log a trial
is a warning and the search goes on: the trial is in the study either way.

MLflow's own asynchronous logging (``log_batch(synchronous=False)``) covers only the batch;
creating and ending the run, two of the three requests, stay synchronous there.

The parent run of a search that no other host joins is opened in the background too
(:class:`OpeningSearch`): MLflow's import and the run's three requests take about 2.5 s,
which the first trial no longer waits for (docs/benchmarks.md, "Tracking overhead"). It is
opened once the first trial has finished (or after :data:`OPEN_DELAY_S`), not at once:
MLflow's import is about 1 s of Python that holds the interpreter lock, and run beside the
first trial, which is importing TensorFlow and tracing its graph, it made that trial 2 s
slower; beside a later trial, which spends its time in TensorFlow's own threads, it costs
about half that. The run still starts at the search's start (``start_time``).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable

from asl_recog._environ import environment
from asl_recog.tracking._client import MLFLOW_CALLS
from asl_recog.tracking._search import SearchRun, TrialRun, log_trial

logger = logging.getLogger("asl_recog")

#: How long the end of a search waits for trial runs still queued.
FLUSH_TIMEOUT_S = 120.0

#: How long the end of a search (or Ctrl-C) waits for its parent run to be opened.
OPEN_TIMEOUT_S = 60.0

#: The longest wait before the parent run is opened when no trial has finished yet (see the module's
#: docstring): a long first trial is past its imports by then, and the run's link is logged soon enough.
OPEN_DELAY_S = 15.0

_lock = threading.Lock()
_queues: dict[str, _TrialQueue] = {}


class OpeningSearch:
    """A search's parent run, being opened by a daemon thread while the search starts.

    ``open_run`` runs in the thread under MLflow's settings (:data:`MLFLOW_CALLS`), which are
    set here, in the search's thread, and put back by :meth:`close`. It runs once :meth:`result`
    is first asked for (by the thread that logs the first finished trial, or at the search's end),
    or after ``delay_s``, whichever comes first. ``on_open`` is called in
    the thread with the opened run (the search writes its id to the study). A failure is a
    warning, logged once, and the search goes on untracked: the caller checks that an
    ``http(s)`` server answers before (``_client.check_reachable``), so a wrong address still
    stops the search at once.

    Example:
        >>> opening = OpeningSearch(lambda: SearchRun("sqlite:///x.db", "0" * 32, "1", "accuracy"))
        >>> opening.result().run_id == "0" * 32
        True
        >>> opening.close()
    """

    def __init__(
        self,
        open_run: Callable[[], SearchRun],
        on_open: Callable[[SearchRun], None] | None = None,
        delay_s: float = OPEN_DELAY_S,
    ) -> None:
        self._open, self._on_open, self._delay_s = open_run, on_open, delay_s
        self._go = threading.Event()
        self._run: SearchRun | None = None
        self.key = f"opening-{id(self)}"
        self._settings: contextlib.AbstractContextManager[None] | None = environment(MLFLOW_CALLS)
        self._settings.__enter__()
        self._thread = threading.Thread(target=self._work, name="asl-recog-mlflow-parent", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        self._go.wait(self._delay_s)
        try:
            self._run = self._open()
            if self._on_open is not None:
                self._on_open(self._run)
        except Exception as exc:  # the search goes on; its trials are in the study either way
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            logger.warning("tracking: this search is not tracked: its MLflow run could not be opened (%s)", first)

    def result(self, timeout_s: float = OPEN_TIMEOUT_S) -> SearchRun | None:
        """The parent run once opened (opening it now if it was waiting); None when opening failed or took
        over ``timeout_s``."""
        self._go.set()
        self._thread.join(timeout_s)
        return self._run

    def close(self) -> None:
        """Put MLflow's settings back (after the search's last request)."""
        if self._settings is not None:
            self._settings.__exit__(None, None, None)
            self._settings = None


#: A search's parent run, opened or being opened.
Tracking = SearchRun | OpeningSearch


def opened(search: Tracking, timeout_s: float = OPEN_TIMEOUT_S) -> SearchRun | None:
    """The parent run of ``search``: itself, or the one its :class:`OpeningSearch` opened (None if none)."""
    return search if isinstance(search, SearchRun) else search.result(timeout_s)


def _key(search: Tracking) -> str:
    return search.run_id if isinstance(search, SearchRun) else search.key


class _TrialQueue:
    """The trial runs of one search, logged in order by one daemon thread."""

    def __init__(self, search: Tracking) -> None:
        self.search = search
        # MLflow's settings for these calls, set here in the search's thread and put back by flush:
        # setting the environment from the logging thread would race with C code reading it.
        self.settings = environment(MLFLOW_CALLS)
        self.settings.__enter__()
        self.pending: queue.SimpleQueue[TrialRun | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._work, name=f"asl-recog-mlflow-{_key(search)[:16]}", daemon=True)
        self.thread.start()

    def _work(self) -> None:
        parent = opened(self.search, timeout_s=FLUSH_TIMEOUT_S)
        while (run := self.pending.get()) is not None:
            if parent is None:
                continue  # the parent run was not opened (warned once): nothing to log under
            try:
                log_trial(parent, run)
            except Exception as exc:  # the server is gone or refused: the trial is safe in the study
                logger.warning(
                    "tracking: trial %d was not logged to MLflow (%s: %s)", run.number, type(exc).__name__, exc
                )


def submit(search: Tracking, run: TrialRun) -> None:
    """Queue ``run`` to be logged under ``search``'s parent run (it is logged in the background).

    Example:
        >>> search = SearchRun("http://127.0.0.1:9", "0" * 32, "1", "accuracy")
        >>> flush(search)  # nothing was queued: returns at once
        0
    """
    with _lock:
        pending = _queues.get(_key(search))
        if pending is None:
            pending = _queues[_key(search)] = _TrialQueue(search)
    pending.pending.put(run)


def flush(search: Tracking, timeout_s: float = FLUSH_TIMEOUT_S) -> int:
    """Wait until every trial queued for ``search`` is logged; returns how many were still queued at the timeout."""
    with _lock:
        pending = _queues.pop(_key(search), None)
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


__all__ = [
    "FLUSH_TIMEOUT_S",
    "OPEN_DELAY_S",
    "OPEN_TIMEOUT_S",
    "OpeningSearch",
    "Tracking",
    "flush",
    "opened",
    "submit",
]
