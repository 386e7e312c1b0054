"""Large request bodies parsed in a child process, so that ``/health`` answers while they are read.

A thread is not enough: orjson's ``loads`` and numpy's ``asarray`` over nested lists are single C
calls that hold the GIL for their whole run. A 3 MB V2 body of 1024 nested 28x28x1 images took
0.42 s to decode and 0.25 s to turn into an array on the 2-core machine, and ``/health`` stalled
0.85-1.1 s whether the parse ran on the event loop or in a thread (measured side by side with
real uvicorn servers). A child process has its own GIL. The standard library's
:class:`~concurrent.futures.ProcessPoolExecutor` runs it; this module only decides when and
keeps one per service.

Only bodies over :data:`INLINE_BODY_BYTES` go there: below that,
the round trip (pickling the body and the parsed images) would cost more than the parse. The
child is spawned on the first large body and lives until the service shuts down. Where a child
cannot be started (a service built from a script read on standard input, which ``spawn`` cannot
re-import), large bodies are parsed in a thread instead and the log says why, once.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

logger = logging.getLogger("asl_recog.serving")
T = TypeVar("T")
#: Work above these sizes leaves the event loop (a child process for bodies, a thread for
#: inference), so one big request cannot stall the others (``/health`` included); below them the
#: hop would cost more than the work. One home for both, since ``/score`` and the V2 route apply
#: the same rule.
INLINE_BODY_BYTES = 256 * 1024
INLINE_IMAGES = 64


class ParsePool:
    """One child process that parses large bodies for a service (see the module's notes).

    ``function`` must be a module-level function of a module the child can import, and its
    errors must survive pickling (``RequestError`` and ``V2Error`` do).

    Example:
        >>> import asyncio, json
        >>> from asl_recog.serving._requests import parse_json
        >>> pool = ParsePool()
        >>> body = json.dumps({"data": [[0] * 784]}).encode()
        >>> asyncio.run(pool.run(parse_json, body, max_batch=8)).images.shape
        (1, 28, 28)
        >>> pool.close()
    """

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._broken: str | None = None
        self._lock = threading.Lock()

    def _executor(self) -> ProcessPoolExecutor | None:
        with self._lock:
            if self._pool is None and self._broken is None:
                # spawn, not fork: the service runs threads (onnxruntime, uvicorn), which fork would copy mid-state.
                self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
            return self._pool

    async def run(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``function(*args, **kwargs)`` in the child process (in a thread where no child can run)."""
        call = functools.partial(function, *args, **kwargs)
        pool = self._executor()
        if pool is not None:
            try:
                return await asyncio.get_running_loop().run_in_executor(pool, call)
            except BrokenProcessPool as exc:
                self._give_up(f"the parsing process could not run ({exc})")
        return await run_in_threadpool(call)

    def _give_up(self, why: str) -> None:
        with self._lock:
            if self._broken is None:
                self._broken = why
                logger.warning(
                    "%s; large request bodies are parsed in a thread from now on, so /health may wait while "
                    "one is read. Start the service with `asl-recog serve` or `python -m asl_recog.serving`, "
                    "or from a script file, so the process can be spawned.",
                    why,
                )
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the child process (the service's shutdown calls this)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


__all__ = ["ParsePool"]
