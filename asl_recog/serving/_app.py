"""The FastAPI scoring service over an ONNX model."""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from asl_recog._errors import ConfigurationError, DataFormatError, ModelFileError
from asl_recog._version import __version__
from asl_recog.data._labels import LABELS, LETTERS, NUM_CLASSES
from asl_recog.models._base import Model
from asl_recog.serving._admission import DEFAULT_CHUNK_MB, AdmissionGate, ChunkedModel, ScoringLimits, plan_limits
from asl_recog.serving._answers import model_threshold
from asl_recog.serving._endpoints import (
    METRICS,
    PUBLIC_PATHS,
    PUBLIC_PREFIXES,
    Endpoint,
    Handler,
    add_endpoints,
    docs_settings,
    openapi_document,
)
from asl_recog.serving._metrics import ServiceMetrics, TimedModel, metrics_handler
from asl_recog.serving._observability import Observability
from asl_recog.serving._offload import ParsePool
from asl_recog.serving._requests import SHAPES, RequestError
from asl_recog.serving._security import ServiceGuard, announce_generated_key, error_body, resolve_keys
from asl_recog.serving._service import ServiceEndpoints, json_response
from asl_recog.serving._source import load_served_model
from asl_recog.serving._v2 import V2Error, error_response
from asl_recog.serving._v2_endpoints import V2Endpoints

logger = logging.getLogger("asl_recog.serving")


def _error(
    status: int, code: str, detail: str, where: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    return Response(error_body(code, detail, where), status_code=status, media_type="application/json", headers=headers)


def _telemetry_off() -> dict[str, Any]:
    """FastAPI >= 0.160 checks for OpenTelemetry providers on every request (~10% of a
    small request's time); the service has no telemetry of its own, so it opts out."""
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters:
        return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    return {}


def _check_model(model: Model, source: str) -> None:
    """One prediction on a known input before the service can become ready (and a warm session after).

    A model whose answer does not have one row of 24 finite probabilities would fail every
    request with a 500; it is refused here instead, so the port never opens and /ready never says ready.
    """
    try:
        proba = np.asarray(model.predict_proba(np.zeros((1, 28, 28), dtype=np.uint8)))
    except ModelFileError:
        raise
    except Exception as exc:  # a model object of any kind: its errors are not ours to know
        raise ModelFileError(
            f"{source}: the model fails its start-up prediction on a blank image "
            f"({type(exc).__name__}: {exc}); the service will not start with it"
        ) from exc
    finite = np.issubdtype(proba.dtype, np.number) and bool(np.isfinite(proba).all())
    if proba.shape != (1, NUM_CLASSES) or not finite:
        got = f"shape {proba.shape}" + ("" if finite else " with NaN, infinite or non-numeric values")
        raise ModelFileError(
            f"{source}: the model's start-up prediction has {got}; the service needs (1, "
            f"{NUM_CLASSES}) finite probabilities, one per letter {''.join(LETTERS)}. "
            "Fix: re-export the model with asl_recog.export_onnx"
        )


def _public_metadata(model: Model) -> dict[str, Any]:
    meta = dict(getattr(model, "metadata", None) or {"params": model.params, "info": model.info})
    meta.pop("RawColumnNameToOnnxNameMap", None)  # 784 entries of AutoML plumbing
    meta.pop("asl_recog.sha256", None)
    return json.loads(json.dumps(meta, default=str))  # anything odd becomes a string


def create_app(
    model: str | os.PathLike[str] | Model,
    *,
    tracking_uri: str | None = None,
    api_key: str | list[str] | None = None,
    key_file: str | os.PathLike[str] | None = None,
    auth: bool = True,
    max_batch: int = 1024,
    max_body_bytes: int = 16 * 1024 * 1024,
    timeout_s: float = 30.0,
    threads: int = 1,
    access_log: bool = False,
    metrics: bool = True,
    max_concurrent: int | None = None,
    max_queue: int | None = None,
    chunk_mb: float = DEFAULT_CHUNK_MB,
) -> FastAPI:
    """Build the scoring service over a model (an ``.onnx`` path or a registered ONNX model, run with
    onnxruntime, or a loaded Model).

    Endpoints: ``POST /score``, ``GET /info`` (model metadata), ``GET /health``,
    ``GET /ready``, ``GET /metrics`` (Prometheus), ``GET /openapi.json``, ``/docs`` and
    ``/redoc`` (served from installed files, no CDN), the Open Inference Protocol
    (KServe V2) under ``/v2``, and ``GET /``: a web page to try the model (public, like
    its static files). Every error is a JSON object ``{"error", "detail", "where"}``
    (``{"error"}`` alone under ``/v2``, as that protocol specifies). Every answer carries
    an ``X-Request-ID`` header: the client's, or a new one.

    Args:
        model: the model file, a registered model (``models:/NAME/VERSION`` or ``models:/NAME@ALIAS``,
            downloaded once, here, without loading MLflow into this process; ``/info``'s ``registry``
            names the version an alias resolved to), or a loaded :class:`Model`. Loaded (and run
            once) here, so a bad file fails before the server starts.
        tracking_uri: the MLflow server of a ``models:/`` URI; None reads ``$MLFLOW_TRACKING_URI``.
        api_key: accepted key(s); else ``key_file``, else ``$ASL_RECOG_API_KEY``,
            else one is generated and printed once (it is in ``app.state.api_keys``).
        key_file: a file holding the key (one per line).
        auth: False switches key authentication off.
        max_batch: the most images per request (more gives 413).
        max_body_bytes: the largest body (413 beyond it, enforced while reading).
        timeout_s: longest time to read and score one request (504 beyond it).
        threads: threads that score parts of a large batch at once (OnnxModel's ``threads``).
        access_log: write one JSON line per request, with its request id, to the
            ``asl_recog.serving.access`` logger (off by default: it costs throughput).
        metrics: serve Prometheus metrics at ``GET /metrics`` and record them per request
            (on by default; off removes the route, for deployments that observe elsewhere).
        max_concurrent: large requests (bodies over 256 KiB) read and scored at once; default
            sized from the model and the CPU cores (see ``_admission.plan_limits``).
        max_queue: large requests waiting for a slot (default twice ``max_concurrent``);
            beyond them the service answers 503 with ``Retry-After``.
        chunk_mb: byte budget (MiB) of the model's tensors per call: a batch is scored in
            chunks of as many images as fit it, read from the ONNX graph's shapes.

    Example:
        >>> from fastapi.testclient import TestClient
        >>> app = create_app("runs/best.onnx", api_key="s3cret")
        >>> pixels = test.images[3].ravel().tolist()  # one 28x28 image as 784 values, 0-255
        >>> TestClient(app).post("/score", json={"data": [pixels]},
        ...                      headers={"Authorization": "Bearer s3cret"}).json()
        {'result': [4], 'letters': ['E']}
    """
    _check_positive(max_batch=max_batch, max_body_bytes=max_body_bytes, timeout_s=timeout_s, threads=threads)
    served = load_served_model(model, threads=threads, tracking_uri=tracking_uri)
    loaded, source = served.model, served.source
    _check_model(loaded, source)
    threshold = model_threshold(getattr(loaded, "metadata", None), source)
    # After the model's checks: a key is printed only for a service that will start.
    keys = _accepted_keys(api_key, key_file) if auth else None
    limits = plan_limits(
        loaded,
        max_batch=max_batch,
        max_body_bytes=max_body_bytes,
        max_concurrent=max_concurrent,
        max_queue=max_queue,
        chunk_mb=chunk_mb,
    )
    registry = served.registry.as_info() if served.registry is not None else None
    metadata = _service_metadata(
        loaded,
        source,
        registry,
        threshold,
        limits,
        auth,
        max_batch=max_batch,
        max_body_bytes=max_body_bytes,
        timeout_s=timeout_s,
    )
    # Every route's model calls are chunked: a 1024-image batch never holds more than
    # chunk_mb of the model's tensors (a KNN's distances to every stored row).
    loaded = ChunkedModel(loaded, limits.chunk_rows)
    recorder = ServiceMetrics() if metrics else None
    if recorder is not None:
        loaded = TimedModel(loaded, recorder)  # every route's model calls are timed into /metrics
    parse_pool = ParsePool()  # large bodies are parsed in a child process: see _offload.py

    app = _new_app(parse_pool)
    app.state.model, app.state.api_keys, app.state.metadata = loaded, keys, metadata
    app.state.metrics, app.state.scoring_limits = recorder, limits
    app.state.scoring_slots = anyio.CapacityLimiter(limits.max_concurrent)
    _add_layers(app, keys, limits, recorder, max_body_bytes=max_body_bytes, timeout_s=timeout_s, access_log=access_log)
    _add_error_handlers(app)
    service = ServiceEndpoints(loaded, metadata, threshold=threshold, max_batch=max_batch, parse_pool=parse_pool)
    version = served.registry.version if served.registry is not None else None
    v2 = V2Endpoints(max_batch=max_batch, max_answer_bytes=max_body_bytes, parse_pool=parse_pool, model_version=version)
    handlers: dict[Endpoint, Handler] = {**service.handlers(), **v2.handlers()}
    if recorder is not None:
        handlers[METRICS] = metrics_handler(recorder)
    add_endpoints(app, handlers, leave_out=() if recorder is not None else (METRICS,))
    app.openapi = _openapi(app, max_batch, auth)  # type: ignore[method-assign]
    return app


def _check_positive(**settings: float) -> None:
    for name, value in settings.items():
        if not value > 0:
            raise ConfigurationError(f"{name} must be positive, got {value!r}")


def _accepted_keys(api_key: str | list[str] | None, key_file: str | os.PathLike[str] | None) -> list[str]:
    """The API keys the service accepts; a key generated here is printed once, for the operator."""
    keys, generated = resolve_keys(api_key, key_file)
    if generated:
        announce_generated_key(keys[0])
    return keys


def _add_layers(
    app: FastAPI,
    keys: list[str] | None,
    limits: ScoringLimits,
    recorder: ServiceMetrics | None,
    *,
    max_body_bytes: int,
    timeout_s: float,
    access_log: bool,
) -> None:
    """The three ASGI middlewares, outermost last (Starlette wraps each new one around the others)."""
    # Innermost: unauthenticated and oversized requests are refused before they take a slot,
    # and the guard's timeout covers the wait in the queue.
    app.add_middleware(AdmissionGate, limiter=app.state.scoring_slots, max_queue=limits.max_queue)
    app.add_middleware(
        ServiceGuard,
        keys=keys,
        max_body_bytes=max_body_bytes,
        timeout_s=timeout_s,
        public_paths=PUBLIC_PATHS,
        public_prefixes=PUBLIC_PREFIXES,
    )
    app.add_middleware(Observability, metrics=recorder, access_log=access_log)  # outermost: sees every answer


def _openapi(app: FastAPI, max_batch: int, auth: bool) -> Callable[[], dict[str, Any]]:
    """``app.openapi``: FastAPI's document completed from the endpoint table, built once."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_document(FastAPI.openapi(app), max_batch, auth)
        return app.openapi_schema

    return openapi


def _service_metadata(
    model: Model,
    source: str,
    registry: dict[str, Any] | None,
    threshold: float | None,
    limits: ScoringLimits,
    auth: bool,
    **inputs: Any,
) -> dict[str, Any]:
    """The ``/info`` answer: the service, the input it takes (``inputs``: its size limits) and the model
    (``registry``: the registry entry it was downloaded from, with the version an alias resolved to; else None)."""
    return {
        "service": "asl-recog",
        "version": __version__,
        "model": source,
        "registry": registry,
        "letters": list(LETTERS),
        "labels": list(LABELS),
        "input": {
            "format": "28x28 grayscale images: pixel1..pixel784 row by row, whole numbers 0-255",
            "json_shapes": sorted(set(SHAPES.values())),
            "uploads": ["multipart PNG/JPEG", "image/png", "image/jpeg"],
            "photos": "cut to the square around the hand that MediaPipe's palm detector finds, else the centre "
            "square; ?crop=x,y,w,h gives the box, ?find_hand=false takes the centre square",
            **inputs,
        },
        "auth": "bearer" if auth else "none",
        "unknown_threshold": threshold,
        "scoring_limits": limits.as_dict(),
        "model_metadata": _public_metadata(model),
    }


def _new_app(parse_pool: ParsePool) -> FastAPI:
    """The bare app: its title, FastAPI's documentation routes where the endpoint table puts them, and a
    lifespan that closes ``parse_pool`` at shutdown."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        parse_pool.close()

    # FastAPIOffline: Swagger UI and ReDoc from the files fastapi-offline installs, not a CDN.
    return FastAPIOffline(
        lifespan=lifespan,
        title="asl-recog scoring service",
        version=__version__,
        description="Static ASL fingerspelling recognition (Sign Language MNIST, letters A-Y without J). "
        "POST images to /score; see docs/serving.md.",
        **docs_settings(),
        **_telemetry_off(),
    )


def _add_error_handlers(app: FastAPI) -> None:
    """Every error becomes ``{"error", "detail", "where"}`` JSON (the V2 routes' the protocol's
    ``{"error"}``); unexpected ones are logged."""

    app.add_exception_handler(V2Error, error_response)  # type: ignore[arg-type]

    @app.exception_handler(RequestError)
    async def request_error(request: Request, exc: RequestError) -> Response:
        return json_response(exc.to_dict(), exc.status)

    @app.exception_handler(DataFormatError)
    async def data_error(request: Request, exc: DataFormatError) -> Response:
        return _error(422, "invalid_input", str(exc), exc.source)

    @app.exception_handler(ClientDisconnect)
    async def disconnected(request: Request, exc: ClientDisconnect) -> Response:
        # The client left mid-body: nobody reads this answer, and it is no server error.
        return _error(400, "client_disconnected", "the client closed the connection before the body was read")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        codes = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
        return _error(
            exc.status_code,
            codes.get(exc.status_code, "http_error"),
            str(exc.detail),
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("unexpected error while serving %s %s", request.method, request.url.path)
        return _error(
            500, "internal_error", f"unexpected {type(exc).__name__} while scoring; the server log has the details"
        )
