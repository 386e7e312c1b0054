"""Issue 24: what a shared study can make a worker do. A row in the study's database is not code,
not a path on the worker's host, and the storage URL's password stays off the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from asl_recog._errors import ConfigurationError
from asl_recog.backends.local._artifacts import artifact_store, download_data, upload_data
from asl_recog.backends.local._engine import open_storage, open_study
from asl_recog.backends.local._recipe import RECIPE_KEY, RECIPE_VERSION, RUN_KEY
from asl_recog.backends.local._shared import fetch_data
from asl_recog.backends.local._trial_loop import SUPERVISOR_ATTR

PASSWORD = "s3cretpw"


def _worker(*args: str, env: dict[str, str] | None = None, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("OPTUNA_STORAGE", "ASL_RECOG_ALLOW_BUILDERS")}
    return subprocess.run(
        [sys.executable, "-m", "asl_recog.cli", "worker", *args],
        env={**environment, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _forged_study(tmp_path: Path, builder: str, artifacts: str = "/") -> str:
    """A study as someone with write access to the database could leave it: a recipe naming any function."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    study = optuna.create_study(study_name="forged", storage=open_storage(url), direction="maximize")
    settings = {"builder": builder, "fixed_params": {"touch": str(tmp_path / "MARKER"), "epochs": 1}}
    study.set_user_attr(
        RECIPE_KEY,
        {
            "version": RECIPE_VERSION,
            "route": "hyperdrive",
            "settings": settings,
            "data": {"artifact_id": "etc/hostname", "sha256": "0" * 64},
            "artifacts": artifacts,
        },
    )
    study.set_user_attr(RUN_KEY, {"token": "t", "deadline": None})
    return url


@pytest.mark.parametrize("builder", ["subprocess:run", "os:system"])
def test_a_worker_refuses_a_builder_its_host_does_not_allow(tmp_path: Path, builder: str) -> None:
    url = _forged_study(tmp_path, builder)
    done = _worker(
        "--study", "forged", "--artifacts", str(tmp_path / "store"), env={"OPTUNA_STORAGE": url}, cwd=tmp_path
    )
    assert done.returncode == 2, done.stderr
    assert f"{builder!r} is not allowed on this host" in done.stderr and f"--allow-builder {builder}" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "MARKER").exists()
    assert not (tmp_path / "store").exists()  # refused before any file was fetched


@pytest.mark.parametrize("builder", ["builtins:exec", "shutil:rmtree", "asl_recog.cli._main:main"])
def test_only_the_hosts_list_resolves_a_name(builder: str) -> None:
    from asl_recog.backends.local._recipe import resolve_callable
    from asl_recog.cli._worker import allowed_builders

    with pytest.raises(ConfigurationError, match=f"--allow-builder {builder}"):
        resolve_callable(builder, "study 'x': builder", allowed_builders())
    os.environ["ASL_RECOG_ALLOW_BUILDERS"] = f"json:dumps, {builder}"
    try:
        assert builder in allowed_builders()
    finally:
        del os.environ["ASL_RECOG_ALLOW_BUILDERS"]


def test_an_allowed_builder_passes_the_check_and_a_forged_artifact_id_is_refused(tmp_path: Path) -> None:
    # Allowed on this host, the builder gets past the check; the next forged field, a path as the data's
    # artifact id, is refused before the store is read.
    url = _forged_study(tmp_path, "json:dumps")
    done = _worker(
        "--study", "forged", "--artifacts", str(tmp_path / "store"), "--allow-builder", "json:dumps",
        env={"OPTUNA_STORAGE": url}, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "'etc/hostname' is not an artifact id" in done.stderr
    assert not list((tmp_path / "store").rglob("hostname"))


def test_the_artifact_store_is_the_workers_own_never_the_recipes(small_split, tmp_path: Path) -> None:
    train, validation = small_split[0][:40], small_split[1][:20]
    arrays = (train.images, train.labels, validation.images, validation.labels)
    study = open_study(tmp_path / "run", direction="maximize")
    mine = tmp_path / "mine"
    data = upload_data(study, artifact_store(mine), arrays)
    decoy = tmp_path / "decoy"  # what the recipe names: a store holding other data under the same id
    artifact_store(decoy)
    (decoy / data["artifact_id"]).write_bytes(b"not the search's data")
    study.set_user_attr(RECIPE_KEY, {"version": RECIPE_VERSION, "data": data, "artifacts": str(decoy)})
    got = fetch_data(study, str(mine), tmp_path / "worker")
    assert all(np.array_equal(a, b) for a, b in zip(got, arrays, strict=True))
    # Without a store of its own the worker stops, naming the flag, rather than use the recipe's.
    url = _forged_study(tmp_path, "default")
    done = _worker("--study", "forged", env={"OPTUNA_STORAGE": url}, cwd=tmp_path)
    assert (
        done.returncode == 2 and "--artifacts" in done.stderr and "never takes the path from the study" in done.stderr
    )


def test_an_artifact_id_cannot_name_a_file_of_the_host(tmp_path: Path) -> None:
    for forged in ("etc/hostname", "../../etc/hostname", "/etc/hostname"):
        with pytest.raises(ConfigurationError, match="is not an artifact id"):
            download_data(artifact_store("/"), {"artifact_id": forged, "sha256": "0" * 64}, tmp_path / "data")
    with pytest.raises(ConfigurationError, match="is not a SHA-256"):
        download_data(
            artifact_store(tmp_path),
            {"artifact_id": "3b2b5e4e-9a0c-4c5e-8f43-0e5f2f1d9c11", "sha256": "../x"},
            tmp_path,
        )
    assert not list(tmp_path.rglob("hostname"))


def test_the_storage_url_comes_from_optunas_variable_or_a_file(tmp_path: Path) -> None:
    import optuna

    url = f"sqlite:///{tmp_path / 'env.db'}"
    optuna.storages.RDBStorage(url)  # a search's database, with no study of that name in it
    done = _worker(
        "--study", "nothing-yet", "--artifacts", str(tmp_path), "--wait", "0", env={"OPTUNA_STORAGE": url}, cwd=tmp_path
    )
    # The storage was opened and searched for the study: the usage error says so.
    assert done.returncode == 2 and "no asl-recog search named 'nothing-yet'" in done.stderr, done.stderr
    secret = tmp_path / "storage-url"
    secret.write_text(f"{url}\n")
    done = _worker(
        "--study", "x", "--artifacts", str(tmp_path), "--wait", "0", "--storage-file", str(secret), cwd=tmp_path
    )
    assert done.returncode == 2 and "no asl-recog search named 'x'" in done.stderr, done.stderr


def test_a_misspelt_sqlite_path_is_refused_and_no_empty_database_is_made(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studdy.db'}"
    done = _worker(
        "--study", "x", "--artifacts", str(tmp_path), "--wait", "0", env={"OPTUNA_STORAGE": url}, cwd=tmp_path
    )
    assert done.returncode == 2 and f"no SQLite database at {tmp_path / 'studdy.db'}" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1  # one line, no traceback
    assert not (tmp_path / "studdy.db").exists()


@pytest.mark.parametrize(
    ("url", "status", "says"),
    [
        (f"postgresql+psycopg://asl:{PASSWORD}@127.0.0.1:1/asl", 1, "cannot open the storage at 127.0.0.1"),
        (f"postgresql+psycopg//asl:{PASSWORD}@db.example/asl", 2, "is not a database URL"),
        (f"mysql://asl:{PASSWORD}@127.0.0.1:1/asl", 2, "needs the database driver"),
        ("sqlite:////nonexistent-dir/x.db", 2, "no SQLite database at /nonexistent-dir/x.db"),  # a path to fix
    ],
)
def test_a_bad_storage_url_is_one_line_with_the_password_masked(
    tmp_path: Path, url: str, status: int, says: str
) -> None:
    done = _worker(
        "--study", "x", "--artifacts", str(tmp_path), "--wait", "0", env={"OPTUNA_STORAGE": url}, cwd=tmp_path
    )
    assert done.returncode == status, done.stderr
    assert says in done.stderr and "Traceback" not in done.stderr
    assert PASSWORD not in done.stderr + done.stdout
    assert len(done.stderr.strip().splitlines()) == 1


def test_the_workers_last_line_counts_its_trials(capsys: pytest.CaptureFixture[str]) -> None:
    from asl_recog.cli._worker import _report

    study = optuna.create_study(direction="maximize")
    me, other = "host:100", "host:200"

    def add(state: TrialState, value: float | None, **attrs: object) -> None:
        study.add_trial(optuna.trial.create_trial(state=state, value=value, user_attrs=attrs))

    add(TrialState.COMPLETE, 0.9, worker="host:101", **{SUPERVISOR_ATTR: me})  # one of its worker processes
    add(TrialState.PRUNED, None, worker=me)  # run in its own process
    add(TrialState.FAIL, None, worker="host:102", **{SUPERVISOR_ATTR: me})
    add(TrialState.FAIL, None, worker="host:103", over_limit=True, **{SUPERVISOR_ATTR: me})  # not run: not counted
    add(TrialState.COMPLETE, 0.8, worker=other)  # another worker's
    assert _report(study, me) == 1
    assert (
        capsys.readouterr()
        .out.strip()
        .endswith("ran 3 trials: 1 complete, 1 pruned, 1 failed (trial 2: see the leaderboard)")
    )
    assert _report(study, other) == 0
    assert "ran 1 trial: 1 complete, 0 pruned, 0 failed" in capsys.readouterr().out


def test_local_backend_takes_the_url_from_a_file_or_optunas_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asl_recog as asl

    secret = tmp_path / "storage-url"
    secret.write_text(f"postgresql+psycopg://asl:{PASSWORD}@db.example/asl\n")
    backend = asl.LocalBackend(storage_file=secret, study_name="cnn")
    assert backend.storage == f"postgresql+psycopg://asl:{PASSWORD}@db.example/asl"
    assert PASSWORD not in repr(backend) and "asl:***@db.example" in repr(backend)
    monkeypatch.setenv("OPTUNA_STORAGE", f"postgresql+psycopg://asl:{PASSWORD}@db2.example/asl")
    assert asl.LocalBackend(study_name="cnn").storage.endswith("@db2.example/asl")
    assert asl.LocalBackend().storage is None  # without a study name: the run's own SQLite, as before
    with pytest.raises(ConfigurationError, match="not both"):
        asl.LocalBackend(storage="sqlite:///x.db", storage_file=secret)
    secret.write_text(f"postgresql+psycopg//asl:{PASSWORD}@db.example/asl")
    with pytest.raises(ConfigurationError, match="is not a database URL") as caught:
        asl.LocalBackend(storage_file=secret, study_name="cnn")
    assert PASSWORD not in str(caught.value)
