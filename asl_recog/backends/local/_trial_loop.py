"""One worker's share of a search: ``study.optimize`` on the shared study, with the search's rules.

Every worker, a spawned process or the calling process itself (one worker, in
process), runs this loop on the same Optuna storage. Optuna asks for each trial,
keeps its heartbeat and records its outcome; around each trial the loop adds what
Optuna lacks:

* the trial limit, reserved when a trial starts and counted across workers
  (``_reservation``): a trial over it is recorded and not run, and the worker stops;
* a configuration already tried is recorded (with the original's value, so the
  sampler learns from it) and not run again; after
  :data:`MAX_DUPLICATES_IN_A_ROW` of them in a row the space is exhausted;
* the outcome in user attributes (``params``, ``history``, ``info``, ``model_file``,
  ``error``, ``traceback``, ``worker``), which the leaderboard reads;
* a soft deadline (no trial starts after it) and a stop requested by the search
  (the study's user attribute :data:`STOP_KEY`, e.g. AutoML's early stopping).
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from asl_recog._console import configure_logging
from asl_recog.backends.local._artifacts import artifact_store, upload_model
from asl_recog.backends.local._engine import _mix, open_storage
from asl_recog.backends.local._reservation import earlier_with_params, has_place, has_work, mark_over_limit
from asl_recog.backends.local._tracked import log_finished_trial
from asl_recog.backends.local._workers import watch_parent
from asl_recog.models._budgets import CandidateRejected
from asl_recog.search._space import EarlyTerminationPolicy
from asl_recog.tracking._background import Tracking

logger = logging.getLogger("asl_recog")

#: Consecutive proposals of already-tried configurations after which a worker stops.
MAX_DUPLICATES_IN_A_ROW = 20
#: The study's user attribute that asks the workers of one search (its token) to stop.
STOP_KEY = "stop_requested"


#: The trial's user attribute naming the process that started its worker process (``host:pid``).
SUPERVISOR_ATTR = "supervisor"


def worker_id(pid: int | None = None) -> str:
    """``host:pid`` of a worker process: recorded on each trial it runs (the leaderboard's host)."""
    return f"{socket.gethostname()}:{os.getpid() if pid is None else pid}"


@dataclass
class TrialTask:
    """Everything a runner needs to run one trial (picklable)."""

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


class TrialReporter:
    """Reports a trial's intermediate metric and answers "should it stop?" (the policy, as a pruner).

    The pruner reads the shared storage, so the policy compares the trial with the
    trials of every worker.

    A runner receives it as ``reporter`` and calls ``reporter.report(epoch, value)`` after
    each epoch; ``True`` means the policy stops the trial.
    """

    def __init__(self, task: TrialTask, trial: optuna.trial.Trial) -> None:
        self.task = task
        self._trial = trial

    def report(self, step: int, value: float) -> bool:
        """Record ``value`` at ``step`` (1-based); return True when the policy stops the trial."""
        try:
            with warnings.catch_warnings():
                # A retried trial inherits its dead run's values (kept for the policies); Optuna
                # warns that each of those steps is reported again, which is expected here.
                warnings.filterwarnings("ignore", message="The reported value is ignored because this `step`")
                self._trial.report(float(value), step)
        except optuna.exceptions.UpdateFinishedTrialError:
            return True  # another process recorded this trial (took it for a dead one's): training on is waste
        return self.task.policy is not None and self._trial.should_prune()


@dataclass
class WorkerPlan:
    """Everything a worker needs to take part in a search (picklable, for spawned workers)."""

    url: str
    study_name: str
    sampler: optuna.samplers.BaseSampler
    pruner: optuna.pruners.BasePruner
    propose: Callable[[optuna.trial.Trial], dict[str, Any]]
    runner: Callable[..., Any]
    max_trials: int
    run_dir: str
    goal: str
    policy: EarlyTerminationPolicy | None
    seed: int
    payload: dict[str, Any] = field(default_factory=dict)
    #: wall-clock time (``time.time()``) after which no trial starts; None for none
    deadline: float | None = None
    #: identifies this search's processes, for :data:`STOP_KEY`
    token: str = ""
    index: int = 0
    #: the artifact store completed trials upload their model to (a search shared between hosts)
    artifacts: str | None = None
    #: the MLflow parent run each finished trial is logged under (None: not tracked)
    tracking: Tracking | None = None


class NotRun(Exception):
    """A trial recorded failed without running (over the limit, rejected model): no crash."""


class TrialCrashed(Exception):
    """The trial raised (its proposal or its runner); its error and traceback are in its user attributes."""


class TrialLoop:
    """The objective and the after-trial callback that one worker passes to ``study.optimize``.

    A worker builds ``TrialLoop(plan, storage)`` and calls ``loop.run(study)``, which
    returns at the trial limit, the deadline or a stop.
    """

    def __init__(
        self,
        plan: WorkerPlan,
        storage: optuna.storages.BaseStorage,
        on_trial: Callable[[optuna.Study, FrozenTrial], None] | None = None,
    ) -> None:
        self.plan, self.storage, self.on_trial = plan, storage, on_trial
        self.duplicates_in_a_row = 0
        self.me = worker_id()
        self.store = None if plan.artifacts is None else artifact_store(plan.artifacts)

    def objective(self, trial: optuna.trial.Trial) -> float:
        """Run one trial, or record it without running; raises ``TrialPruned``/``NotRun``/``TrialCrashed``."""
        try:
            return self._objective(trial)
        except (optuna.TrialPruned, NotRun, TrialCrashed, optuna.exceptions.UpdateFinishedTrialError):
            raise  # recorded (or, for UpdateFinishedTrialError, recorded by another process: see run())
        except Exception as exc:  # a failed trial is recorded with its error; the search goes on
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
            trial.set_user_attr("traceback", traceback.format_exc())
            raise TrialCrashed(str(exc)) from exc

    def _objective(self, trial: optuna.trial.Trial) -> float:
        plan = self.plan
        trial.set_user_attr("worker", self.me)
        # The process that started this worker process (an `asl-recog worker` or the search): it counts
        # the trials its own workers ran from this, as a worker's pid is gone when it reports.
        trial.set_user_attr(SUPERVISOR_ATTR, worker_id(os.getppid()))
        params = plan.propose(trial)
        trial.set_user_attr("params", params)
        trials = trial.study.get_trials(deepcopy=False)  # as they stand now, in every process
        original = earlier_with_params(trials, trial.number, params)
        if original is not None:
            return self._duplicate(trial, original, trials)
        self.duplicates_in_a_row = 0
        if not has_place(trials, trial.number, plan.max_trials):
            mark_over_limit(trial, plan.max_trials)  # other workers took the last places
            trial.study.stop()
            raise NotRun("over the trial limit")
        study_id = self.storage.get_study_id_from_name(plan.study_name)
        task = TrialTask(
            trial.number,
            self.storage.get_trial_id_from_study_id_trial_number(study_id, trial.number),
            params,
            _mix(plan.seed, trial.number),
            plan.run_dir,
            plan.url,
            plan.goal,
            plan.policy,
            plan.payload,
        )
        try:
            outcome = plan.runner(task, TrialReporter(task, trial))
        except CandidateRejected as exc:  # a decision about the model, not a crash
            trial.set_user_attr("error", f"rejected: {exc}")
            trial.set_user_attr("rejected", True)
            raise NotRun(str(exc)) from exc
        for key in ("history", "info", "model_file"):
            value = getattr(outcome, key)
            if value is not None:
                trial.set_user_attr(key, value)
        if outcome.state == "pruned":
            raise optuna.TrialPruned()
        if outcome.value is None or not _finite(outcome.value):
            trial.set_user_attr("error", f"the trial's metric is not a finite number: {outcome.value!r}")
            raise TrialCrashed("non-finite metric")
        if self.store is not None and outcome.model_file:
            # The process that gathers the result may run on another host: it downloads the winner.
            trial.set_user_attr("model_artifact", upload_model(trial, self.store, outcome.model_file))
        return float(outcome.value)

    def _duplicate(self, trial: optuna.trial.Trial, original: int, trials: list[FrozenTrial]) -> float:
        """Record a proposal equal to trial ``original`` without running it, as Optuna's FAQ suggests:
        with the original's value, so the sampler learns from it, else failed."""
        trial.set_user_attr("duplicate_of", original)
        logger.debug("trial %d repeats trial %d's configuration; not trained again", trial.number, original)
        self.duplicates_in_a_row += 1
        if self.duplicates_in_a_row >= MAX_DUPLICATES_IN_A_ROW:
            logger.info(
                "the sampler proposed only configurations already tried %d times in a row: "
                "the search space is exhausted",
                self.duplicates_in_a_row,
            )
            trial.study.stop()
        first = next((t for t in trials if t.number == original), None)
        if first is not None and first.state == TrialState.COMPLETE and first.value is not None:
            return float(first.value)
        trial.set_user_attr("error", f"duplicate of trial {original}, not trained again")
        raise NotRun("duplicate")

    def after_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Log the trial to MLflow when tracked; stop this worker when the limit is taken, the deadline
        passed or the search asked it to."""
        if self.plan.tracking is not None:
            log_finished_trial(self.plan.tracking, trial)
        if self.should_end(study) or (self.plan.deadline is not None and time.time() >= self.plan.deadline):
            study.stop()
        if self.on_trial is not None:
            self.on_trial(study, trial)

    def should_end(self, study: optuna.Study) -> bool:
        """Whether this worker has nothing more to run (the deadline is checked after each trial:
        a search always starts its first trial, as HyperDrive's ``max_duration_minutes`` does)."""
        plan = self.plan
        if self.duplicates_in_a_row >= MAX_DUPLICATES_IN_A_ROW:
            return True
        if plan.token and study.user_attrs.get(STOP_KEY) == plan.token:
            return True
        return not has_work(study.get_trials(deepcopy=False), plan.max_trials)

    def run(self, study: optuna.Study) -> None:
        """Run trials until the limit, the deadline, an exhausted space or a stop ends this worker's share."""
        level = optuna.logging.get_verbosity()
        # Failed trials are recorded with their error and logged by the search; Optuna's own
        # warning for each (duplicates and trials over the limit included) would be noise.
        optuna.logging.set_verbosity(optuna.logging.ERROR)
        try:
            while not self.should_end(study):
                try:
                    study.optimize(self.objective, catch=(NotRun, TrialCrashed), callbacks=[self.after_trial])
                    return
                except (optuna.exceptions.UpdateFinishedTrialError, ValueError) as exc:
                    # Another process failed this worker's trial (its heartbeat looked stale to it) and
                    # queued it again: that copy runs it; this worker goes on with the next trial.
                    # Optuna's tell says so with a ValueError("Cannot tell a FAIL trial."), its
                    # storage with UpdateFinishedTrialError.
                    if isinstance(exc, ValueError) and not str(exc).startswith("Cannot tell a"):
                        raise
                    logger.info("a trial of worker %s was recorded by another process; going on", self.me)
        finally:
            optuna.logging.set_verbosity(level)


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def worker_main(plan: WorkerPlan, parent_pid: int) -> None:
    """A spawned worker: open the shared study and run trials until the search's limits end it."""
    watch_parent(parent_pid)
    configure_logging()  # the parent's verbosity, from the environment
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = open_storage(plan.url)
    study = optuna.load_study(study_name=plan.study_name, storage=storage, sampler=plan.sampler, pruner=plan.pruner)
    if plan.index > 0:
        # Unpickled copies of one seeded sampler would propose the same points in every worker.
        study.sampler.reseed_rng()
    TrialLoop(plan, storage).run(study)


__all__ = [
    "MAX_DUPLICATES_IN_A_ROW",
    "STOP_KEY",
    "NotRun",
    "SUPERVISOR_ATTR",
    "TrialCrashed",
    "TrialLoop",
    "TrialOutcome",
    "TrialReporter",
    "TrialTask",
    "WorkerPlan",
    "worker_id",
    "worker_main",
]
