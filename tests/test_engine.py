"""The local engine: N worker processes that share one Optuna storage, each running study.optimize."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import optuna
import pytest
from engine_runners import kill_first_runner, sleep_runner
from optuna.trial import TrialState

import asl_recog as asl
from asl_recog.backends.local._engine import SpaceProposal, TrialSeededRandomSampler, open_storage, open_study
from asl_recog.backends.local._heartbeat import GRACE_PERIOD_S, HEARTBEAT_INTERVAL_S, is_interrupted, retried_from
from asl_recog.backends.local._progress import trial_status
from asl_recog.backends.local._reservation import counted, was_not_run
from asl_recog.backends.local._scheduler import (
    Schedule,
    TrialOutcome,
    TrialReporter,
    TrialTask,
    recover,
    run_schedule,
)

PACKAGE = Path(asl.__file__).parent


def test_the_package_uses_no_private_optuna_attributes() -> None:
    private = re.compile(r"\._storage\b|\b_trial_id\b|\._study_id\b")
    hits = [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if private.search(line)
    ]
    assert hits == []


def test_two_workers_keep_the_limit_and_a_killed_workers_trial_is_retried(tmp_path: Path) -> None:
    """Two worker processes share the study; the first trial SIGKILLs its worker after reporting step 1.
    Its trial is failed as interrupted and run again with its parameters and intermediate values, a
    replacement worker takes over, and exactly max_trials trials count."""
    study = open_study(tmp_path, direction="maximize", sampler=TrialSeededRandomSampler(0))
    schedule = Schedule(
        propose=SpaceProposal({"x": asl.choice(*range(10))}),
        runner=kill_first_runner,
        max_trials=5,
        max_concurrent=2,
        in_process=False,
    )
    start = time.monotonic()
    run_schedule(study, tmp_path, schedule)
    assert time.monotonic() - start < GRACE_PERIOD_S * 20  # no wait for a grace period per trial

    trials = study.get_trials()
    assert [t.number for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)] == []
    killed_number = int((tmp_path / "killed_once").read_text())
    killed = trials[killed_number]
    assert is_interrupted(killed) and trial_status(killed) == "interrupted"
    copies = [t for t in trials if retried_from(t) == killed_number]
    assert len(copies) == 1 and copies[0].state == TrialState.COMPLETE
    assert copies[0].params == killed.params and copies[0].user_attrs["params"] == killed.user_attrs["params"]
    assert copies[0].intermediate_values[1] == killed.intermediate_values[1]  # kept for the policies
    assert counted(trials) == 5  # the retried trial counts once
    ran = [t for t in trials if t.state == TrialState.COMPLETE and not was_not_run(t)]
    assert len(ran) == 5
    workers = {t.user_attrs["worker"] for t in ran}  # host:pid of the worker that ran each trial
    assert killed.user_attrs["worker"] not in workers  # the killed worker's trial was rerun by another
    assert len(list((tmp_path / "logs").glob("worker_*.log"))) >= 3


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_resumer_recovers_only_trials_whose_heartbeat_stopped(tmp_path: Path) -> None:
    """recover() leaves a trial whose heartbeat a live process records alone; once the beats stop, the
    trial is failed (interrupted) and queued again with its parameters and intermediate values."""
    study = open_study(tmp_path, direction="maximize")
    trial = study.ask()
    trial.suggest_int("hidden", 8, 32)
    trial.set_user_attr("params", {"hidden": trial.params["hidden"]})
    trial.report(0.3, 1)
    storage = open_storage(tmp_path)  # "another process": beats through the storage's public API
    trial_id = storage.get_trial_id_from_study_id_trial_number(
        storage.get_study_id_from_name(study.study_name), trial.number
    )
    stop = threading.Event()

    def beat() -> None:
        while not stop.is_set():
            storage.record_heartbeat(trial_id)
            stop.wait(HEARTBEAT_INTERVAL_S / 2)

    beating = threading.Thread(target=beat)
    beating.start()
    try:
        assert recover(study, tmp_path) == 0  # the "other process" is alive: its trial stays RUNNING
        assert [t.state for t in study.get_trials()] == [TrialState.RUNNING]
    finally:
        stop.set()
        beating.join()
    start = time.monotonic()
    assert recover(study, tmp_path) == 1
    assert time.monotonic() - start < GRACE_PERIOD_S + 4  # the wait after a stop is bounded
    first, queued = study.get_trials()
    assert first.state == TrialState.FAIL and trial_status(first) == "interrupted"
    assert queued.state == TrialState.WAITING and retried_from(queued) == first.number
    assert queued.params == first.params and queued.intermediate_values == {1: 0.3}
    # the process that ran it reports late: refused (TrialLoop.run goes on), the resumer's record stands
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        trial.set_user_attr("history", [0.3, 0.5])
    with pytest.raises(ValueError, match="Cannot tell a FAIL trial"):
        study.tell(trial, 0.5)
    assert study.get_trials()[0].state == TrialState.FAIL and study.get_trials()[0].value is None


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_trial_killed_before_its_first_heartbeat_is_recovered(tmp_path: Path) -> None:
    """A process killed after asking for its trial, before its heartbeat thread first wrote, leaves a
    running trial with no heartbeat at all, which Optuna never takes for stale: recover() still fails
    it and queues it again, within the grace period (it made CI fail once, on a loaded machine)."""
    study = open_study(tmp_path, direction="maximize")
    trial = study.ask()
    trial.suggest_int("hidden", 8, 32)
    trial.set_user_attr("params", {"hidden": trial.params["hidden"]})
    start = time.monotonic()
    assert recover(study, tmp_path) == 1
    assert time.monotonic() - start < GRACE_PERIOD_S + 4
    first, queued = study.get_trials()
    assert first.state == TrialState.FAIL and trial_status(first) == "interrupted"
    assert queued.state == TrialState.WAITING and queued.params == first.params


def test_in_process_crashes_stop_the_search_after_three_in_a_row_with_the_traceback(tmp_path: Path) -> None:
    def broken(task: TrialTask, reporter: TrialReporter) -> TrialOutcome:
        raise RuntimeError("the runner is broken")

    study = open_study(tmp_path, direction="maximize", sampler=TrialSeededRandomSampler(0))
    schedule = Schedule(propose=SpaceProposal({"x": asl.uniform(0, 1)}), runner=broken, max_trials=10)
    with pytest.raises(asl.TrialFailedError, match="3 trials in a row failed") as caught:
        run_schedule(study, tmp_path, schedule)
    assert "RuntimeError: the runner is broken" in str(caught.value) and "Traceback" in str(caught.value)
    trials = study.get_trials()
    assert len(trials) == 3 and all(trial_status(t) == "failed" for t in trials)  # recorded, not interrupted


def test_a_failing_proposal_is_recorded_failed_not_interrupted(tmp_path: Path) -> None:
    def propose(trial: optuna.trial.Trial) -> dict[str, object]:
        raise KeyError("no such parameter")

    study = open_study(tmp_path, direction="maximize")
    schedule = Schedule(propose=propose, runner=kill_first_runner, max_trials=1)
    run_schedule(study, tmp_path, schedule)
    (trial,) = study.get_trials()
    assert trial_status(trial) == "failed" and "KeyError" in trial.user_attrs["error"]


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_queued_trials_past_the_limit_are_no_work(tmp_path: Path) -> None:
    """AutoML queues a default of every algorithm; beyond max_iterations they stay queued, and no worker
    is started (or kept) for them."""
    from asl_recog.backends.local._reservation import has_work, queued_with_place

    study = open_study(tmp_path, direction="maximize")
    for x in range(4):
        study.enqueue_trial({"x": x})
    study.tell(study.ask(), 0.5)  # pops the first queued trial
    trials = study.get_trials()
    assert has_work(trials, 2) and queued_with_place(trials, 2)  # trial 1 holds the second place
    study.tell(study.ask(), 0.6)
    trials = study.get_trials()
    assert not has_work(trials, 2) and not queued_with_place(trials, 2)  # trials 2 and 3 are past the limit
    assert has_work(trials, 3)


def test_a_hard_deadline_lets_the_first_trial_finish_within_the_grace_and_no_new_trial_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """AutoML's rule for a machine slower than its probes: past the time limit with no finished trial,
    a worker still starting may take the queued first trial, and the running trial may go on (within
    ``first_result_grace_s``); then the search ends. Without the grace it is stopped, with nothing."""

    def search(folder: Path, grace_s: float, deadline_s: float, seconds: int) -> list[optuna.trial.FrozenTrial]:
        study = open_study(folder, direction="maximize", sampler=TrialSeededRandomSampler(0))
        study.enqueue_trial({"seconds": seconds})  # as AutoML queues its first trials
        schedule = Schedule(
            propose=SpaceProposal({"seconds": asl.choice(seconds)}),
            runner=sleep_runner,
            max_trials=5,
            deadline_s=deadline_s,
            hard_deadline=True,
            first_result_grace_s=grace_s,
            in_process=False,
        )
        run_schedule(study, folder, schedule)
        return study.get_trials()

    with caplog.at_level("WARNING", logger="asl_recog"):
        # The deadline passes while the worker is still importing: it starts the queued trial anyway.
        graced = search(tmp_path / "graced", grace_s=120.0, deadline_s=0.5, seconds=3)
    assert [t.state for t in graced] == [TrialState.COMPLETE]  # finished; no second trial started
    assert "time limit came before any trial finished: trial(s) [0] may run up to 120 s more" in caplog.text
    # Without a grace, the trial running at the deadline (its worker starts in about 3 s) is stopped.
    stopped = search(tmp_path / "hard", grace_s=0.0, deadline_s=8.0, seconds=12)
    assert [t.state for t in stopped] == [TrialState.FAIL]
    assert stopped[0].user_attrs["error"] == "stopped: the search's time limit was reached"


def test_should_stop_ends_an_in_process_search(tmp_path: Path) -> None:
    def constant(task: TrialTask, reporter: TrialReporter) -> TrialOutcome:
        return TrialOutcome("complete", 0.5, [0.5])

    study = open_study(tmp_path, direction="maximize", sampler=TrialSeededRandomSampler(0))
    schedule = Schedule(
        propose=SpaceProposal({"x": asl.uniform(0, 1)}),
        runner=constant,
        max_trials=10,
        should_stop=lambda study: len(study.get_trials()) >= 2,
    )
    run_schedule(study, tmp_path, schedule)
    assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE] * 2
