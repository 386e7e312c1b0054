"""Request ids, Prometheus request metrics and the opt-in structured access log: one ASGI middleware.

It is the outermost layer of the service, so the requests that the key check or the
size limit turn away are counted, carry an id and are logged like the others. The
work per request is O(1) and small (a header scan, a clock read, two dict look-ups,
a counter and a histogram): the service answers one image in about 0.3 ms and
this layer must not be a visible share of that (docs/benchmarks.md).
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import secrets
import sys
import time
from typing import Any

from asl_recog.serving._metrics import ServiceMetrics, route_of
from asl_recog.serving._security import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = b"x-request-id"
#: An id a client sends is echoed only when it is 1-200 visible ASCII characters: anything
#: else could forge log lines or headers downstream; such a request gets a new id instead.
_VALID_ID = re.compile(rb"[\x21-\x7e]{1,200}")
access_logger = logging.getLogger("asl_recog.serving.access")


class RequestIds:
    """New request ids: a random prefix per process and a counter.

    Cheaper than ``uuid4()`` (no system call per request) and still unique across
    restarts and replicas, which is what correlating log lines needs.

    Example:
        >>> ids = RequestIds()
        >>> first, second = ids.next(), ids.next()
        >>> first != second and first.split(b"-")[0] == second.split(b"-")[0]
        True
    """

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(6)
        self._counter = itertools.count(1)

    def next(self) -> bytes:
        """The next id, as header bytes, e.g. ``b"3f9a0c1b2d4e-17"``."""
        return f"{self._prefix}-{next(self._counter)}".encode()


class Observability:
    """ASGI middleware: echo or assign ``X-Request-ID``, record Prometheus request metrics and,
    when ``access_log`` is on, write one JSON access-log line per request.

    Args:
        app: the wrapped ASGI app.
        metrics: where requests are counted and timed (None: not recorded).
        access_log: log every request to the ``asl_recog.serving.access`` logger (off by
            default: formatting and writing a line costs a measurable share of a 0.3 ms request).

    Example:
        >>> from fastapi.testclient import TestClient
        >>> from asl_recog.serving import create_app
        >>> app = create_app("runs/best.onnx", auth=False)
        >>> reply = TestClient(app).get("/health", headers={"X-Request-ID": "abc-123"})
        >>> reply.headers["x-request-id"]
        'abc-123'
    """

    def __init__(self, app: ASGIApp, *, metrics: ServiceMetrics | None, access_log: bool = False) -> None:
        self.app, self.metrics, self.access_log = app, metrics, access_log
        self.ids = RequestIds()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = None
        for name, value in scope["headers"]:
            if name == REQUEST_ID_HEADER:
                request_id = value if _VALID_ID.fullmatch(value) else None
                break
        if request_id is None:
            request_id = self.ids.next()
        status = 500  # what the client gets if the app fails before answering
        header = (REQUEST_ID_HEADER, request_id)

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - start
            if self.metrics is not None:
                self.metrics.observe_request(route_of(scope["path"]), status, seconds)
            if self.access_log:
                _log_access(scope, request_id, status, seconds)


def _log_access(scope: Scope, request_id: bytes, status: int, seconds: float) -> None:
    client = scope.get("client")
    access_logger.info(
        json.dumps(
            {
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "request_id": request_id.decode(),
                "method": scope.get("method"),
                "path": scope["path"],
                "status": status,
                "duration_ms": round(seconds * 1000, 3),
                "client": f"{client[0]}:{client[1]}" if client else None,
            }
        )
    )


def enable_access_log(stream: Any = None) -> logging.Handler:
    """Send the access log's JSON lines to ``stream`` (default stdout), one per line, unformatted.

    ``asl-recog serve --access-log`` calls it; a program that configures logging itself
    can instead attach its own handler to the ``asl_recog.serving.access`` logger.
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access_logger.addHandler(handler)
    access_logger.setLevel(logging.INFO)
    access_logger.propagate = False  # the line is already complete; no second copy via the root logger
    return handler


__all__ = ["REQUEST_ID_HEADER", "Observability", "RequestIds", "access_logger", "enable_access_log"]
