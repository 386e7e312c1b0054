"""Runs a study's trials: in this process, or in worker processes that can be stopped.

The parent process alone asks Optuna for trials and tells it their outcome; a worker
only reports intermediate values and asks whether to stop. Each finished trial writes
``trials/<n>.json`` before the parent records it, so a search killed between the two
loses nothing: resuming records it from the file. Trials that were still running are
marked failed (``interrupted``), not counted, and queued again with the same parameters.

Several processes may share one study (two resumers of one run directory): the
trial limit is reserved in the storage when a trial starts (``_reservation``),
and a resumer recovers only the trials whose heartbeat stopped (``_heartbeat``),
waiting up to ``STALE_AFTER_S`` (5 s) right after a kill to tell them apart.
"""

from __future__ import annotations

import json
import logging
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from asl_recog._console import configure_logging
from asl_recog.backends.local._heartbeat import Heartbeat, stale_running_trials
from asl_recog.backends.local._reservation import (
    earlier_with_params,
    has_place,
    record_over_limit,
    takes_place,
)
from asl_recog.backends.local._workers import (
    WORKER_PREFIX,
    check_spawnable,
    log_path,
    log_tail,
    start_worker,
    stop,
    watch_parent,
)
from asl_recog.models._budgets import CandidateRejected
from asl_recog.search._space import EarlyTerminationPolicy, PrimaryMetricGoal

logger = logging.getLogger("asl_recog")

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


@dataclass
class TrialTask:
    """Everything a worker needs to run one trial (picklable)."""

    number: int
    trial_id: int
    params: dict[str, Any]
    seed: int
    run_dir: str
    storage_url: str
    goal: str
    policy: EarlyTerminationPolicy | None
    payload: dict[str, Any]


@dataclass
class TrialOutcome:
    """What a runner returns: ``state`` is ``"complete"`` or ``"pruned"``."""

    state: str
    value: float | None
    history: list[float] = field(default_factory=list)
    model_file: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


Runner = Callable[[TrialTask, "TrialReporter"], TrialOutcome]


class TrialReporter:
    """Reports a trial's intermediate metric and answers "should it stop?" (the policy)."""

    def __init__(self, task: TrialTask, trial: optuna.trial.Trial | None = None) -> None:
        self.task = task
        self._trial = trial

    def _get_trial(self) -> optuna.trial.Trial:
        if self._trial is None:
            from asl_recog.backends.local._engine import load_study_in_worker
            from asl_recog.backends.local._pruners import make_pruner

            study = load_study_in_worker(self.task.storage_url, make_pruner(self.task.policy, self.task.goal))
            self._trial = optuna.trial.Trial(study, self.task.trial_id)
        return self._trial

    def report(self, step: int, value: float) -> bool:
        """Record ``value`` at ``step`` (1-based); return True when the policy stops the trial."""
        trial = self._get_trial()
        try:
            trial.report(float(value), step)
        except optuna.exceptions.UpdateFinishedTrialError:
            return True  # another process recorded this trial (took it for a killed one): training on is waste
        return self.task.policy is not None and trial.should_prune()


def result_path(run_dir: str | Path, number: int) -> Path:
    return Path(run_dir) / "trials" / f"{number:05d}.json"


def _write_result(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, default=str))
    os.replace(tmp, path)  # atomic: a reader sees the whole file or none


def _run_and_record(task: TrialTask, runner: Runner, trial: optuna.trial.Trial | None) -> None:
    try:
        outcome = runner(task, TrialReporter(task, trial))
        data = asdict(outcome)
    except CandidateRejected as exc:  # a decision about the model, not a crash: no fail-fast count
        data = {"state": "fail", "error": f"rejected: {exc}", "rejected": True}
    except Exception as exc:  # a failed trial is recorded; the search goes on
        data = {"state": "fail", "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    _write_result(result_path(task.run_dir, task.number), data)


def _worker_main(task: TrialTask, runner: Runner, parent_pid: int) -> None:
    watch_parent(parent_pid)
    configure_logging()  # the parent's verbosity, from the environment
    _run_and_record(task, runner, None)


def counted(study: optuna.Study) -> int:
    """Trials that count toward the limit: finished ones, not those cut short by a killed search
    and not duplicates or trials over the limit, which were never run."""
    return sum(1 for t in study.get_trials(deepcopy=False, states=FINISHED) if takes_place(t))


def tell_from_result(
    study: optuna.Study, trial_id: int, number: int, data: dict[str, Any] | None, fallback_error: str
) -> TrialState:
    """Record a finished trial in the study from its result data.

    A trial that another process already recorded (a resumer took it for a killed
    one, or recorded it from its result file) keeps that record: its state is returned.
    """
    storage = study._storage  # the public Study has no by-id tell; storage calls are the documented API
    try:
        return _tell(study, storage, trial_id, number, data, fallback_error)
    except optuna.exceptions.UpdateFinishedTrialError:
        state = storage.get_trial(trial_id).state
        logger.info("trial %d was already recorded %s by another process", number, state.name.lower())
        return state


def _tell(
    study: optuna.Study, storage: Any, trial_id: int, number: int, data: dict[str, Any] | None, fallback_error: str
) -> TrialState:
    if data is None:
        data = {"state": "fail", "error": fallback_error}
    for key in ("history", "info", "model_file", "error", "traceback", "rejected"):
        if data.get(key) is not None:
            storage.set_trial_user_attr(trial_id, key, data[key])
    if data["state"] == "complete" and data.get("value") is not None and _finite(data["value"]):
        # The state read back: a trial another process finished keeps its own.
        return study.tell(number, float(data["value"]), skip_if_finished=True).state
    if data["state"] == "pruned":
        return study.tell(number, state=TrialState.PRUNED, skip_if_finished=True).state
    if data["state"] == "complete":
        problem = f"the trial's metric is not a finite number: {data.get('value')!r}"
        storage.set_trial_user_attr(trial_id, "error", problem)
    return study.tell(number, state=TrialState.FAIL, skip_if_finished=True).state


def _finite(value: Any) -> bool:
    try:
        return value == value and abs(float(value)) != float("inf")
    except (TypeError, ValueError):
        return False


def recover(study: optuna.Study, run_dir: Path) -> int:
    """After a killed search: record trials whose result file exists; fail and re-queue the rest.

    Only trials whose heartbeat stopped are touched: those another live process runs
    (a second resumer) are left to it. This may wait up to ``STALE_AFTER_S``.

    Returns:
        How many interrupted trials were queued again.
    """
    requeued = 0
    for trial in stale_running_trials(study):
        path = result_path(run_dir, trial.number)
        if path.is_file():
            tell_from_result(study, trial._trial_id, trial.number, json.loads(path.read_text()), "")
            continue
        try:
            study._storage.set_trial_user_attr(trial._trial_id, "interrupted", True)
            study._storage.set_trial_user_attr(trial._trial_id, "error", "interrupted: the search process stopped")
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another resumer recovered it first
        # Two resumers may both get here; a second copy is recorded as a duplicate, not trained.
        if not any(t.user_attrs.get("requeued_from") == trial.number for t in study.get_trials(deepcopy=False)):
            study.enqueue_trial(trial.params, user_attrs={"requeued_from": trial.number})
            requeued += 1
    return requeued


@dataclass
class _Running:
    trial: optuna.trial.Trial
    task: TrialTask
    started: float
    process: Any = None


@dataclass
class Schedule:
    """How a search runs: limits, concurrency and the route's callbacks.

    ``propose(trial) -> params`` runs in the parent (the sampler's draws);
    ``runner(task, reporter) -> TrialOutcome`` runs the trial (a module-level
    function when ``in_process`` is False).
    """

    propose: Callable[[optuna.trial.Trial], dict[str, Any]]
    runner: Runner
    max_trials: int
    max_concurrent: int = 1
    deadline_s: float | None = None
    hard_deadline: bool = False
    trial_timeout_s: float | None = None
    in_process: bool = True
    goal: PrimaryMetricGoal = PrimaryMetricGoal.MAXIMIZE
    policy: EarlyTerminationPolicy | None = None
    seed: int = 0
    payload: dict[str, Any] = field(default_factory=dict)
    should_stop: Callable[[optuna.Study], bool] | None = None
    #: environment of worker processes, e.g. thread caps that must be set before numpy loads
    env: dict[str, str] = field(default_factory=dict)
    on_update: Callable[[optuna.Study, dict[int, float]], None] | None = None
    #: crashed trials in a row after which the search stops (KerasTuner's max_consecutive_failed_trials)
    max_consecutive_failed_trials: int = 3
    #: how the route could run trials in-process instead of in workers (for the error's fix), if it can
    in_process_hint: str = ""


def run_schedule(study: optuna.Study, run_dir: Path, schedule: Schedule) -> None:
    """Run trials until the trial limit, the deadline or ``should_stop`` ends the search.

    Raises:
        TrialFailedError: ``max_consecutive_failed_trials`` trials in a row crashed
            (KerasTuner's rule): carries the last worker's own error output.
    """
    from asl_recog.backends.local._engine import _mix, storage_url

    url = storage_url(run_dir)
    if not schedule.in_process:
        check_spawnable(schedule.in_process_hint)
    running: dict[int, _Running] = {}
    start = time.monotonic()
    failures = _FailureStreak(schedule.max_consecutive_failed_trials, run_dir)
    duplicates_in_a_row = 0
    heartbeat = Heartbeat()

    def finish(entry: _Running, data: dict[str, Any] | None, error: str) -> None:
        state = tell_from_result(study, entry.trial._trial_id, entry.task.number, data, error)
        heartbeat.remove(entry.task.number)
        logger.debug(
            "trial %d %s (%.1fs)%s",
            entry.task.number,
            state.name.lower(),
            time.monotonic() - entry.started,
            f": {(data or {}).get('error', error)}" if state == TrialState.FAIL else "",
        )
        failures.record(entry.task.number, state, data)

    done = counted(study)  # kept locally: querying the study on every poll costs CPU
    stopping = False
    heartbeat.start()
    try:
        while True:
            elapsed = time.monotonic() - start
            for number, entry in list(running.items()):
                path = result_path(run_dir, number)
                over_time = (
                    schedule.trial_timeout_s is not None and time.monotonic() - entry.started > schedule.trial_timeout_s
                )
                past_deadline = (
                    schedule.hard_deadline and schedule.deadline_s is not None and elapsed > schedule.deadline_s
                )
                if entry.process.is_alive() and not (over_time or past_deadline):
                    continue
                if entry.process.is_alive():
                    stop(entry.process)
                    reason = (
                        f"stopped: exceeded the trial time limit of {schedule.trial_timeout_s / 60:g} min"
                        if over_time
                        else "stopped: the search's time limit was reached"
                    )
                    finish(entry, {"state": "fail", "error": reason, "rejected": True}, reason)
                else:
                    entry.process.join()
                    data = json.loads(path.read_text()) if path.is_file() else None
                    finish(
                        entry,
                        data,
                        f"the worker process exited with code {entry.process.exitcode} before reporting a result",
                    )
                del running[number]
                done += 1
                stopping = stopping or (schedule.should_stop is not None and schedule.should_stop(study))
            stopping = (
                stopping
                or done + len(running) >= schedule.max_trials
                or (schedule.deadline_s is not None and elapsed > schedule.deadline_s)
            )
            if not stopping and len(running) < schedule.max_concurrent:
                trial = study.ask()
                heartbeat.add(trial)  # from its first moment, so that a resumer leaves it alone
                params = schedule.propose(trial)
                trial.set_user_attr("params", params)
                trials = study.get_trials(deepcopy=False)  # as they stand now, in every process
                original = earlier_with_params(trials, trial.number, params)
                if original is None and not has_place(trials, trial.number, schedule.max_trials):
                    record_over_limit(study, trial, schedule.max_trials)  # other processes took the last places
                    heartbeat.remove(trial.number)
                    stopping = True
                    continue
                if original is not None:
                    # Never train one configuration twice; a finite space that keeps
                    # returning old points is exhausted.
                    _record_duplicate(study, trial, original, trials)
                    heartbeat.remove(trial.number)
                    duplicates_in_a_row += 1
                    if duplicates_in_a_row >= MAX_DUPLICATES_IN_A_ROW:
                        logger.info(
                            "the sampler proposed only configurations already tried %d times in a row: "
                            "the search space is exhausted",
                            duplicates_in_a_row,
                        )
                        stopping = True
                    continue
                duplicates_in_a_row = 0
                task = TrialTask(
                    trial.number,
                    trial._trial_id,
                    params,
                    _mix(schedule.seed, trial.number),
                    str(run_dir),
                    url,
                    schedule.goal.value,
                    schedule.policy,
                    schedule.payload,
                )
                entry = _Running(trial, task, time.monotonic())
                if schedule.in_process:
                    _run_and_record(task, schedule.runner, trial)
                    path = result_path(run_dir, task.number)
                    finish(entry, json.loads(path.read_text()), "no result")
                    done += 1
                    stopping = schedule.should_stop is not None and schedule.should_stop(study)
                else:
                    entry.process = start_worker(
                        _worker_main,
                        (task, schedule.runner, os.getpid()),
                        f"{WORKER_PREFIX}{trial.number}",
                        schedule.env,
                        log_path(run_dir, trial.number),
                    )
                    running[trial.number] = entry
                if schedule.on_update:
                    schedule.on_update(study, {n: e.started for n, e in running.items()})
                continue
            if stopping and not running:
                break
            if schedule.on_update:
                schedule.on_update(study, {n: e.started for n, e in running.items()})
            time.sleep(0.25)
    finally:
        # An exception (e.g. Ctrl-C) must not orphan workers; their trials stay
        # RUNNING so that resuming re-queues them.
        for entry in running.values():
            stop(entry.process)
        heartbeat.stop()  # no more beats: the trials left RUNNING become stale


#: Consecutive proposals of already-tried configurations after which a search stops.
MAX_DUPLICATES_IN_A_ROW = 20


def _record_duplicate(
    study: optuna.Study, trial: optuna.trial.Trial, original: int, trials: list[optuna.trial.FrozenTrial]
) -> None:
    """Record a proposal equal to trial ``original`` (in ``trials``, the study as just read) without running
    it, as Optuna's FAQ suggests: with the original's value, so the sampler learns from it, else failed."""
    first = next((t for t in trials if t.number == original), None)
    trial.set_user_attr("duplicate_of", original)
    logger.debug("trial %d repeats trial %d's configuration; not trained again", trial.number, original)
    if first is not None and first.state == TrialState.COMPLETE and first.value is not None:
        study.tell(trial, first.value)
    else:
        trial.set_user_attr("error", f"duplicate of trial {original}, not trained again")
        study.tell(trial, state=TrialState.FAIL)


class _FailureStreak:
    """Stops a search after ``limit`` crashed trials in a row (timeouts and budget rejections don't count)."""

    def __init__(self, limit: int, run_dir: Path) -> None:
        self.limit, self.run_dir, self.streak = limit, run_dir, 0

    def record(self, number: int, state: TrialState, data: dict[str, Any] | None) -> None:
        if state != TrialState.FAIL or (data or {}).get("rejected"):
            self.streak = 0
            return
        self.streak += 1
        if self.streak < self.limit:
            return
        from asl_recog._errors import TrialFailedError

        own = log_tail(log_path(self.run_dir, number)) or (data or {}).get("traceback", "").strip()
        error = (data or {}).get("error") or "the worker process died before reporting a result"
        raise TrialFailedError(
            f"{self.streak} trials in a row failed, so the search stopped early (max_consecutive_failed_trials="
            f"{self.limit}). Last failure, trial {number}: {error}."
            + (f"\nWhat the trial printed:\n{own}" if own else "")
            + "\nFix: correct the error above. If the worker could not start, run the search from a .py file "
            'whose fit() call sits under `if __name__ == "__main__":`.'
        )
