"""A real MLflow tracking server for the tests: ``mlflow server`` with a SQLite backend store.

:func:`start_mlflow_server` starts the server that the ``mlflow`` extra installs, on a
free port of 127.0.0.1, with its backend store in SQLite (or any SQLAlchemy URL, e.g.
the PostgreSQL of ``make test``) and its artifacts proxied by the server into a local
folder (``--artifacts-destination``: clients upload over HTTP, as remote workers do).
It returns once ``/health`` answers; :func:`stop_mlflow_server` stops it by its process
id (the server's process group: uvicorn runs its app in child processes).

``tests/conftest.py`` has the session fixture ``mlflow_server`` built on this.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

#: How long the server may take to answer /health (it creates its tables on first start).
START_TIMEOUT_S = 120


@dataclass
class MlflowServer:
    """A running ``mlflow server``: its URL (the tracking URI), its process and its folder."""

    url: str
    process: subprocess.Popen[bytes]
    folder: Path
    log: Path

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server's own log, for a failing test's message."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_mlflow_server(folder: Path, backend_store_uri: str | None = None) -> MlflowServer:
    """Start ``mlflow server`` storing into ``folder`` and wait until it answers.

    Args:
        folder: where the SQLite store (unless ``backend_store_uri``), the artifacts and the log go.
        backend_store_uri: a SQLAlchemy URL for runs and the registry; None is ``sqlite:///<folder>/mlflow.db``.

    Raises:
        RuntimeError: with the server's log, when it does not answer in :data:`START_TIMEOUT_S`.
    """
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    store = backend_store_uri or f"sqlite:///{folder / 'mlflow.db'}"
    mlflow = Path(sys.executable).with_name("mlflow")
    command = [
        str(mlflow),
        "server",
        "--backend-store-uri",
        store,
        "--artifacts-destination",
        str(folder / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    log = folder / "server.log"
    with log.open("wb") as out:
        # A session of its own, so that the server and the app processes it starts stop together.
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = MlflowServer(f"http://127.0.0.1:{port}", process, folder, log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mlflow server exited with {process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return server
        except OSError:
            pass
        time.sleep(0.5)
    stop_mlflow_server(server)
    raise RuntimeError(f"mlflow server did not answer in {START_TIMEOUT_S} s:\n{server.log_tail()}")


def stop_mlflow_server(server: MlflowServer) -> None:
    """Stop the server and its app processes by the server's process id (its process group)."""
    if server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=10)
