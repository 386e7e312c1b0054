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
import re
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

MAX_RUNS = 6
LABELS = [label for label in range(25) if label != 9]  # the dataset's labels: no J
EPOCHS = 10

COORDINATOR = """
import json, sys
import numpy as np
import asl_recog as asl

if __name__ == "__main__":
    url, study, artifacts, run_dir, data_file = sys.argv[1:6]
    data = np.load(data_file)
    import keras  # before fit, as docs/scaling.md advises: not inside the first trial, whose heartbeat it would stall
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


def _trials(storage: optuna.storages.BaseStorage, study: str) -> list[optuna.trial.FrozenTrial]:
    if study not in optuna.study.get_all_study_names(storage):
        return []
    return optuna.load_study(study_name=study, storage=storage).get_trials()


def _victim(
    storage: optuna.storages.BaseStorage, study: str, pids: dict[int, subprocess.Popen]
) -> tuple[int, int] | None:
    """(pid, trial number) of a worker mid-trial: parameters recorded and at least one epoch reported,
    with most of its epochs still to run (a kill then cannot come after the trial ended)."""
    for t in _trials(storage, study):
        worker = str(t.user_attrs.get("worker", ""))
        pid = int(worker.rpartition(":")[2] or -1)
        mid_trial = 1 <= len(t.intermediate_values) <= EPOCHS - 3
        if t.state == TrialState.RUNNING and pid in pids and "params" in t.user_attrs and mid_trial:
            return pid, t.number
    return None


def _tail(path: Path) -> str:
    return path.read_text(errors="replace") if path.is_file() else ""


def _tails(logs: dict[str, Path]) -> str:
    return "\n".join(f"--- {name}:\n" + "\n".join(_tail(path).splitlines()[-25:]) for name, path in logs.items())


@pytest.mark.slow
def test_a_search_shared_through_postgresql_survives_a_killed_worker(postgres_url, small_split, tmp_path) -> None:
    train, validation = small_split[0][::5], small_split[1][::3]  # 20 and 10 real images per letter: quick trials
    data = tmp_path / "data.npz"
    np.savez(data, x=train.images, y=train.labels, vx=validation.images, vy=validation.labels)
    script = tmp_path / "coordinator.py"
    script.write_text(COORDINATOR)
    study = f"distrib-{uuid.uuid4().hex[:8]}"
    artifacts = tmp_path / "artifacts"
    storage = open_storage(postgres_url)
    logs = {name: tmp_path / f"{name}.log" for name in ("coordinator", "worker0", "worker1")}
    workers: dict[int, subprocess.Popen] = {}
    for k in range(2):  # the workers start first and wait for the search's study
        # The URL from Optuna's variable, not the command line (where every local user could read a password).
        command = [sys.executable, "-m", "asl_recog.cli", "worker", "--study", study, "--artifacts", str(artifacts)]
        command += ["--run-dir", str(tmp_path / f"worker{k}"), "--wait", "300"]
        with open(logs[f"worker{k}"], "w") as log:  # files, not pipes: an unread pipe that fills blocks its writer
            process = subprocess.Popen(
                command, env={**_ENV, "OPTUNA_STORAGE": postgres_url}, stdout=log, stderr=subprocess.STDOUT, text=True
            )
        workers[process.pid] = process
    coordinator, killed = None, None
    try:
        deadline = time.monotonic() + 240
        while not all("waiting for study" in _tail(logs[f"worker{k}"]) for k in range(2)):  # their imports are done
            assert time.monotonic() < deadline and all(p.poll() is None for p in workers.values()), _tails(logs)
            time.sleep(0.5)
        with open(logs["coordinator"], "w") as log:
            coordinator = subprocess.Popen(
                [sys.executable, str(script), postgres_url, study, str(artifacts), str(tmp_path / "run"), str(data)],
                env=_ENV, stdout=log, stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip
        deadline = time.monotonic() + 420  # generous: on a loaded machine the imports alone take a minute
        while killed is None and time.monotonic() < deadline and coordinator.poll() is None:
            killed = _victim(storage, study, workers)
            time.sleep(0.1)
        assert killed is not None, "no worker was seen mid-trial; the trials may be too short\n" + _tails(logs)
        workers[killed[0]].send_signal(signal.SIGKILL)
        assert coordinator.wait(420) == 0, _tails(logs)
        for pid, process in workers.items():
            if pid != killed[0]:
                assert process.wait(120) == 0, _tails(logs)
                last = _tail(logs[f"worker{list(workers).index(pid)}"]).strip().splitlines()[-1]
                assert re.search(r"ran \d+ trials?: \d+ complete, \d+ pruned, 0 failed$", last), last
    finally:
        for process in [*([coordinator] if coordinator else []), *workers.values()]:
            if process.poll() is None:
                process.kill()
                process.wait()
    result = json.loads(
        next(line for line in _tail(logs["coordinator"]).splitlines() if line.startswith("RESULT "))[7:]
    )
    trials = {t.number: t for t in _trials(storage, study)}
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


def test_a_trainer_travels_as_json_and_is_rebuilt_the_same() -> None:
    """The recipe holds the settings in the config-file format; a worker rebuilds an equal trainer."""
    import asl_recog as asl
    from asl_recog.backends.local._recipe import encode_settings
    from asl_recog.cli._worker import rebuild_trainer
    from asl_recog.routes.hyperdrive._builders import build_seed

    trainer = asl.HyperDriveTrainer(
        builder=build_seed,
        hyperparameter_sampling=asl.RandomParameterSampling(
            {
                "learning_rate": asl.loguniform(-7, -5),
                "hidden": asl.choice(16, 32),
                "dropout": asl.quniform(0, 0.5, 0.1),
            },
            seed=4,
        ),
        policy=asl.TruncationSelectionPolicy(truncation_percentage=20, delay_evaluation=2),
        fixed_params={"epochs": 3},
        max_total_runs=7,
        max_concurrent_runs=2,
        progress=False,
    )
    recipe = {
        "route": "hyperdrive",
        "settings": json.loads(json.dumps(encode_settings(trainer.get_params(deep=False)))),
    }
    assert recipe["settings"]["builder"] == "asl_recog.routes.hyperdrive._builders:build_seed"
    rebuilt = rebuild_trainer(recipe, processes=1, where="test")
    for name in ("builder", "hyperparameter_sampling", "policy", "fixed_params", "max_total_runs", "seed"):
        assert getattr(rebuilt, name) == getattr(trainer, name), name
    assert rebuilt.max_concurrent_runs == 1 and rebuilt.refit is False

    automl = asl.AutoMLTrainer(allowed_models=["KNN", "SVM"], max_iterations=5, experiment_timeout_minutes=2)
    settings = json.loads(json.dumps(encode_settings(automl.get_params(deep=False))))
    again = rebuild_trainer({"route": "automl", "settings": settings}, processes=3, where="test")
    assert again.allowed_models == automl.allowed_models and again.max_concurrent_iterations == 3


def test_a_shared_storage_refuses_what_other_hosts_cannot_rebuild(tmp_path) -> None:
    import asl_recog as asl
    from asl_recog._errors import ConfigurationError

    shared = asl.LocalBackend(storage="postgresql+psycopg://asl@db.example/asl", study_name="cnn")
    with pytest.raises(ConfigurationError, match="module-level function"):
        asl.HyperDriveTrainer(builder=lambda params: None, max_total_runs=1, backend=shared)
    with pytest.raises(ConfigurationError, match="storage URL"):
        asl.LocalBackend(storage=str(tmp_path / "study.db"))
    with pytest.raises(ConfigurationError, match="give storage= too"):
        asl.LocalBackend(artifacts=str(tmp_path))


def test_the_search_data_is_checked_by_its_checksum(small_split, tmp_path) -> None:
    """A worker refuses data that is not what the search uploaded (content addressing)."""
    from asl_recog._errors import ConfigurationError
    from asl_recog.backends.local._artifacts import artifact_store, download_data, upload_data
    from asl_recog.backends.local._engine import open_study

    train, validation = small_split[0][:50], small_split[1][:20]
    arrays = (train.images, train.labels, validation.images, validation.labels)
    study = open_study(tmp_path / "run", direction="maximize")
    store = artifact_store(tmp_path / "artifacts")
    ref = upload_data(study, store, arrays)
    got = download_data(store, ref, tmp_path / "worker")
    assert all(np.array_equal(a, b) for a, b in zip(got, arrays, strict=True))
    forged = upload_data(study, store, (train.images[::-1], *arrays[1:]))
    with pytest.raises(ConfigurationError, match="does not match its checksum"):
        download_data(store, {**forged, "sha256": ref["sha256"]}, tmp_path / "other")
