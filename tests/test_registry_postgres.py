"""The model registry on an ``mlflow server`` whose backend store is PostgreSQL, as a team's would be.

The PostgreSQL is the throwaway one of ``make test`` (``tools/test_postgres.sh``; its URL in
``ASL_RECOG_TEST_POSTGRES``). MLflow gets a database of its own, ``asl_mlflow``: MLflow and
Optuna both keep an ``alembic_version`` table, so they cannot share the distributed-search test's
database. Without PostgreSQL the test skips locally, and fails where ``ASL_RECOG_REQUIRE_POSTGRES=1``
(CI) says the server must be there.

MLflow 3.15's server cannot look up a model version in PostgreSQL through psycopg 3 (mlflow/mlflow#24515:
it binds the version as VARCHAR; fixed upstream by mlflow/mlflow#24565); psycopg2 works. The server
here uses psycopg2 when it is installed; otherwise the test shows that registering still works and
that the lookups fail with an error that names the bug and its fix.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow_server import MlflowServer, start_mlflow_server, stop_mlflow_server

from asl_recog._errors import AslRecogError
from asl_recog.tracking import register_model
from asl_recog.tracking._fetch import fetch_registered_onnx

mlflow = pytest.importorskip("mlflow", reason="the 'mlflow' extra is not installed (make test installs it)")

#: MLflow's own database on the test server (never Optuna's).
DATABASE = "asl_mlflow"


def _driver() -> str:
    """psycopg2 when installed (MLflow's registry works with it), else psycopg 3."""
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        return "psycopg"
    return "psycopg2"


def _bug_24515() -> bool:
    """Whether this MLflow server fails version lookups on a psycopg 3 store (mlflow/mlflow#24515)."""
    from packaging.version import Version

    return _driver() == "psycopg" and Version(mlflow.__version__) <= Version("3.15.0")


def mlflow_database(postgres_url: str, name: str = DATABASE) -> str:
    """The SQLAlchemy URL of database ``name`` on the server of ``postgres_url``, created when missing.

    Never dropped: another test (or a second process of this one) may hold a server on it.
    """
    import psycopg

    base, _, _ = postgres_url.rpartition("/")
    with psycopg.connect(f"{base}/postgres".replace("+psycopg", ""), autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            # Another process may create it at the same moment.
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                connection.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"


@pytest.fixture(scope="module")
def postgres_mlflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """A second ``mlflow server``, its runs and registry in PostgreSQL, stopped by its process id."""
    url = os.environ.get("ASL_RECOG_TEST_POSTGRES")
    if not url:
        if os.environ.get("ASL_RECOG_REQUIRE_POSTGRES") == "1":
            pytest.fail("ASL_RECOG_REQUIRE_POSTGRES=1 but ASL_RECOG_TEST_POSTGRES is unset: PostgreSQL did not start")
        pytest.skip("no PostgreSQL: set ASL_RECOG_TEST_POSTGRES (`bash tools/test_postgres.sh start` prints it)")
    store = mlflow_database(url).replace("postgresql+psycopg:", f"postgresql+{_driver()}:")
    server = start_mlflow_server(tmp_path_factory.mktemp("mlflow_postgres"), backend_store_uri=store)
    yield server
    stop_mlflow_server(server)


@pytest.mark.slow  # PostgreSQL's MLflow schema migrations take 20-50 s
def test_register_and_fetch_with_a_postgresql_store(
    postgres_mlflow: MlflowServer, serving_model_path: Path, tmp_path: Path
) -> None:
    import sqlalchemy

    first = register_model(serving_model_path, "asl-postgres", tracking_uri=postgres_mlflow.url)
    second = register_model(serving_model_path, "asl-postgres", tracking_uri=postgres_mlflow.url)
    assert int(second.version) == int(first.version) + 1
    # The registry really is in PostgreSQL: its tables hold the versions.
    engine = sqlalchemy.create_engine(mlflow_database(os.environ["ASL_RECOG_TEST_POSTGRES"]))
    try:
        with engine.connect() as connection:
            rows = connection.execute(sqlalchemy.text("SELECT version FROM model_versions WHERE name = 'asl-postgres'"))
            versions = {str(v) for (v,) in rows}
    finally:
        engine.dispose()
    assert versions >= {first.version, second.version}
    if _bug_24515():
        for attempt in (
            lambda: register_model(serving_model_path, "asl-postgres", tracking_uri=postgres_mlflow.url, alias="a"),
            lambda: fetch_registered_onnx(first.uri, tmp_path, tracking_uri=postgres_mlflow.url),
        ):
            with pytest.raises(AslRecogError, match=r"(?s)mlflow/mlflow#24515.*postgresql\+psycopg2://"):
                attempt()
        return
    third = register_model(serving_model_path, "asl-postgres", tracking_uri=postgres_mlflow.url, alias="champion")
    path = fetch_registered_onnx("models:/asl-postgres@champion", tmp_path, tracking_uri=postgres_mlflow.url)
    assert path.name == f"asl-postgres-v{third.version}.onnx"
    assert path.read_bytes() == serving_model_path.read_bytes()
    assert fetch_registered_onnx(first.uri, tmp_path, tracking_uri=postgres_mlflow.url).is_file()
