"""Kill a search with SIGKILL midway, resume it: no completed trial is lost and the limit holds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

MAX_RUNS = 4

SEARCH = """
import sys
import numpy as np
import asl_recog as asl

MAX_RUNS = {max_runs}

def make_trainer(run_dir, resume):
    return asl.HyperDriveTrainer(
        builder="seed",
        sampling=asl.RandomParameterSampling({"learning_rate": asl.loguniform(-7, -5), "hidden": asl.choice(16, 32)}),
        fixed_params={"epochs": 2, "batch_size": 64}, max_total_runs=MAX_RUNS, seed=3, run_dir=run_dir,
        resume=resume, progress=False)

if __name__ == "__main__":
    data = np.load(sys.argv[2])
    train = asl.SignMnistDataset(data["x"], data["y"])
    validation = asl.SignMnistDataset(data["vx"], data["vy"])
    make_trainer(sys.argv[1], resume=False).fit(train, validation)
""".replace("{max_runs}", str(MAX_RUNS))


def _trials(run_dir: Path) -> list[optuna.trial.FrozenTrial]:
    from asl_recog._engine import open_storage

    return optuna.load_study(study_name="search", storage=open_storage(run_dir)).get_trials()


@pytest.mark.slow
def test_a_killed_search_resumes_without_losing_completed_trials(small_split, tmp_path) -> None:
    train, validation = small_split
    data = tmp_path / "data.npz"
    np.savez(data, x=train.images, y=train.labels, vx=validation.images, vy=validation.labels)
    script = tmp_path / "search.py"
    script.write_text(SEARCH)
    run_dir = tmp_path / "run"
    process = subprocess.Popen([sys.executable, str(script), str(run_dir), str(data)],
                               env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    try:
        deadline = time.monotonic() + 240
        # Kill once at least one trial has completed and another one is running.
        while time.monotonic() < deadline and process.poll() is None:
            if (run_dir / "study.db").is_file():
                try:
                    trials = _trials(run_dir)
                except Exception:  # the file exists a moment before the study (or its tables) is created in it
                    time.sleep(0.3)
                    continue
                states = [t.state for t in trials]
                if TrialState.COMPLETE in states and states[-1] == TrialState.RUNNING:
                    break
            time.sleep(0.3)
        assert process.poll() is None, "the search ended before it could be killed; give it more trials"
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
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
    interrupted = [t for t in after.values() if t.user_attrs.get("interrupted")]
    assert len(interrupted) >= 1
    # the interrupted trial's parameters were queued again and run
    requeued = [t for t in after.values() if "requeued_from" in t.user_attrs]
    assert {t.user_attrs["requeued_from"] for t in requeued} == {t.number for t in interrupted}
    assert requeued[0].user_attrs["params"] == interrupted[0].user_attrs["params"]
    counted = [t for t in after.values() if t.state.is_finished() and not t.user_attrs.get("interrupted")]
    assert len(counted) == MAX_RUNS  # completed trials count toward max_total_runs
    assert set(result.leaderboard["status"]) <= {"completed", "pruned", "failed", "interrupted"}
    assert (result.leaderboard["status"] != "interrupted").sum() == MAX_RUNS

    # resuming a finished search runs nothing more
    again = namespace["make_trainer"](str(run_dir), True).fit(train, validation)
    assert len(_trials(run_dir)) == len(after)
    assert again.best_score == result.best_score
