"""Issue 29, part 1: a search tracked in a real MLflow server (tests/mlflow_server.py), never a mock.

One parent run per search (settings as params, the data's checksums and split as tags), a nested
run per trial (params, the per-epoch curve as a metric history, state, duration, host), one for
the refit; workers in other processes log under the same parent, which they find by the id the
study holds, on their own tracking server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import optuna
import pytest

import asl_recog as asl
from asl_recog._errors import ConfigurationError
from asl_recog.backends.local._engine import open_storage, open_study
from asl_recog.backends.local._recipe import RUN_KEY
from asl_recog.backends.local._shared import share
from asl_recog.backends.local._tracked import RUN_ID_ATTR
from asl_recog.tracking._background import OpeningSearch
from asl_recog.tracking._search import PARENT_TAG, SearchRun, dataset_tags, start_search

pytest.importorskip("mlflow", reason="the 'mlflow' extra is not installed (make test installs it)")

from mlflow import MlflowClient

FIXED = {"hidden": 16, "batch_size": 64, "epochs": 2}


def _experiment(monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh experiment per test, named as MLflow reads it ($MLFLOW_EXPERIMENT_NAME)."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", name)
    return name


def _runs(client: Any, experiment: str) -> tuple[Any, list[Any]]:
    """The experiment's one parent run and the runs nested under it."""
    found = client.get_experiment_by_name(experiment)
    runs = client.search_runs([found.experiment_id], max_results=100)
    parents = [r for r in runs if PARENT_TAG not in r.data.tags]
    assert len(parents) == 1, [(r.info.run_name, r.data.tags.get(PARENT_TAG)) for r in runs]
    children = [r for r in runs if r.data.tags.get(PARENT_TAG) == parents[0].info.run_id]
    assert len(children) == len(runs) - 1, "every other run is nested under the parent"
    return parents[0], children


@pytest.mark.slow
def test_a_tracked_search_is_one_parent_run_with_a_nested_run_per_trial_and_the_refit(
    mlflow_server, small_split, tmp_path, monkeypatch
) -> None:
    train, validation = small_split[0][::4], small_split[1][::2]  # 25 and 15 real images per letter
    experiment = _experiment(monkeypatch)
    trainer = asl.HyperDriveTrainer(
        builder="seed",
        max_total_runs=3,
        max_concurrent_runs=2,  # two worker processes log their own trials
        fixed_params=FIXED,
        run_dir=tmp_path / "run",
        progress=False,
        tracking_uri=mlflow_server.url,
    )
    result = trainer.fit(train, validation)

    client = MlflowClient(mlflow_server.url)
    parent, children = _runs(client, experiment)
    assert result.extras["mlflow"]["run_id"] == parent.info.run_id
    assert parent.info.status == "FINISHED" and parent.info.run_name == "run"
    assert parent.data.params["max_total_runs"] == "3" and parent.data.params["max_concurrent_runs"] == "2"
    assert parent.data.params["tracking_uri"] == mlflow_server.url
    expected = dataset_tags("train", train)
    assert {k: parent.data.tags[k] for k in expected} == expected
    assert (
        parent.data.tags["data.validation.rows"] == str(len(validation)) and parent.data.tags["data.split"] == "given"
    )
    assert parent.data.metrics["best_accuracy"] == pytest.approx(result.best_score)
    assert [a.path for a in client.list_artifacts(parent.info.run_id)] == ["leaderboard.csv"]

    trials = sorted((r for r in children if r.info.run_name.startswith("trial-")), key=lambda r: r.info.run_name)
    refits = [r for r in children if r.info.run_name == "refit"]
    assert [r.info.run_name for r in trials] == ["trial-0", "trial-1", "trial-2"] and len(refits) == 1
    board = result.leaderboard.set_index("trial")
    for run in trials:
        number = int(run.data.tags["trial"])
        assert run.info.status == "FINISHED" and run.data.tags["state"] == "completed"
        assert run.data.tags["host"] == board.loc[number, "host"]
        assert run.data.params["learning_rate"] == str(board.loc[number, "params"]["learning_rate"])
        curve = client.get_metric_history(run.info.run_id, "accuracy")
        assert [m.step for m in curve] == [1, 2]  # one point per epoch
        assert [m.value for m in curve] == pytest.approx(board.loc[number, "history"])
        assert run.data.metrics["duration_s"] == pytest.approx(board.loc[number, "duration_s"], abs=0.01)
    # Opened after the first trial had finished, the parent run still starts with the search.
    assert parent.info.start_time <= min(r.info.start_time for r in trials)
    # The parent run was opened in the background; its id still reached the study, for a resume.
    study = open_study(tmp_path / "run", direction="maximize", resume=True)
    assert study.user_attrs[RUN_ID_ATTR] == parent.info.run_id
    # two worker processes ran the trials (the tags name their hosts; the leaderboard their pids)
    assert refits[0].data.tags["trial"] == str(result.best_trial) and refits[0].info.status == "FINISHED"
    assert refits[0].data.metrics["duration_s"] == pytest.approx(result.refit_seconds)


def test_the_parent_run_is_opened_once_a_trial_has_finished_or_after_the_delay() -> None:
    opened_at: list[float] = []

    def open_run() -> SearchRun:
        opened_at.append(time.monotonic())
        return SearchRun("http://127.0.0.1:9", "0" * 32, "1", "accuracy")

    waiting = OpeningSearch(open_run, delay_s=60)
    time.sleep(0.3)
    assert opened_at == [], "nothing is opened beside the first trial"
    # a trial finished: the thread that logs it asks for the parent run (submit -> _TrialQueue -> opened)
    assert waiting.result(timeout_s=10) is not None and len(opened_at) == 1
    waiting.close()

    timed = OpeningSearch(open_run, delay_s=0.2)  # a first trial longer than the delay
    deadline = time.monotonic() + 10
    while len(opened_at) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(opened_at) == 2, "opened after the delay, with no trial finished and nobody asking"
    assert timed.result() is not None
    timed.close()


def test_the_tracking_uri_is_checked_at_once(small_split, tmp_path, monkeypatch) -> None:
    _experiment(monkeypatch)
    with pytest.raises(ConfigurationError, match="tracking_uri must be an MLflow tracking URI"):
        asl.HyperDriveTrainer(tracking_uri=5000)
    trainer = asl.HyperDriveTrainer(
        builder="seed", max_total_runs=1, fixed_params=FIXED, run_dir=tmp_path / "run", progress=False,
        tracking_uri="http://127.0.0.1:9",  # nothing listens on the discard port
    )  # fmt: skip
    with pytest.raises(ConfigurationError, match="start the server or correct the URI") as caught:
        trainer.fit(*small_split)
    assert "127.0.0.1:9" in str(caught.value)
    assert not list((tmp_path / "run").glob("models/*")), "no trial ran"


def test_a_parent_run_that_cannot_be_opened_is_a_warning_and_the_search_goes_on(
    small_split, tmp_path, monkeypatch, caplog
) -> None:
    """The parent run of a search only this process runs is opened in the background: a failure
    past the at-once check (here a SQLite store MLflow cannot create) must not cost the search."""
    _experiment(monkeypatch)
    (tmp_path / "a-file").write_text("not a folder")  # so no store can be created below it
    trainer = asl.HyperDriveTrainer(
        builder="seed", max_total_runs=1, fixed_params=FIXED, refit=False, run_dir=tmp_path / "run", progress=False,
        tracking_uri=f"sqlite:///{tmp_path}/a-file/mlflow.db",
    )  # fmt: skip
    with caplog.at_level("WARNING", logger="asl_recog"):
        result = trainer.fit(*small_split)
    assert len(result.leaderboard) == 1 and "mlflow" not in result.extras
    assert "tracking: this search is not tracked" in caplog.text


@pytest.mark.parametrize(("sdk", "says"), [("v2", "workspace's own MLflow"), ("v1", "run history")])
def test_azure_backends_say_where_their_runs_are_tracked_instead(sdk: str, says: str) -> None:
    from asl_recog.backends.azure._checks import check_trainer

    trainer = asl.HyperDriveTrainer(max_total_runs=2, tracking_uri="http://127.0.0.1:5000")
    with pytest.raises(ConfigurationError, match=says) as caught:
        check_trainer(trainer, sdk, "AzureBackend")  # what the backend's check (at construction) and fit call
    assert "leave tracking_uri unset" in str(caught.value)


def _shared_study(tmp_path: Path, small_split: Any, parent: str | None) -> tuple[str, str, Path]:
    """A shared search as its coordinator leaves it (recipe, data, run token), tracked under ``parent``."""
    train, validation = small_split[0][::4], small_split[1][::2]
    url, name, artifacts = f"sqlite:///{tmp_path / 'shared.db'}", f"s-{uuid.uuid4().hex[:6]}", tmp_path / "store"
    study = optuna.create_study(study_name=name, storage=open_storage(url), direction="maximize")
    settings = {"builder": "seed", "fixed_params": FIXED, "max_total_runs": 2}
    share(
        study,
        "hyperdrive",
        settings,
        (train.images, train.labels, validation.images, validation.labels),
        str(artifacts),
    )
    study.set_user_attr(RUN_KEY, {"token": "t", "deadline": None})
    if parent is not None:
        study.set_user_attr(RUN_ID_ATTR, parent)
    return url, name, artifacts


def _worker(url: str, name: str, artifacts: Path, cwd: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    environment = {k: v for k, v in os.environ.items() if k not in ("OPTUNA_STORAGE", "MLFLOW_TRACKING_URI")}
    command = [sys.executable, "-m", "asl_recog.cli", "worker", "--study", name, "--artifacts", str(artifacts)]
    return subprocess.run(
        [*command, "--run-dir", str(cwd / "worker"), *args],
        env={**environment, "OPTUNA_STORAGE": url, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_a_worker_in_another_process_logs_under_the_searchs_parent_run(
    mlflow_server, small_split, tmp_path, monkeypatch
) -> None:
    experiment = _experiment(monkeypatch)
    search = start_search(mlflow_server.url, run_name="shared", metric="accuracy", settings={}, tags={})
    url, name, artifacts = _shared_study(tmp_path, small_split, search.run_id)
    # The worker's tracking server comes from its own environment, as MLflow reads it.
    done = _worker(url, name, artifacts, tmp_path, env={"MLFLOW_TRACKING_URI": mlflow_server.url})
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"logging trials under MLflow run {search.run_id}" in done.stdout
    _, children = _runs(MlflowClient(mlflow_server.url), experiment)
    assert sorted(r.info.run_name for r in children) == ["trial-0", "trial-1"]
    assert all(len(r.data.params) >= 2 and r.data.metrics.get("accuracy") is not None for r in children)


@pytest.mark.parametrize(
    ("parent", "args", "message"),
    [
        ("0" * 32, (), "this worker has no tracking server: give --tracking-uri"),
        ("http://attacker.example/x", ("--tracking-uri", "TRACKING"), "is not an MLflow run id"),
        ("f" * 32, ("--tracking-uri", "TRACKING"), "which is not on tracking server"),
    ],
)
def test_a_worker_takes_only_a_checked_run_id_from_the_study(
    mlflow_server, small_split, tmp_path, parent: str, args: tuple[str, ...], message: str
) -> None:
    url, name, artifacts = _shared_study(tmp_path, small_split, parent)
    args = tuple(mlflow_server.url if a == "TRACKING" else a for a in args)
    done = _worker(url, name, artifacts, tmp_path, *args)
    assert done.returncode == 2 and message in done.stderr, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert not (artifacts.parent / "worker" / "data").exists(), "refused before the data was fetched"


def test_the_comparisons_figures_go_to_the_parent_run_of_the_search_that_trained_the_model(
    mlflow_server, model, small_test, tmp_path, monkeypatch
) -> None:
    from types import SimpleNamespace

    from asl_recog.tracking import log_comparison

    experiment = _experiment(monkeypatch)
    search = start_search(mlflow_server.url, run_name="cnn", metric="accuracy", settings={}, tags={})
    comparison = asl.Comparator({"cnn": model}).evaluate(small_test)
    report = tmp_path / "report"
    report.mkdir()
    (report / "report.md").write_text("# the report\n")
    tracked, untracked = SimpleNamespace(extras={"mlflow": search.as_dict()}), SimpleNamespace(extras={})
    assert log_comparison(comparison, {"cnn": tracked, "other": untracked}, report) == 1

    client = MlflowClient(mlflow_server.url)
    parent, _ = _runs(client, experiment)
    row = comparison.summary.loc["cnn"]
    assert parent.data.metrics["test_accuracy"] == pytest.approx(row["accuracy"])
    assert parent.data.metrics["test_accuracy_ci_low"] == pytest.approx(row["accuracy_ci_low"])
    assert parent.data.metrics["test_latency_p50_ms"] == pytest.approx(row["latency_p50_ms"])
    assert parent.data.tags["comparison.winner"] == "true"
    assert [a.path for a in client.list_artifacts(parent.info.run_id, "comparison")] == ["comparison/report.md"]
