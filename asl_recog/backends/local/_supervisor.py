"""The search process's watch over its N worker processes: what Optuna's ``optimize`` cannot do itself.

The workers run the trials (``_trial_loop``) and talk only through the shared
storage; this process polls that storage and its children and adds:

* killable per-trial timeouts (AutoML's ``iteration_timeout_minutes``): a worker
  whose trial runs over is killed, the trial recorded failed with the reason
  through the storage's public API, and a replacement worker started;
* the hard deadline (AutoML's ``experiment_timeout_minutes``): every worker is
  stopped and its trial recorded failed; except that, when no trial has finished yet,
  the running trials get up to ``first_result_grace_s`` more (no new trial starts), so
  that a budget the machine turned out too slow for still returns a model rather than
  nothing (FLAML, whose trials run in-process, likewise lets the running trial end);
* a worker that dies (a crash in native code, a script that cannot be imported):
  its trial is failed and queued again at once (``_heartbeat.fail_and_retry``),
  without waiting for the heartbeat's grace period, and a replacement is started;
* the fail-fast rule: after ``max_consecutive_failed_trials`` crashes in a row
  (trials that raised, or workers that died), the search stops with the last
  failure's own output (its traceback, or what the worker printed to
  ``logs/worker_<k>.log``);
* ``should_stop`` (AutoML's early stopping), asked as trials finish: the workers are
  asked to stop through the study (``STOP_KEY``) and finish their running trial;
* progress updates, and the heartbeat check for trials of workers on other hosts.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from asl_recog._errors import TrialFailedError
from asl_recog.backends.local._engine import open_storage
from asl_recog.backends.local._heartbeat import (
    HEARTBEAT_INTERVAL_S,
    fail_and_retry,
    fail_stale,
    is_interrupted,
    recover_stale,
)
from asl_recog.backends.local._reservation import has_work, queued_with_place, takes_place, was_not_run
from asl_recog.backends.local._tracked import log_finished_trial
from asl_recog.backends.local._trial_loop import STOP_KEY, SUPERVISOR_ATTR, WorkerPlan, worker_id, worker_main
from asl_recog.backends.local._workers import WORKER_PREFIX, log_tail, start_worker, stop

logger = logging.getLogger("asl_recog")

#: Seconds between two looks at the storage and the workers.
POLL_S = 0.5


def new_token() -> str:
    """A token naming one run of a search (its workers stop when the study's STOP_KEY equals it)."""
    return uuid.uuid4().hex


@dataclass
class _Worker:
    process: Any
    index: int
    log: Path

    @property
    def ident(self) -> str:
        return worker_id(self.process.pid)


class FailureStreak:
    """Stops a search after ``limit`` crashes in a row (timeouts and budget rejections don't count).

    Example:
        >>> streak = FailureStreak(3)
        >>> streak.record(True, "trial 4: ValueError: bad shape", "Traceback ...")
    """

    def __init__(self, limit: int) -> None:
        self.limit, self.streak = limit, 0

    def record(self, crashed: bool, what: str, output: str) -> None:
        """Count one finished trial or dead worker; raise TrialFailedError at the limit."""
        if not crashed:
            self.streak = 0
            return
        self.streak += 1
        if self.streak < self.limit:
            return
        raise TrialFailedError(
            f"{self.streak} trials in a row failed, so the search stopped early (max_consecutive_failed_trials="
            f"{self.limit}). Last failure, {what}."
            + (f"\nWhat the trial printed:\n{output}" if output else "")
            + "\nFix: correct the error above. If the worker could not start, run the search from a .py file "
            'whose fit() call sits under `if __name__ == "__main__":`.'
        )

    def record_trial(self, trial: FrozenTrial) -> None:
        """Count a finished trial: a crash is a FAIL with an error that is not a decision of the search."""
        attrs = trial.user_attrs
        if is_interrupted(trial) or was_not_run(trial):
            return  # never ran to an outcome: its dead worker, if any, was counted instead
        crashed = trial.state == TrialState.FAIL and not attrs.get("rejected")
        output = "\n".join(str(attrs.get("traceback", "")).strip().splitlines()[-15:])
        self.record(crashed, f"trial {trial.number}: {attrs.get('error')}", output)


def record_stopped(storage: optuna.storages.BaseStorage, study_id: int, number: int, reason: str) -> None:
    """Record trial ``number``, whose worker this process killed, failed with ``reason`` (public storage API)."""
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, number)
    try:
        storage.set_trial_user_attr(trial_id, "error", reason)
        storage.set_trial_user_attr(trial_id, "rejected", True)  # the search's decision, not a crash
        storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
    except optuna.exceptions.UpdateFinishedTrialError:
        pass  # it finished between the last look and the kill


def _first_result_pending(trials: list[FrozenTrial], overrun_s: float, grace_s: float, starting: bool) -> bool:
    """Whether a search past its hard deadline should wait for a first result: none finished yet, within
    the grace, and a trial is running or (``starting``: a worker is alive, e.g. still importing on a busy
    machine) one is queued for it."""
    if overrun_s > grace_s or any(t.state == TrialState.COMPLETE for t in trials):
        return False
    running = any(t.state == TrialState.RUNNING for t in trials)
    return running or (starting and any(t.state == TrialState.WAITING for t in trials))


def supervise(
    study: optuna.Study,
    run_dir: Path,
    plan: WorkerPlan,
    *,
    workers: int,
    env: dict[str, str],
    deadline_s: float | None,
    hard_deadline: bool,
    trial_timeout_s: float | None,
    should_stop: Callable[[optuna.Study], bool] | None,
    on_update: Callable[[optuna.Study, dict[int, float]], None] | None,
    max_consecutive_failed_trials: int,
    first_result_grace_s: float = 0.0,
) -> None:
    """Run ``plan`` in ``workers`` worker processes until the search ends.

    Raises:
        TrialFailedError: ``max_consecutive_failed_trials`` crashes in a row.
    """
    storage = open_storage(plan.url)
    study_id = storage.get_study_id_from_name(plan.study_name)
    # This process logs its worker processes' trials to MLflow, rather than each worker: one MLflow
    # import (about 76 MiB) for the search instead of one per worker process.
    tracking, plan, me = plan.tracking, dataclasses.replace(plan, tracking=None), worker_id()
    start = time.monotonic()
    pool: dict[int, _Worker] = {}
    indices = iter(range(1_000_000))
    streak = FailureStreak(max_consecutive_failed_trials)
    seen = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
    stopping = False
    last_stale_check = 0.0
    graced: set[int] = set()  # trials let run past the hard deadline, for the first result

    def spawn() -> None:
        index = next(indices)
        log = Path(run_dir) / "logs" / f"worker_{index:03d}.log"
        worker_plan = dataclasses.replace(plan, index=index)
        process = start_worker(worker_main, (worker_plan, os.getpid()), f"{WORKER_PREFIX}{index}", env, log)
        pool[process.pid] = _Worker(process, index, log)

    def replace() -> None:
        """Start a worker in place of one that ended early, if the search has trials left to run."""
        if not stopping and has_work(study.get_trials(deepcopy=False), plan.max_trials):
            spawn()

    def request_stop() -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            study.set_user_attr(STOP_KEY, plan.token)  # each worker ends after its running trial

    trials = study.get_trials(deepcopy=False)
    if has_work(trials, plan.max_trials):
        # No more workers than trials left to run: each start costs seconds of imports.
        left = plan.max_trials - sum(1 for t in trials if takes_place(t) and t.state != TrialState.WAITING)
        for _ in range(max(1, min(workers, left))):
            spawn()
    try:
        while True:
            elapsed = time.monotonic() - start
            trials = study.get_trials(deepcopy=False)
            finished = [t for t in trials if t.state.is_finished() and t.number not in seen]
            for trial in sorted(finished, key=lambda t: (t.datetime_complete is None, t.datetime_complete, t.number)):
                seen.add(trial.number)
                streak.record_trial(trial)
                if tracking is not None and trial.user_attrs.get(SUPERVISOR_ATTR) == me:
                    log_finished_trial(tracking, trial)
            if finished and should_stop is not None and should_stop(study):
                request_stop()
            running = {t.user_attrs.get("worker"): t for t in trials if t.state == TrialState.RUNNING}
            for pid, worker in list(pool.items()):
                if worker.process.is_alive():
                    continue
                worker.process.join()
                del pool[pid]
                if worker.process.exitcode == 0:
                    continue  # its share is done: the limit is taken, or the deadline or a stop came
                mine = [  # read now: the worker may have started a trial since this poll's read
                    t.number
                    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                    if t.user_attrs.get("worker") == worker.ident
                ]
                fail_and_retry(study, storage, mine)
                what = f"worker process {worker.index}" + (f" (trial {mine[0]})" if mine else " before its first trial")
                streak.record(
                    True,
                    f"{what}: the worker exited with code {worker.process.exitcode} before reporting a result",
                    log_tail(worker.log),
                )
                replace()
            past_deadline = deadline_s is not None and elapsed > deadline_s
            overrun = elapsed - (deadline_s or 0.0)
            pending = _first_result_pending(trials, overrun, first_result_grace_s, starting=bool(pool))
            if past_deadline and hard_deadline and pending:
                waited = sorted(t.number for t in trials if t.state == TrialState.RUNNING)
                if waited:  # no trial after these: they may still give the search its first result
                    request_stop()
                if waited and not graced.issuperset(waited):
                    graced.update(waited)
                    logger.warning(
                        "the search's time limit came before any trial finished: trial(s) %s may run up to "
                        "%.0f s more, so that the search returns a model",
                        waited,
                        first_result_grace_s,
                    )
            elif past_deadline and hard_deadline:
                killed = {worker.ident for worker in pool.values()}
                for worker in pool.values():
                    stop(worker.process)
                pool.clear()
                for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                    if trial.user_attrs.get("worker") in killed:
                        record_stopped(storage, study_id, trial.number, "stopped: the search's time limit was reached")
                break
            stopping = stopping or past_deadline  # soft: the workers start no trial after it themselves
            if trial_timeout_s is not None:
                now = time.time()
                for pid, worker in list(pool.items()):
                    late = running.get(worker.ident)
                    if late is None or late.datetime_start is None:
                        continue
                    if now - late.datetime_start.timestamp() <= trial_timeout_s:
                        continue
                    stop(worker.process)
                    del pool[pid]
                    reason = f"stopped: exceeded the trial time limit of {trial_timeout_s / 60:g} min"
                    record_stopped(storage, study_id, late.number, reason)
                    logger.debug("trial %d %s", late.number, reason)
                    replace()
            if time.monotonic() - last_stale_check > 2 * HEARTBEAT_INTERVAL_S:
                fail_stale(study)  # trials of dead workers on other hosts (or started before a kill)
                last_stale_check = time.monotonic()
            if on_update is not None:
                on_update(study, {t.number: t.datetime_start.timestamp() for t in running.values() if t.datetime_start})
            if not pool:
                if stopping:
                    break
                now_trials = study.get_trials(deepcopy=False)
                if any(t.state == TrialState.RUNNING and "worker" not in t.user_attrs for t in now_trials):
                    # A worker died between asking for a trial and signing it: wait for its heartbeat to go stale.
                    recover_stale(study, storage=storage)
                    now_trials = study.get_trials(deepcopy=False)
                if not queued_with_place(now_trials, plan.max_trials):
                    break  # the workers finished their shares (a worker that ends early is replaced above)
                spawn()  # a dead worker's trial was queued again after the others had finished
            time.sleep(POLL_S)
    finally:
        # An exception (e.g. Ctrl-C) must not orphan workers; their trials stay RUNNING,
        # their heartbeats stop, and resuming queues them again.
        for worker in pool.values():
            stop(worker.process)


__all__ = ["FailureStreak", "POLL_S", "new_token", "record_stopped", "supervise"]
