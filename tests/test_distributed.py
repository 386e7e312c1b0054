"""One search shared by separate processes through a real PostgreSQL and a file-system artifact store:
a coordinator (the process that calls fit) and two ``asl-recog worker`` processes; one worker is
SIGKILLed in the middle of a trial. The limit holds, no finished trial is lost, the killed trial is
failed and run again by another process, and the winner (maybe another host's) loads and predicts.

The PostgreSQL URL comes from ``ASL_RECOG_TEST_POSTGRES`` (``make test`` starts a throwaway server
with ``tools/test_postgres.sh``). Without it the test skips locally, and fails where
``ASL_RECOG_REQUIRE_POSTGRES=1`` (CI) says the server must be there.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from asl_recog.backends.local._engine import open_storage
from asl_recog.backends.local._heartbeat import is_interrupted, retried_from
from asl_recog.backends.local._reservation import takes_place

MAX_RUNS = 5
LABELS = [label for label in range(25) if label != 9]  # the dataset's labels: no J
EPOCHS = 6

COORDINATOR = """
import json, sys
import numpy as np
import asl_recog as asl

if __name__ == "__main__":
    url, study, artifacts, run_dir, data_file = sys.argv[1:6]
    data = np.load(data_file)
    train = asl.SignMnistDataset(data["x"], data["y"])
    validation = asl.SignMnistDataset(data["vx"], data["vy"])
    trainer = asl.HyperDriveTrainer(
        builder="seed",
        hyperparameter_sampling=asl.RandomParameterSampling(
            {"learning_rate": asl.loguniform(-7, -5), "hidden": asl.choice(16, 32)}, seed=5
        ),
        policy=asl.BanditPolicy(slack_factor=0.5, evaluation_interval=1, delay_evaluation=4),
        fixed_params={"epochs": EPOCHS, "batch_size": 64, "dropout": 0.1},
        max_total_runs=MAX_RUNS, refit=False, progress=False, run_dir=run_dir,
        backend=asl.LocalBackend(storage=url, study_name=study, artifacts=artifacts),
    )
    result = trainer.fit(train, validation)
    predicted = result.best_model.predict(validation.images[:8])
    board = result.leaderboard
    print("RESULT " + json.dumps({
        "best_trial": int(result.best_trial), "best_score": float(result.best_score),
        "trials": [int(n) for n in board["trial"]], "hosts": [h for h in board["host"]],
        "predicted": [str(p) for p in predicted],
    }), flush=True)
""".replace("EPOCHS", str(EPOCHS)).replace("MAX_RUNS", str(MAX_RUNS))

_ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


@pytest.fixture(scope="module")
def postgres_url() -> str:
    """The throwaway PostgreSQL of ``make test`` (tools/test_postgres.sh)."""
    url = os.environ.get("ASL_RECOG_TEST_POSTGRES")
    if not url:
        if os.environ.get("ASL_RECOG_REQUIRE_POSTGRES") == "1":
            pytest.fail("ASL_RECOG_REQUIRE_POSTGRES=1 but ASL_RECOG_TEST_POSTGRES is unset: PostgreSQL did not start")
        pytest.skip("no PostgreSQL: set ASL_RECOG_TEST_POSTGRES (`bash tools/test_postgres.sh start` prints it)")
    return url


def _trials(url: str, study: str) -> list[optuna.trial.FrozenTrial]:
    names = optuna.study.get_all_study_names(open_storage(url))
    if study not in names:
        return []
    return optuna.load_study(study_name=study, storage=open_storage(url)).get_trials()


def _victim(url: str, study: str, pids: dict[int, subprocess.Popen]) -> tuple[int, int] | None:
    """(pid, trial number) of a worker mid-trial: parameters recorded and at least one epoch reported,
    with most of its epochs still to run (a kill then cannot come after the trial ended)."""
    for t in _trials(url, study):
        worker = str(t.user_attrs.get("worker", ""))
        pid = int(worker.rpartition(":")[2] or -1)
        mid_trial = 1 <= len(t.intermediate_values) <= EPOCHS - 3
        if t.state == TrialState.RUNNING and pid in pids and "params" in t.user_attrs and mid_trial:
            return pid, t.number
    return None


@pytest.mark.slow
def test_a_search_shared_through_postgresql_survives_a_killed_worker(postgres_url, small_split, tmp_path) -> None:
    train, validation = small_split[0][::5], small_split[1][::3]  # 20 and 10 real images per letter: quick trials
    data = tmp_path / "data.npz"
    np.savez(data, x=train.images, y=train.labels, vx=validation.images, vy=validation.labels)
    script = tmp_path / "coordinator.py"
    script.write_text(COORDINATOR)
    study = f"distrib-{uuid.uuid4().hex[:8]}"
    artifacts = tmp_path / "artifacts"
    out = subprocess.PIPE
    coordinator = subprocess.Popen(
        [sys.executable, str(script), postgres_url, study, str(artifacts), str(tmp_path / "run"), str(data)],
        env=_ENV, stdout=out, stderr=out, text=True,
    )  # fmt: skip
    workers = {}
    for k in range(2):
        command = [sys.executable, "-m", "asl_recog.cli", "worker", "--storage", postgres_url, "--study", study]
        command += ["--run-dir", str(tmp_path / f"worker{k}"), "--wait", "120"]
        process = subprocess.Popen(command, env=_ENV, stdout=out, stderr=out, text=True)
        workers[process.pid] = process
    killed = None
    try:
        deadline = time.monotonic() + 180
        while killed is None and time.monotonic() < deadline and coordinator.poll() is None:
            killed = _victim(postgres_url, study, workers)
            time.sleep(0.2)
        assert killed is not None, "no worker was seen mid-trial; the trials may be too short"
        workers[killed[0]].send_signal(signal.SIGKILL)
        stdout, stderr = coordinator.communicate(timeout=300)
        assert coordinator.returncode == 0, stderr[-4000:]
        for pid, process in workers.items():
            if pid != killed[0]:
                _, err = process.communicate(timeout=120)
                assert process.returncode == 0, err[-4000:]
    finally:
        for process in [coordinator, *workers.values()]:
            if process.poll() is None:
                process.kill()
                process.wait()
    result = json.loads(next(line for line in stdout.splitlines() if line.startswith("RESULT "))[7:])
    trials = {t.number: t for t in _trials(postgres_url, study)}
    states = [(t.number, t.state.name, t.user_attrs.get("worker"), t.user_attrs.get("error")) for t in trials.values()]

    # the limit: complete plus pruned trials that take a place equal max_total_runs
    finished = [t for t in trials.values() if t.state in (TrialState.COMPLETE, TrialState.PRUNED) and takes_place(t)]
    assert len(finished) == MAX_RUNS, states
    assert not [t for t in trials.values() if t.state in (TrialState.RUNNING, TrialState.WAITING)], states
    # the killed trial is failed (interrupted, not an error of its own) and its parameters ran again
    victim = trials[killed[1]]
    assert victim.state == TrialState.FAIL and is_interrupted(victim), states
    retries = [t for t in trials.values() if retried_from(t) == victim.number]
    assert len(retries) == 1 and retries[0].user_attrs["params"] == victim.user_attrs["params"], states
    assert retries[0].state in (TrialState.COMPLETE, TrialState.PRUNED), states
    # no finished trial is lost: every one is on the leaderboard, every completed model is in the store
    assert {t.number for t in finished} <= set(result["trials"])
    assert all(t.user_attrs.get("model_artifact") for t in finished if t.state == TrialState.COMPLETE)
    # the three processes shared the work, and the leaderboard names the host of each trial
    assert len({t.user_attrs.get("worker") for t in finished}) >= 2, states
    assert all(result["hosts"]), result
    # the winner loads and predicts (in the coordinator, which may have downloaded it)
    assert trials[result["best_trial"]].state == TrialState.COMPLETE
    assert len(result["predicted"]) == 8 and {int(p) for p in result["predicted"]} <= set(LABELS)
