"""Prometheus metrics of the scoring service, through ``prometheus-client``.

Every app gets its own :class:`~prometheus_client.CollectorRegistry` (tests and
notebooks build many apps in one process; the library's global registry would
refuse the second one's metrics). What is recorded per request is O(1): the
labelled children are looked up in a dict built once, and a histogram observation
walks a dozen buckets: about 6 microseconds per request here, against a ~0.35 ms
request (docs/benchmarks.md, ``bench/bench_serve.py --metrics-cost``).

Metrics (all prefixed ``asl_recog_``):

* ``requests_total{route, status}``: HTTP requests by endpoint (its path or path template,
  from ``_endpoints.ENDPOINTS``; ``other`` for any other path) and status code.
* ``request_duration_seconds{route}``: time from the request's arrival at the
  service to the end of its response, a histogram.
* ``inference_duration_seconds``: time inside the model's ``predict_proba``.
* ``batch_size``: images per model call.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from asl_recog.models._base import Model
from asl_recog.serving._endpoints import ENDPOINTS

#: The label of every request whose path is not an endpoint's: one series for all of them, so
#: that scanners probing random paths cannot make the number of series grow without bound.
OTHER = "other"
#: The route labels, one per endpoint of the table (``_endpoints.ENDPOINTS``), in its order.
ROUTES: tuple[str, ...] = tuple(dict.fromkeys(e.metric_label for e in ENDPOINTS))
# Exact paths are one dict look-up (the hot path: /score); templates and folders are tried after.
_EXACT = {e.path: e.metric_label for e in ENDPOINTS if not e.prefix and not e.templated}
_PATTERNS = tuple(e for e in ENDPOINTS if e.prefix or e.templated)
_LATENCY_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


def route_of(path: str) -> str:
    """The label a request path is counted under: its endpoint's, else :data:`OTHER`.

    Example:
        >>> route_of("/score"), route_of("/v2/models/asl-recog/infer"), route_of("/wp-admin")
        ('/score', '/v2/models/{name}/infer', 'other')
    """
    label = _EXACT.get(path)
    if label is not None:
        return label
    for endpoint in _PATTERNS:
        if endpoint.matches(path):
            return endpoint.metric_label
    return OTHER


class ServiceMetrics:
    """The service's Prometheus metrics, in a registry of their own.

    Example:
        >>> from prometheus_client.parser import text_string_to_metric_families
        >>> metrics = ServiceMetrics()
        >>> metrics.observe_request("/score", 200, 0.0004)
        >>> metrics.observe_inference(3, 0.0001)
        >>> text = metrics.render().decode()
        >>> [s.value for f in text_string_to_metric_families(text) if f.name == "asl_recog_requests"
        ...  for s in f.samples if s.labels == {"route": "/score", "status": "200"}]
        [1.0]
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "asl_recog_requests", "HTTP requests by route and status code", ["route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "asl_recog_request_duration_seconds",
            "Time from a request's arrival to the end of its response",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.inference = Histogram(
            "asl_recog_inference_duration_seconds",
            "Time inside the model's predict_proba, per call",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch = Histogram(
            "asl_recog_batch_size", "Images per model call", buckets=_BATCH_BUCKETS, registry=self.registry
        )
        # prometheus-client's labels() takes a lock and builds a tuple on every call;
        # the children are cached here once per (route, status) instead.
        self._counters: dict[tuple[str, int], Any] = {}
        self._latencies = {route: self.latency.labels(route) for route in (*ROUTES, OTHER)}

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        """Count one finished request and record its duration."""
        key = (route, status)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = self.requests.labels(route, str(status))
        counter.inc()
        self._latencies[route].observe(seconds)

    def observe_inference(self, batch: int, seconds: float) -> None:
        """Record one model call: its batch size and how long it took."""
        self.inference.observe(seconds)
        self.batch.observe(batch)

    def render(self) -> bytes:
        """The metrics in Prometheus' text exposition format."""
        return generate_latest(self.registry)


class TimedModel(Model):
    """A model whose ``predict_proba`` calls are timed into :class:`ServiceMetrics`; every other
    attribute is the wrapped model's, so the routes use it as they would the model itself.

    Example:
        >>> model = TimedModel(OnnxModel.load("runs/best.onnx"), ServiceMetrics())
        >>> model.predict_proba(test[:2]).shape, model.metadata["input_layout"]
        ((2, 24), 'flat')
    """

    def __init__(self, model: Model, metrics: ServiceMetrics) -> None:
        super().__init__()
        self.model, self._metrics = model, metrics
        self.params, self.info = model.params, model.info  # the same dicts: one truth

    def predict_proba(self, images: Any) -> np.ndarray:
        """The wrapped model's probabilities, with the call's time and batch size recorded."""
        start = time.perf_counter()
        out = self.model.predict_proba(images)
        self._metrics.observe_inference(len(images), time.perf_counter() - start)
        return out

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Save the wrapped model."""
        return self.model.save(path)

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes TimedModel lacks: metadata, source, onnx_bytes, ...
        return getattr(self.__dict__["model"], name)


def metrics_handler(metrics: ServiceMetrics) -> Callable[[], Awaitable[Response]]:
    """The route function of ``GET /metrics``: the app's metrics in Prometheus' text format."""

    async def prometheus_metrics() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return prometheus_metrics


__all__ = ["OTHER", "ROUTES", "ServiceMetrics", "TimedModel", "metrics_handler", "route_of"]
