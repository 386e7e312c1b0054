"""Kill a search with SIGKILL midway, resume it (once, or twice at once): no completed trial is lost,
the interrupted trial is run again (Optuna's heartbeat and retry) and the limit holds."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from asl_recog.backends.local._heartbeat import is_interrupted, retried_from
from asl_recog.backends.local._reservation import was_not_run

MAX_RUNS = 4

SEARCH = """
import sys
import numpy as np
import asl_recog as asl

MAX_RUNS = {max_runs}

def make_trainer(run_dir, resume):
    return asl.HyperDriveTrainer(
        builder="seed",
        hyperparameter_sampling=asl.RandomParameterSampling(
            {"learning_rate": asl.loguniform(-7, -5), "hidden": asl.choice(16, 32)}
        ),
        fixed_params={"epochs": 2, "batch_size": 64}, max_total_runs=MAX_RUNS, seed=3, run_dir=run_dir,
        resume=resume, progress=False)

if __name__ == "__main__":
    data = np.load(sys.argv[2])
    train = asl.SignMnistDataset(data["x"], data["y"])
    validation = asl.SignMnistDataset(data["vx"], data["vy"])
    result = make_trainer(sys.argv[1], resume=sys.argv[3:] == ["resume"]).fit(train, validation)
    print("RESULT", result.best_trial, result.best_score, len(result.leaderboard), flush=True)
""".replace("{max_runs}", str(MAX_RUNS))


def _trials(run_dir: Path) -> list[optuna.trial.FrozenTrial]:
    from asl_recog.backends.local._engine import open_storage

    return optuna.load_study(study_name="search", storage=open_storage(run_dir)).get_trials()


def _states_read_only(run_dir: Path) -> list[str]:
    """Trial states read straight from the SQLite file, read-only. Opening it through Optuna while the
    search is still creating it would race the search on the schema's version row (IntegrityError).

    A running trial counts as ``RUNNING`` once its parameters are recorded; before that it is
    ``STARTING`` (a kill then would leave a trial with nothing to compare its retry with)."""
    with contextlib.closing(sqlite3.connect(f"file:{run_dir / 'study.db'}?mode=ro", uri=True, timeout=5)) as db:
        rows = db.execute(
            "SELECT t.state, EXISTS(SELECT 1 FROM trial_user_attributes a WHERE a.trial_id = t.trial_id "
            "AND a.key = 'params') FROM trials t ORDER BY t.number"
        )
        return [state if state != "RUNNING" or has_params else "STARTING" for state, has_params in rows]


_ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


def _start_and_kill(small_split, tmp_path: Path) -> tuple[Path, Path, Path]:
    """Start the search in a process and SIGKILL it once a trial has completed and another is running.

    Returns:
        The script, the data file and the run directory.
    """
    train, validation = small_split
    data = tmp_path / "data.npz"
    np.savez(data, x=train.images, y=train.labels, vx=validation.images, vy=validation.labels)
    script = tmp_path / "search.py"
    script.write_text(SEARCH)
    run_dir = tmp_path / "run"
    process = subprocess.Popen([sys.executable, str(script), str(run_dir), str(data)], env=_ENV)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and process.poll() is None:
            if (run_dir / "study.db").is_file():
                try:
                    states = _states_read_only(run_dir)
                except sqlite3.Error:  # the file exists a moment before the study's tables are created in it
                    time.sleep(0.3)
                    continue
                if "COMPLETE" in states and states[-1] == "RUNNING":
                    break
            time.sleep(0.3)
        assert process.poll() is None, "the search ended before it could be killed; give it more trials"
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
    return script, data, run_dir


@pytest.mark.slow
def test_a_killed_search_resumes_without_losing_completed_trials(small_split, tmp_path) -> None:
    train, validation = small_split
    _, _, run_dir = _start_and_kill(small_split, tmp_path)
    before = {t.number: (t.value, t.user_attrs["params"]) for t in _trials(run_dir) if t.state == TrialState.COMPLETE}
    assert before and len(before) < MAX_RUNS

    namespace: dict = {}
    exec(compile(SEARCH, "search", "exec"), namespace)  # the same trainer settings, resumed
    result = namespace["make_trainer"](str(run_dir), True).fit(train, validation)

    after = {t.number: t for t in _trials(run_dir)}
    for number, (value, params) in before.items():  # nothing completed was lost or redone
        assert after[number].state == TrialState.COMPLETE
        assert after[number].value == value and after[number].user_attrs["params"] == params
        assert (run_dir / "models" / f"trial_{number:05d}.keras").is_file()
    interrupted = [t for t in after.values() if is_interrupted(t)]
    assert len(interrupted) >= 1
    # the interrupted trial's parameters were queued again (Optuna's retry) and run
    requeued = [t for t in after.values() if retried_from(t) is not None]
    assert {retried_from(t) for t in requeued} == {t.number for t in interrupted}
    assert requeued[0].user_attrs["params"] == interrupted[0].user_attrs["params"]
    assert all(t.state == TrialState.COMPLETE for t in requeued)
    counted = [t for t in after.values() if t.state.is_finished() and not is_interrupted(t)]
    assert len(counted) == MAX_RUNS  # completed trials count toward max_total_runs
    assert set(result.leaderboard["status"]) <= {"completed", "pruned", "failed", "interrupted"}
    assert (result.leaderboard["status"] != "interrupted").sum() == MAX_RUNS

    # resuming a finished search runs nothing more
    again = namespace["make_trainer"](str(run_dir), True).fit(train, validation)
    assert len(_trials(run_dir)) == len(after)
    assert again.best_score == result.best_score


@pytest.mark.slow
def test_two_processes_resuming_one_run_at_once_keep_the_trial_limit(small_split, tmp_path) -> None:
    """Two resumers of one killed run share it: together they run exactly max_total_runs counted
    trials, neither crashes (e.g. with UpdateFinishedTrialError) and each returns a loadable result."""
    script, data, run_dir = _start_and_kill(small_split, tmp_path)
    done_before = sum(t.state == TrialState.COMPLETE for t in _trials(run_dir))
    resumers = [
        subprocess.Popen(
            [sys.executable, str(script), str(run_dir), str(data), "resume"],
            env=_ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = []
    try:
        for process in resumers:
            outputs.append(process.communicate(timeout=300))
    finally:
        for process in resumers:
            if process.poll() is None:
                process.kill()
    for process, (out, err) in zip(resumers, outputs, strict=True):
        assert "UpdateFinishedTrialError" not in err, err[-3000:]
        assert process.returncode == 0, err[-3000:]
        assert "RESULT" in out, out  # the result, with its best model, loaded in both processes

    trials = _trials(run_dir)
    counted = [t for t in trials if t.state.is_finished() and not is_interrupted(t) and not was_not_run(t)]
    assert len(counted) == MAX_RUNS, [(t.number, t.state.name, t.user_attrs.get("error")) for t in trials]
    assert [t.number for t in trials if t.state == TrialState.RUNNING] == []
    assert sum(t.state == TrialState.COMPLETE for t in counted) > done_before  # the resumers did run trials
    # the killed trial's configuration was trained again once, not by both resumers
    params = [json.dumps(t.user_attrs["params"], sort_keys=True) for t in counted]
    assert len(set(params)) == len(params)


def test_the_trial_limit_is_reserved_in_creation_order(tmp_path) -> None:
    """Trials asked past the limit, from any process, are recorded over the limit and not counted;
    a queued trial numbered below holds its place, and interrupted ones free theirs."""
    from asl_recog.backends.local._engine import open_study
    from asl_recog.backends.local._reservation import counted, has_place, mark_over_limit

    study = open_study(tmp_path, direction="maximize")
    for value in (0.1, 0.2):
        study.tell(study.ask(), value)
    killed = study.ask()
    study.tell(killed, state=TrialState.FAIL)  # no outcome recorded: its process died (interrupted)
    study.enqueue_trial({})  # its copy, queued: number 3
    # while queued, the copy holds its place against any trial numbered after it
    assert not has_place(study.get_trials(), 4, 3) and has_place(study.get_trials(), 4, 4)
    late = study.ask()  # pops the queued copy
    assert late.number == 3 and has_place(study.get_trials(), late.number, 3)
    other = study.ask()  # number 4: trials 0, 1 and 3 hold the three places
    assert not has_place(study.get_trials(), other.number, 3)
    mark_over_limit(other, 3)
    study.tell(other, state=TrialState.FAIL)
    study.tell(late, 0.3)
    assert counted(study.get_trials()) == 3
