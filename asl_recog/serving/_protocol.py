"""A deadline for the request head: uvicorn's HTTP protocol, wrapped.

uvicorn bounds the idle time between requests (keep-alive) but not the time a
client takes to send the request line and headers, so a client sending half a
header holds a connection as long as it likes, and a few hundred such clients
hold them all. ``--timeout`` cannot help: it starts when the app is called,
after the head is complete. The wrapped protocol starts a timer when a
connection opens and when the first byte of each later request arrives, stops
it once the head is parsed, and otherwise answers ``408`` (JSON, like every
error of the service) and closes the connection.
"""

from __future__ import annotations

import asyncio
from typing import Any

from asl_recog._errors import ConfigurationError
from asl_recog.serving._security import error_body

#: Seconds a client has to send a complete request head (request line and headers).
HEADER_TIMEOUT_S = 10.0


class _HeadDeadline:
    """Mixin over a uvicorn HTTP protocol class (httptools or h11): see the module docstring.

    Both implementations create ``self.cycle`` (a new request-response cycle) exactly when a
    request head is complete, so a cycle other than the one seen when the timer started means
    the head arrived.
    """

    head_timeout_s: float = HEADER_TIMEOUT_S
    _head_timer: asyncio.TimerHandle | None = None
    _cycle_at_start: Any = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._start_head_timer()

    def data_received(self, data: bytes) -> None:
        cycle = getattr(self, "cycle", None)
        if self._head_timer is None and (cycle is None or cycle.response_complete):
            self._start_head_timer()  # the first byte of a new request on a kept-alive connection
        super().data_received(data)  # type: ignore[misc]
        if self._head_timer is not None and getattr(self, "cycle", None) is not self._cycle_at_start:
            self._stop_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)  # type: ignore[misc]

    def _start_head_timer(self) -> None:
        self._cycle_at_start = getattr(self, "cycle", None)
        loop: asyncio.AbstractEventLoop = getattr(self, "loop", None) or asyncio.get_running_loop()
        self._head_timer = loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        transport = getattr(self, "transport", None)
        if transport is None or transport.is_closing() or getattr(self, "cycle", None) is not self._cycle_at_start:
            return
        body = error_body(
            "header_timeout",
            f"the request head (request line and headers) was not complete within "
            f"{self.head_timeout_s:g} s; send it at once",
        )
        transport.write(
            b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body)
        )
        transport.close()


def with_head_deadline(seconds: float = HEADER_TIMEOUT_S, base: type | None = None) -> type:
    """uvicorn's HTTP protocol class (``base``, default the one uvicorn picks: httptools, else h11)
    with a deadline of ``seconds`` for each request head; pass it as ``uvicorn.run(..., http=...)``.

    Example:
        >>> protocol = with_head_deadline(10.0)  # then: uvicorn.run(app, http=protocol)
        >>> protocol.__name__
        'HeadDeadlineHttpToolsProtocol'
    """
    if not seconds > 0:
        raise ConfigurationError(f"the header timeout must be positive, got {seconds!r}")
    if base is None:
        from uvicorn.protocols.http.auto import AutoHTTPProtocol

        base = AutoHTTPProtocol
    return type(f"HeadDeadline{base.__name__}", (_HeadDeadline, base), {"head_timeout_s": float(seconds)})
