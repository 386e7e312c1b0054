"""The local search engine: N workers that share one Optuna storage, each running ``study.optimize``.

A search is a study in an Optuna RDB storage (SQLite under ``run_dir`` by default;
any RDB URL, e.g. PostgreSQL, works unchanged). Its workers each open that storage
and run ``study.optimize`` themselves (``_trial_loop``): Optuna asks for each trial,
keeps its heartbeat and records its outcome; the pruners read the shared storage,
so the policies compare trials of every worker. One worker in the calling process
(``in_process``: trials that notebook-defined builders can run) is the case N = 1.
Otherwise N spawned worker processes (N = ``max_concurrent``) are watched by this
process (``_supervisor``) for what Optuna lacks: killable per-trial timeouts, the
hard deadline, dead workers, the fail-fast rule, early stopping and progress.

A worker that dies leaves its trial RUNNING; Optuna's heartbeat fails it and queues
it again with its intermediate values (``_heartbeat``). The trial limit is reserved
in the storage when a trial starts, so workers together never exceed it, and a
retried trial counts once (``_reservation``).
"""

from __future__ import annotations

import logging
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from asl_recog._errors import ConfigurationError
from asl_recog.backends.local._engine import open_storage, study_url
from asl_recog.backends.local._heartbeat import (
    HEARTBEAT_INTERVAL_S,
    grace_period,
    recover_stale,
    requeue_interrupted,
    retried_from,
)
from asl_recog.backends.local._recipe import RUN_KEY
from asl_recog.backends.local._supervisor import FailureStreak, new_token, supervise
from asl_recog.backends.local._trial_loop import TrialLoop, TrialOutcome, TrialReporter, TrialTask, WorkerPlan
from asl_recog.backends.local._workers import check_spawnable
from asl_recog.search._space import EarlyTerminationPolicy, PrimaryMetricGoal
from asl_recog.tracking._background import Tracking

logger = logging.getLogger("asl_recog")

Runner = Callable[[TrialTask, TrialReporter], TrialOutcome]


@dataclass
class Schedule:
    """How a search runs: limits, concurrency and the route's callbacks.

    ``propose(trial) -> params`` draws a configuration and ``runner(task, reporter)
    -> TrialOutcome`` runs it, both in the worker; when ``in_process`` is False they
    must be picklable (module-level functions, or objects such as
    :class:`~asl_recog.backends.local._engine.SpaceProposal`), as must ``payload``.

    Example:
        >>> from asl_recog import choice
        >>> from asl_recog.backends.local._engine import SpaceProposal
        >>> schedule = Schedule(propose=SpaceProposal({"hidden": choice(16, 32)}), runner=print, max_trials=8)
        >>> schedule.max_concurrent, schedule.in_process  # run_schedule(study, run_dir, schedule) runs it
        (1, True)
    """

    propose: Callable[[optuna.trial.Trial], dict[str, Any]]
    runner: Runner
    max_trials: int
    max_concurrent: int = 1
    deadline_s: float | None = None
    hard_deadline: bool = False
    #: with a hard deadline: seconds the running trials may go on past it while no trial has finished
    first_result_grace_s: float = 0.0
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
    #: the MLflow parent run that workers log each finished trial under (set by the backend; None: untracked)
    tracking: Tracking | None = None


def run_schedule(
    study: optuna.Study,
    run_dir: Path,
    schedule: Schedule,
    *,
    artifacts: str | None = None,
    joining: bool = False,
) -> None:
    """Run trials until the trial limit, the deadline or ``should_stop`` ends the search.

    Args:
        study: the search's study.
        run_dir: where this process keeps models and logs.
        schedule: the route's trials.
        artifacts: the artifact store (a shared folder or ``s3://bucket``) that completed
            trials upload their model to, for a search shared between hosts; None keeps
            models in ``run_dir`` only.
        joining: this process joins a search that another process started (a worker on
            any host): it takes the search's stop token and deadline from the study
            instead of starting a new run of it.

    Raises:
        TrialFailedError: ``max_consecutive_failed_trials`` trials in a row crashed
            (KerasTuner's rule): carries the last trial's traceback or its worker's own output.
        ConfigurationError: worker processes cannot start (see ``_workers``), or the
            schedule's functions cannot be sent to them.
    """
    if joining:
        run = dict(study.user_attrs[RUN_KEY])
        token, deadline = str(run["token"]), run.get("deadline")
    else:
        token = new_token()
        deadline = None if schedule.deadline_s is None else time.time() + schedule.deadline_s
        # Workers that join from other hosts stop with this run and keep its deadline.
        study.set_user_attr(RUN_KEY, {"token": token, "deadline": deadline})
    plan = WorkerPlan(
        url=study_url(study, run_dir),
        study_name=study.study_name,
        sampler=study.sampler,
        pruner=study.pruner,
        propose=schedule.propose,
        runner=schedule.runner,
        max_trials=schedule.max_trials,
        run_dir=str(run_dir),
        goal=PrimaryMetricGoal(getattr(schedule.goal, "value", schedule.goal)).value,
        policy=schedule.policy,
        seed=schedule.seed,
        payload=schedule.payload,
        deadline=deadline,
        token=token,
        artifacts=artifacts,
        tracking=schedule.tracking,
    )
    if schedule.in_process:
        _run_here(study, plan, schedule)
        return
    check_spawnable(schedule.in_process_hint)
    _check_picklable(plan, schedule.in_process_hint)
    supervise(
        study,
        Path(run_dir),
        plan,
        workers=max(1, schedule.max_concurrent),
        env=schedule.env,
        deadline_s=None if deadline is None else max(0.0, deadline - time.time()),
        hard_deadline=schedule.hard_deadline,
        first_result_grace_s=schedule.first_result_grace_s,
        trial_timeout_s=schedule.trial_timeout_s,
        should_stop=schedule.should_stop,
        on_update=schedule.on_update,
        max_consecutive_failed_trials=schedule.max_consecutive_failed_trials,
    )


def _run_here(study: optuna.Study, plan: WorkerPlan, schedule: Schedule) -> None:
    """One worker in this process (N = 1): ``study.optimize`` here, with the search's rules as callbacks."""
    streak = FailureStreak(schedule.max_consecutive_failed_trials)

    def on_trial(study: optuna.Study, trial: FrozenTrial) -> None:
        streak.record_trial(trial)
        if schedule.should_stop is not None and schedule.should_stop(study):
            study.stop()
        if schedule.on_update is not None:
            schedule.on_update(study, {})

    TrialLoop(plan, open_storage(plan.url), on_trial).run(study)


def _check_picklable(plan: WorkerPlan, hint: str) -> None:
    """Refuse at once, naming the culprit, what cannot be sent to a worker process."""
    for name in ("propose", "runner", "payload", "sampler", "pruner", "policy"):
        try:
            pickle.dumps(getattr(plan, name))
        except Exception as exc:
            alternative = f", or {hint}" if hint else ""
            raise ConfigurationError(
                f"trials run in worker processes, which need the schedule's {name} sent to them, but it cannot "
                f"be pickled ({type(exc).__name__}: {exc}). Fix: use module-level functions or picklable "
                f"objects (e.g. SpaceProposal instead of a lambda){alternative}"
            ) from exc


def recover(study: optuna.Study, run_dir: Path) -> int:
    """After a killed search: fail the trials its processes left running, and queue them again.

    Trials that another live process runs (a second resumer, a worker on another host)
    are left to it; telling them apart waits up to the heartbeat's grace period.
    Trials that finished are kept as they are.

    Returns:
        How many interrupted trials were queued again.
    """

    def queued() -> int:
        return sum(
            1 for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)) if retried_from(t) is not None
        )

    before = queued()
    url = study_url(study, run_dir)
    recover_stale(study, grace_period(url) + 2 * HEARTBEAT_INTERVAL_S, storage=open_storage(url))
    requeue_interrupted(study)
    return max(0, queued() - before)


__all__ = ["Runner", "Schedule", "TrialOutcome", "TrialReporter", "TrialTask", "recover", "run_schedule"]
