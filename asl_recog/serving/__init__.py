"""The asl_recog scoring service: a FastAPI app over an ONNX model, run with uvicorn.

FastAPI, uvicorn and onnxruntime load only when :func:`create_app` or
:func:`run` is first called, so importing this package stays cheap.

Example:
    >>> from asl_recog.serving import create_app, run
    >>> app = create_app("runs/best.onnx", api_key="s3cret")  # an ASGI app, e.g. for TestClient
    >>> type(app).__name__
    'FastAPI'

    ``run("runs/best.onnx", host="127.0.0.1", port=8000)`` serves it with uvicorn; it blocks
    until Ctrl-C, so it is not run here. Both take a registered model too,
    ``create_app("models:/asl-letters@champion", tracking_uri="http://127.0.0.1:5000")``: its ONNX
    file is downloaded in a child process, so MLflow never loads into the service (docs/registry.md).

Command line: ``python -m asl_recog.serving MODEL --port 8000`` (or ``asl-recog serve``); it prints
the address of the service's web page (``GET /``), where a person can try the model from a browser.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, Any

from asl_recog._deprecation import warn_renamed

if TYPE_CHECKING:  # pragma: no cover
    from fastapi import FastAPI

    from asl_recog.models._base import Model

__all__ = ["create_app", "run"]

#: The deployers and the client moved to asl_recog.deploy in 0.2.0; their old names here still work,
#: with a FutureWarning, until 0.4.0.
_MOVED_TO_DEPLOY = (
    "AzureDeployer",
    "AzureMLDeployer",
    "Deployer",
    "Endpoint",
    "EndpointError",
    "LocalDeployer",
    "LocalEndpoint",
    "RemoteEndpoint",
)


def __getattr__(name: str) -> Any:
    if name not in _MOVED_TO_DEPLOY:
        raise AttributeError(f"module 'asl_recog.serving' has no attribute {name!r}")
    warn_renamed(f"asl_recog.serving.{name}", f"asl_recog.deploy.{name}")
    # Imported by name, not by an import statement: asl_recog.deploy imports this package (it runs
    # the service and ships its request parser), and the import contracts keep that one way.
    return getattr(importlib.import_module("asl_recog.deploy"), name)


def create_app(model: str | os.PathLike[str] | Model, **options: Any) -> FastAPI:
    """Build the scoring service (a FastAPI app) over a model.

    ``model`` is an ``.onnx`` file, a registered ONNX model (``models:/NAME/VERSION`` or
    ``models:/NAME@ALIAS``, with ``tracking_uri=`` or ``$MLFLOW_TRACKING_URI``), or a loaded Model.
    Options: ``tracking_uri``, ``api_key``, ``key_file``, ``auth``, ``max_batch``, ``max_body_bytes``,
    ``timeout_s``, ``threads``, ``access_log``, ``metrics``, ``max_concurrent``, ``max_queue``,
    ``chunk_mb``; see :func:`asl_recog.serving._app.create_app`.
    """
    from asl_recog.serving._app import create_app as _create_app

    return _create_app(model, **options)


def _page_address(host: str, port: int) -> str:
    """The address to open in a browser for a service listening on ``host:port``.

    Example:
        >>> _page_address("0.0.0.0", 8000), _page_address("::1", 9000)
        ('http://127.0.0.1:8000/', 'http://[::1]:9000/')
    """
    # A wildcard address listens everywhere but cannot be opened; this machine's loopback can.
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"


def _check_port(host: str, port: int) -> None:
    """Refuse a port another process listens on, before anything is printed (uvicorn would say so last)."""
    import socket

    from asl_recog._errors import ConfigurationError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no refusal
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigurationError(
                f"cannot listen on {host}:{port} ({exc.strerror or exc}); another process may be using the port: "
                "choose another with --port (or stop that process)"
            ) from exc


def run(
    model: str | os.PathLike[str] | Model,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "info",
    access_log: bool = False,
    header_timeout_s: float = 10.0,
    tracking_uri: str | None = None,
    **options: Any,
) -> None:
    """Serve ``model`` with one uvicorn worker until interrupted; prints the page's address first.

    Args:
        model: an ``.onnx`` file (the only file format served: it holds no code), a registered ONNX
            model (``models:/NAME/VERSION`` or ``models:/NAME@ALIAS``: downloaded once, at start, in a
            child process, so MLflow never loads into the service; the start-up line and ``/info``
            name the version an alias resolved to), or a loaded Model.
        host: the interface to listen on; 127.0.0.1 keeps the service local.
        port: the TCP port.
        log_level: uvicorn's log level.
        access_log: write one JSON line per request (with its ``X-Request-ID``) to stdout
            (off by default: a line per request costs a measurable share of a 0.3 ms request).
        header_timeout_s: seconds a client has to send a complete request head; after it
            the connection gets 408 and is closed.
        tracking_uri: the MLflow server of a ``models:/`` URI; None reads ``$MLFLOW_TRACKING_URI``.
        **options: passed to :func:`create_app` (``api_key``, ``key_file``, ``auth``,
            ``max_batch``, ``max_body_bytes``, ``timeout_s``, ``threads``, ``metrics``,
            ``max_concurrent``, ``max_queue``, ``chunk_mb``).
    """
    import uvicorn

    from asl_recog.serving._observability import enable_access_log
    from asl_recog.serving._protocol import with_head_deadline

    http = with_head_deadline(header_timeout_s)  # checked before the model loads
    _check_port(host, port)  # before the model loads and a key is printed: a busy port fails first
    app = create_app(model, tracking_uri=tracking_uri, access_log=access_log, **options)
    if access_log:
        enable_access_log()
    # uvicorn's own access log stays off: the service's structured line replaces it.
    print(
        f"asl-recog serve: open {_page_address(host, port)} in a browser to try the model", file=sys.stderr, flush=True
    )
    uvicorn.run(
        app, host=host, port=port, workers=1, log_level=log_level, access_log=False, server_header=False, http=http
    )
