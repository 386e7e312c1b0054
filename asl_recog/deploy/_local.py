"""Local deployment: the scoring service in a subprocess on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path

from asl_recog._errors import AslRecogError, ConfigurationError
from asl_recog.deploy._base import Deployer, Endpoint, endpoint_name
from asl_recog.deploy._scoring import onnx_file
from asl_recog.models._base import Model
from asl_recog.serving._security import generate_key
from asl_recog.tracking._fetch import is_models_uri, registry_tracking_uri


class DeploymentError(AslRecogError, RuntimeError):
    """A service did not start, or did not become ready in time."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: have the kernel send SIGTERM to the service if the Python that started it dies."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _stop(process: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM (uvicorn shuts down cleanly), then SIGKILL after ``grace_s``; reaps the child."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class LocalEndpoint(Endpoint):
    """The scoring service running in a local subprocess (see :class:`LocalDeployer`).

    Attributes:
        process: the ``python -m asl_recog.serving`` process.
        folder: the run folder holding the model, the key file and ``service.log``.

    Example:
        >>> endpoint = LocalDeployer().deploy("runs/best.onnx")
        >>> endpoint.scoring_uri, endpoint.running  # a free port is picked
        ('http://127.0.0.1:.../score', True)
        >>> endpoint.delete()
        >>> endpoint.running
        False
    """

    def __init__(
        self,
        name: str,
        process: subprocess.Popen[bytes],
        host: str,
        port: int,
        key: str | None,
        folder: Path,
        owned_folder: tempfile.TemporaryDirectory[str] | None,
        grace_s: float,
    ) -> None:
        self.name, self.process, self.host, self.port, self.folder = name, process, host, port, folder
        self._key, self._owned_folder, self._grace_s = key, owned_folder, grace_s
        # Stop the service even if delete() is never called (garbage collection or interpreter exit).
        self._finalizer = weakref.finalize(self, _stop, process, grace_s)

    @property
    def pid(self) -> int:
        """The service's process id."""
        return self.process.pid

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def scoring_uri(self) -> str:
        return f"{self.base_url}/score"

    @property
    def keys(self) -> list[str]:
        return [self._key] if self._key else []

    @property
    def running(self) -> bool:
        """True while the service process is alive."""
        return self.process.poll() is None

    def logs(self, lines: int = 200) -> str:
        path = self.folder / "service.log"
        if not path.is_file():
            return ""
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])

    def delete(self) -> None:
        self._close_client()
        self._finalizer()  # stops the process once; later calls do nothing
        if self._owned_folder is not None:
            self._owned_folder.cleanup()
            self._owned_folder = None

    def __repr__(self) -> str:
        state = "running" if self.running else f"stopped ({self.process.returncode})"
        return f"LocalEndpoint(name={self.name!r}, uri={self.scoring_uri!r}, pid={self.pid}, {state})"


def _exit_error(endpoint: LocalEndpoint) -> DeploymentError:
    """Why the service exited before it was ready: its own one-line ``error:`` (a bad model, URI or
    setting), else its log's end."""
    log, status = endpoint.logs(30), endpoint.process.returncode
    refusals = [line[len("error: ") :] for line in log.splitlines() if line.startswith("error: ")]
    if refusals:
        return DeploymentError(f"the service exited with status {status} before it was ready: {refusals[-1]}")
    return DeploymentError(f"the service exited with status {status} before it was ready. Its log:\n{log}")


class LocalDeployer(Deployer):
    """Runs ``python -m asl_recog.serving`` in a subprocess on a free loopback port and waits for ``/ready``.

    Args:
        host: interface to bind (loopback by default).
        port: TCP port; None picks a free one.
        auth: key authentication (a fresh random key per deployment, in ``endpoint.keys``).
        run_dir: where to keep the model, key file and log; None uses a temporary folder
            removed by ``delete()``.
        startup_timeout_s: how long to wait for ``/ready``.
        serve_args: extra command-line options for the service, e.g. ``["--max-batch", "64"]``.
        tracking_uri: the MLflow server of a registered model (``models:/NAME/VERSION`` or
            ``models:/NAME@ALIAS``); None reads ``$MLFLOW_TRACKING_URI``. The service downloads
            such a model itself, at start, as ``asl-recog serve models:/...`` does, so its ``/info``
            names the registered model and the version an alias resolved to.

    Example:
        >>> with LocalDeployer().deploy("runs/best.onnx") as endpoint:  # here a tiny KNN model
        ...     endpoint.predict(load_sign_mnist("test")[1:10])
        array([17, 22,  4,  3, 22, 22, 14,  3, 19])
    """

    target = "local"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        auth: bool = True,
        run_dir: str | os.PathLike[str] | None = None,
        startup_timeout_s: float = 60.0,
        serve_args: list[str] | None = None,
        grace_s: float = 10.0,
        tracking_uri: str | None = None,
    ) -> None:
        if startup_timeout_s <= 0:
            raise ConfigurationError("startup_timeout_s must be positive")
        self.host, self.port, self.auth = host, port, auth
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.startup_timeout_s, self.serve_args, self.grace_s = startup_timeout_s, list(serve_args or []), grace_s
        self.tracking_uri = tracking_uri

    def deploy(self, model: Model | str | os.PathLike[str], name: str | None = None) -> LocalEndpoint:
        name = endpoint_name(name)
        tracking = self._registry_tracking_uri(model)
        owned = tempfile.TemporaryDirectory(prefix=f"{name}-") if self.run_dir is None else None
        folder = Path(owned.name) if owned is not None else self.run_dir / name  # type: ignore[operator]
        try:
            folder.mkdir(parents=True, exist_ok=True)
            # A registered model is the service's to download: the same code path as asl-recog serve.
            served = str(model) if tracking is not None else str(onnx_file(model, folder)[0])
            try:
                return self._start(name, served, folder, owned, tracking)
            except DeploymentError as exc:
                # Another process may take the free port between our probe and the service's bind.
                if self.port is not None or "address already in use" not in str(exc).lower():
                    raise
                return self._start(name, served, folder, owned, tracking)
        except BaseException:
            if owned is not None:
                owned.cleanup()
            raise

    def _registry_tracking_uri(self, model: object) -> str | None:
        """For a ``models:/`` URI, the tracking URI the service will use (checked here, before a process starts)."""
        if not is_models_uri(model):
            return None
        return registry_tracking_uri(str(model), self.tracking_uri, "tracking_uri=")

    def _start(
        self,
        name: str,
        model: str,
        folder: Path,
        owned: tempfile.TemporaryDirectory[str] | None,
        tracking_uri: str | None,
    ) -> LocalEndpoint:
        port = self.port or free_port(self.host)
        command = [
            sys.executable,
            "-m",
            "asl_recog.serving",
            model,
            "--host",
            self.host,
            "--port",
            str(port),
            "--log-level",
            "warning",
            *self.serve_args,
        ]
        key = None
        if self.auth:
            key = generate_key()
            key_file = folder / "api_key.txt"
            key_file.touch(mode=0o600)
            key_file.write_text(key + "\n", encoding="utf-8")
            command += ["--key-file", str(key_file)]
        else:
            command.append("--no-auth")
        # The tracking URI goes in the environment, not the command line: it may hold credentials.
        env = None if tracking_uri is None else {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri}
        with open(folder / "service.log", "ab") as log:
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        endpoint = LocalEndpoint(name, process, self.host, port, key, folder, None, self.grace_s)
        try:
            self._wait_ready(endpoint)
        except BaseException:
            endpoint.delete()  # stops the process; the folder is cleaned by deploy()
            raise
        endpoint._owned_folder = owned
        return endpoint

    def _wait_ready(self, endpoint: LocalEndpoint) -> None:
        import httpx

        deadline = time.monotonic() + self.startup_timeout_s
        delay = 0.05
        with httpx.Client(timeout=2.0) as client:
            while True:
                if not endpoint.running:
                    raise _exit_error(endpoint)
                try:
                    if client.get(f"{endpoint.base_url}/ready").status_code == 200:
                        return
                except httpx.TransportError:
                    pass  # not listening yet
                if time.monotonic() > deadline:
                    raise DeploymentError(
                        f"the service was not ready within {self.startup_timeout_s:g} s. Its log:\n{endpoint.logs(30)}"
                    )
                time.sleep(delay)
                delay = min(delay * 1.5, 0.5)
