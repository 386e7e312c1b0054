"""Memory bounded under batch load: a cap on scoring work, a bounded queue, and chunked scoring.

A 1024-image batch is cheap to send and dear to score: the nearest-neighbours graph
holds an ``images x stored rows`` distance matrix (and a few of its siblings): three
such requests at once take a KNN service from about 330 MB to over 2 GB.
Three things bound it:

* :class:`AdmissionGate` (ASGI middleware) lets at most ``max_concurrent`` large
  scoring requests in at once, before their bodies are read, and holds at most
  ``max_queue`` more in line; a request beyond that gets 503 with ``Retry-After``
  at once. A waiting request holds no body, only its headers.
* :class:`ChunkedModel` scores a batch ``chunk_rows`` images at a time, so the model's
  intermediates stay under a byte budget (``chunk_mb``) whatever the batch size.
* :func:`plan_limits` sizes both from the model: :func:`row_bytes` reads, from the ONNX
  graph's inferred shapes, how many bytes each image adds to the graph's tensors.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import asdict, dataclass
from typing import Any

import anyio
import numpy as np

from asl_recog._errors import ConfigurationError
from asl_recog.models._base import Model
from asl_recog.serving._security import ASGIApp, Receive, Scope, Send, send_error, send_json

logger = logging.getLogger("asl_recog.serving")

MIB = 2**20
#: What the requests being scored at once may spend: a 1 GB container, less the ~330 MiB a
#: service holding a large KNN starts at, less headroom for onnxruntime's arena rounding up.
SCORING_MEMORY_BYTES = 384 * MIB
#: A request's own memory besides the model's tensors: its body and the parsed images, counted
#: as twice the largest body (orjson's lists of small ints take about twice the body's bytes).
BODY_COPIES = 2
#: Default byte budget of one chunk's intermediates in the model.
DEFAULT_CHUNK_MB = 64.0
#: Rows per chunk when the model has no ONNX graph to size them from (an in-process model).
UNSIZED_CHUNK_ROWS = 256
#: Bodies up to this size are scored on the event loop without a slot (see _app.py); larger
#: ones, and bodies of unknown length, take one.
GATED_BODY_BYTES = 256 * 1024
#: What ``Retry-After`` says: one large batch is scored in well under a second (docs/benchmarks.md).
RETRY_AFTER_S = 1


def row_bytes(model: Model) -> int | None:
    """Bytes each image adds to an ONNX model's tensors, from the graph's inferred shapes; None without a graph.

    Every tensor whose first dimension is the batch counts in full, as if none of them
    shared memory: an upper bound (onnxruntime reuses some buffers: on the large KNN of
    docs/benchmarks.md a 53-image chunk peaked at 0.85 of this, ``bench/bench_onnx_arena.py``).

    Example:
        >>> row_bytes(OnnxModel.load("runs/best.onnx"))  # a KNN of 300 stored images: a few rows of 300 distances
        16164
    """
    graph = getattr(model, "onnx_bytes", None)
    if not isinstance(graph, bytes):
        return None
    import onnx
    from onnx.helper import tensor_dtype_to_np_dtype

    proto = onnx.shape_inference.infer_shapes(onnx.load_from_string(graph))
    total = 0
    for value in (*proto.graph.input, *proto.graph.value_info, *proto.graph.output):
        if not value.type.HasField("tensor_type") or not value.type.tensor_type.HasField("shape"):
            continue  # sequences and maps (a ZipMap): their size is their rows' probabilities, counted before
        tensor = value.type.tensor_type
        dims = tensor.shape.dim
        if not dims or dims[0].HasField("dim_value"):
            continue  # a fixed size: a constant, not per image
        rest = [d.dim_value for d in dims[1:]]
        if not all(d > 0 for d in rest):
            continue  # a second free dimension: unknown before the run, not counted
        try:
            itemsize = np.dtype(tensor_dtype_to_np_dtype(tensor.elem_type)).itemsize
        except (KeyError, TypeError, ValueError):
            continue  # strings and other types without a fixed size
        total += math.prod(rest) * itemsize
    return total or None


@dataclass(frozen=True)
class ScoringLimits:
    """How much scoring work the service takes on at once.

    Attributes:
        max_concurrent: large requests read and scored at once.
        max_queue: large requests waiting for a slot; beyond them, 503.
        chunk_rows: images per model call.
        row_bytes: bytes per image in the model's tensors (None: the model has no graph to read).
        chunk_mb: the byte budget (MiB) of one chunk's tensors the chunks were sized from.
    """

    max_concurrent: int
    max_queue: int
    chunk_rows: int
    row_bytes: int | None
    chunk_mb: float

    def as_dict(self) -> dict[str, Any]:
        """The limits as JSON values, for ``GET /info``."""
        return asdict(self)


def plan_limits(
    model: Model,
    *,
    max_batch: int,
    max_body_bytes: int,
    max_concurrent: int | None = None,
    max_queue: int | None = None,
    chunk_mb: float = DEFAULT_CHUNK_MB,
) -> ScoringLimits:
    """The service's scoring limits for ``model``: given settings, the rest sized from the model.

    ``chunk_rows`` is as many images as fit ``chunk_mb`` of the model's tensors. By default
    ``max_concurrent`` is as many requests, each a full body and a full chunk, as fit
    :data:`SCORING_MEMORY_BYTES`, and no more than the CPU cores (more would only wait for
    a core while holding memory); ``max_queue`` is twice ``max_concurrent``.

    Raises:
        ConfigurationError: a setting that is not a positive number (``max_queue`` may be 0).

    Example:
        >>> limits = plan_limits(OnnxModel.load("runs/best.onnx"), max_batch=1024,
        ...                      max_body_bytes=16 * 2**20, max_concurrent=2, chunk_mb=1)
        >>> limits.max_concurrent, limits.max_queue, limits.chunk_rows
        (2, 4, 64)
    """
    for name, value in (("max_concurrent", max_concurrent), ("max_queue", max_queue)):
        if value is not None and (type(value) is not int or value < (0 if name == "max_queue" else 1)):
            raise ConfigurationError(
                f"{name} must be a whole number >= {0 if name == 'max_queue' else 1}, got {value!r}"
            )
    if not (isinstance(chunk_mb, (int, float)) and math.isfinite(chunk_mb) and chunk_mb > 0):
        raise ConfigurationError(f"chunk_mb must be a positive number of MiB, got {chunk_mb!r}")
    per_row = row_bytes(model)
    if per_row is None:
        rows = min(max_batch, UNSIZED_CHUNK_ROWS)
        logger.info("the model has no ONNX graph to size chunks from; scoring %d images per call", rows)
        chunk_bytes = int(chunk_mb * MIB)
    else:
        rows = max(1, min(max_batch, int(chunk_mb * MIB) // per_row))
        chunk_bytes = rows * per_row
    if max_concurrent is None:
        per_request = BODY_COPIES * max_body_bytes + chunk_bytes
        max_concurrent = max(1, min(os.cpu_count() or 1, SCORING_MEMORY_BYTES // per_request))
    if max_queue is None:
        max_queue = 2 * max_concurrent
    return ScoringLimits(max_concurrent, max_queue, rows, per_row, float(chunk_mb))


class ChunkedModel(Model):
    """A model scored ``rows`` images per call, so that its tensors stay bounded whatever the batch.

    The answers are the wrapped model's: each image is scored on its own row of the graph.
    Every other attribute is the wrapped model's.

    Example:
        >>> model = OnnxModel.load("runs/best.onnx")
        >>> chunked = ChunkedModel(model, rows=16)
        >>> bool(np.array_equal(chunked.predict_proba(test[:50]), model.predict_proba(test[:50])))
        True
    """

    def __init__(self, model: Model, rows: int) -> None:
        super().__init__()
        if rows < 1:
            raise ConfigurationError(f"rows must be >= 1, got {rows!r}")
        self.model, self.rows = model, rows
        self.params, self.info = model.params, model.info  # the same dicts: one truth

    def predict_proba(self, images: Any) -> np.ndarray:
        """The wrapped model's probabilities, ``rows`` images per call."""
        count = len(images)
        if count <= self.rows:
            return self.model.predict_proba(images)
        return np.concatenate(
            [np.asarray(self.model.predict_proba(images[i : i + self.rows])) for i in range(0, count, self.rows)]
        )

    def save(self, path: str | os.PathLike[str]) -> Any:
        """Save the wrapped model."""
        return self.model.save(path)

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes ChunkedModel lacks: metadata, source, onnx_bytes, ...
        return getattr(self.__dict__["model"], name)


def _is_scoring(path: str) -> bool:
    return path == "/score" or (path.startswith("/v2/models/") and path.endswith("/infer"))


class AdmissionGate:
    """ASGI middleware: at most ``max_concurrent`` large scoring requests at once, ``max_queue`` waiting.

    A large request is a ``POST /score`` or ``/v2/models/{name}/infer`` whose body is over
    :data:`GATED_BODY_BYTES` or of unknown length. It takes a slot of an
    :class:`anyio.CapacityLimiter` before its body is read and keeps it until its answer
    is sent. Beyond the queue it gets 503 with ``Retry-After`` (the service's JSON error,
    or the protocol's ``{"error"}`` under ``/v2``). Smaller requests pass untouched.

    Args:
        app: the wrapped ASGI app.
        limiter: its tokens are the slots (``ScoringLimits.max_concurrent`` of them).
        max_queue: requests that may wait for a slot.
    """

    def __init__(self, app: ASGIApp, *, limiter: anyio.CapacityLimiter, max_queue: int) -> None:
        self.app, self.limiter, self.max_queue = app, limiter, max_queue

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not _is_scoring(scope["path"]):
            await self.app(scope, receive, send)
            return
        length = next((value for name, value in scope["headers"] if name == b"content-length"), None)
        if length is not None and length.isdigit() and int(length) <= GATED_BODY_BYTES:
            await self.app(scope, receive, send)
            return
        stats = self.limiter.statistics()
        # No await between this check and the acquire below, so no other request can slip in between.
        if stats.borrowed_tokens >= stats.total_tokens and stats.tasks_waiting >= self.max_queue:
            detail = (
                f"the service is scoring {stats.borrowed_tokens} large requests with {stats.tasks_waiting} "
                f"waiting, its limit; retry after {RETRY_AFTER_S} s"
            )
            headers = [(b"retry-after", str(RETRY_AFTER_S).encode())]
            if scope["path"].startswith("/v2/"):
                await _send_v2_error(send, 503, detail, headers)
            else:
                await send_error(send, 503, "overloaded", detail, headers)
            return
        async with self.limiter:
            await self.app(scope, receive, send)


async def _send_v2_error(send: Send, status: int, message: str, headers: list[tuple[bytes, bytes]]) -> None:
    await send_json(send, status, json.dumps({"error": message}).encode(), headers)  # the protocol's error form


__all__ = [
    "DEFAULT_CHUNK_MB",
    "GATED_BODY_BYTES",
    "RETRY_AFTER_S",
    "SCORING_MEMORY_BYTES",
    "AdmissionGate",
    "ChunkedModel",
    "ScoringLimits",
    "plan_limits",
    "row_bytes",
]
