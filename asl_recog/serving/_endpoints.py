"""Every endpoint of the scoring service, declared once: path, method, key or not, metric label, OpenAPI entry.

As Starlette's ``routes=[...]`` lists an app's routes in one place, :data:`ENDPOINTS` lists
the service's, FastAPI's own documentation routes included. Whatever else needs to know
about endpoints is derived from it, so that the facts cannot drift apart:

* :data:`PUBLIC_PATHS` and :data:`PUBLIC_PREFIXES`: what ``ServiceGuard`` serves without a key;
* the ``route`` label of ``/metrics`` (``_metrics.route_of``): each endpoint's own, and one
  ``other`` for any path not in the table, so that scanners cannot grow the series;
* :func:`openapi_document`: which operations need the key, and the hand-written operation
  of a bare ASGI route; FastAPI builds the rest from each row's summary, tags and responses;
* :func:`add_endpoints`: the routes themselves, each row with its handler.

Handlers are not in the table: they close over one app's model and limits, so ``create_app``
pairs rows with handlers, and :func:`add_endpoints` refuses a row left without one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import FastAPI, Request
from starlette.routing import Route

from asl_recog.serving._explain import explain_operation
from asl_recog.serving._openapi import ErrorResponse, Status, add_components, error_responses, score_operation
from asl_recog.serving._page import page_urls

#: How a row is served: a FastAPI route of the service's, a bare ASGI route (no FastAPI
#: machinery: it costs more than scoring one image), or a route FastAPI itself adds (the docs).
Kind = Literal["route", "asgi", "fastapi"]
Handler = Callable[..., Any]


@dataclass(frozen=True, eq=False)  # eq=False: rows are keys by identity (responses is a dict)
class Endpoint:
    """One endpoint of the service and all that is said about it.

    Attributes:
        path: the path, or a template (``/v2/models/{name}``); with ``prefix``, every path below it too.
        method: the HTTP method.
        public: served without the API key.
        label: the ``route`` label of its requests in ``/metrics`` (default: ``path``).
        summary: its OpenAPI summary; None leaves it out of the document.
        tags: OpenAPI tags.
        responses: OpenAPI answers besides 200 (FastAPI's ``responses=``).
        response_model: the model of its 200 answer in the document.
        name: the route's name; FastAPI derives the OpenAPI ``operationId`` from it.
        kind: how it is served (:data:`Kind`).
        prefix: ``path`` is a folder of files (a mount), not one path.
        operation: for a bare ASGI route, its OpenAPI operation from ``max_batch``.

    Example:
        >>> probe = Endpoint("/health", public=True, summary="Liveness")
        >>> probe.metric_label, probe.method, probe.matches("/health"), probe.matches("/health/x")
        ('/health', 'GET', True, False)
        >>> Endpoint("/docs/static", prefix=True, kind="fastapi").matches("/docs/static/redoc.js")
        True
    """

    path: str
    method: str = "GET"
    public: bool = False
    label: str | None = None
    summary: str | None = None
    tags: tuple[str, ...] = ()
    responses: Mapping[int | str, dict[str, Any]] = field(default_factory=dict)
    response_model: Any = None
    name: str | None = None
    kind: Kind = "route"
    prefix: bool = False
    operation: Callable[[int], dict[str, Any]] | None = None

    @property
    def metric_label(self) -> str:
        """The ``route`` label its requests are counted under."""
        return self.label or self.path

    @property
    def templated(self) -> bool:
        """Whether the path has ``{parameters}``."""
        return "{" in self.path

    def matches(self, path: str) -> bool:
        """Whether a request path is this endpoint's (any method)."""
        if self.prefix:
            return path.startswith(self.path + "/")
        if not self.templated:
            return path == self.path
        parts, pattern = path.split("/"), self.path.split("/")
        return len(parts) == len(pattern) and all(
            (p.startswith("{") and bool(part)) or p == part for p, part in zip(pattern, parts, strict=True)
        )


_V2 = ("v2",)
SCORE = Endpoint("/score", "POST", kind="asgi", operation=score_operation)
#: One image's answer and its occlusion map (the page's "Explain" overlay); keyed, as scoring is.
EXPLAIN = Endpoint("/explain", "POST", kind="asgi", operation=explain_operation)
OPENAPI = Endpoint("/openapi.json", public=True, kind="fastapi")
DOCS = Endpoint("/docs", public=True, kind="fastapi")
DOCS_OAUTH2 = Endpoint("/docs/oauth2-redirect", public=True, kind="fastapi")
REDOC = Endpoint("/redoc", public=True, kind="fastapi")
#: Swagger UI's and ReDoc's files (fastapi-offline serves them from the installed package).
DOCS_FILES = Endpoint("/docs/static", public=True, kind="fastapi", prefix=True)
#: The web page and its files: public, as the page asks for the key itself; one row (and label) a file.
PAGE = tuple(Endpoint(url, public=True, name=f"page:{url}") for url in page_urls())
V2_SERVER = Endpoint("/v2", summary="Open Inference Protocol: server metadata", tags=_V2, name="server_metadata")
V2_LIVE = Endpoint(
    "/v2/health/live", public=True, summary="Open Inference Protocol: liveness (public)", tags=_V2, name="live"
)
V2_READY = Endpoint(
    "/v2/health/ready", public=True, summary="Open Inference Protocol: readiness (public)", tags=_V2, name="ready"
)
V2_MODEL = Endpoint("/v2/models/{name}", summary="Open Inference Protocol: model metadata", tags=_V2, name="metadata")
V2_MODEL_READY = Endpoint(
    "/v2/models/{name}/ready", summary="Open Inference Protocol: model readiness", tags=_V2, name="model_ready"
)
V2_INFER = Endpoint(
    "/v2/models/{name}/infer", "POST", summary="Open Inference Protocol: inference", tags=_V2, name="infer"
)
METRICS = Endpoint("/metrics", summary="Prometheus metrics (text exposition format)", name="prometheus_metrics")
HEALTH = Endpoint("/health", public=True, summary="Liveness: the process answers", response_model=Status, name="health")
READY = Endpoint(
    "/ready",
    public=True,
    summary="Readiness: the model is loaded and answers",
    response_model=Status,
    responses={503: {"model": ErrorResponse}},
    name="ready",
)
INFO = Endpoint(
    "/info",
    summary="Model and service metadata: letters, input format, version",
    responses=error_responses(),
    name="info",
)

#: Every endpoint, in the order the app matches them (it also orders the OpenAPI document).
ENDPOINTS: tuple[Endpoint, ...] = (
    SCORE,
    EXPLAIN,
    OPENAPI,
    DOCS,
    DOCS_OAUTH2,
    REDOC,
    DOCS_FILES,
    *PAGE,
    V2_SERVER,
    V2_LIVE,
    V2_READY,
    V2_MODEL,
    V2_MODEL_READY,
    V2_INFER,
    METRICS,
    HEALTH,
    READY,
    INFO,
)
V2_ENDPOINTS = (V2_SERVER, V2_LIVE, V2_READY, V2_MODEL, V2_MODEL_READY, V2_INFER)

#: Exact paths anyone may call: the probes (the Open Inference Protocol's too), the API
#: description and the page. Scoring, metadata and /metrics need the key (docs/serving.md says why).
PUBLIC_PATHS = frozenset(e.path for e in ENDPOINTS if e.public and not e.prefix)
#: Folders whose files anyone may fetch (the offline Swagger UI and ReDoc files).
PUBLIC_PREFIXES = tuple(e.path + "/" for e in ENDPOINTS if e.public and e.prefix)


def docs_settings() -> dict[str, str]:
    """Where ``FastAPIOffline`` serves the documentation: the paths of the table's FastAPI rows."""
    return {
        "openapi_url": OPENAPI.path,
        "docs_url": DOCS.path,
        "swagger_ui_oauth2_redirect_url": DOCS_OAUTH2.path,
        "redoc_url": REDOC.path,
        "static_url": DOCS_FILES.path,
    }


def add_endpoints(app: FastAPI, handlers: Mapping[Endpoint, Handler], leave_out: Iterable[Endpoint] = ()) -> None:
    """Add a route for each row of :data:`ENDPOINTS` served by the service, with its handler.

    Args:
        app: the app (FastAPI's own rows are already there: ``FastAPIOffline`` adds them).
        handlers: the handler of each row: a FastAPI route function, or for a bare ASGI row an
            ``async (Request) -> bytes`` that returns the JSON answer.
        leave_out: rows this app does not serve (``/metrics`` with metrics off).

    Raises:
        ValueError: a row without a handler, or a handler for no row of the table.
    """
    left_out = set(leave_out)
    served = [e for e in ENDPOINTS if e.kind != "fastapi" and e not in left_out]
    missing, extra = [e.path for e in served if e not in handlers], [e.path for e in handlers if e not in served]
    if missing or extra:
        raise ValueError(f"endpoints without a handler: {missing}; handlers for no served endpoint: {extra}")
    for endpoint in served:
        handler = handlers[endpoint]
        if endpoint.kind == "asgi":
            # First in line (routes are matched in order); its OpenAPI operation comes from the row.
            route = Route(endpoint.path, _AsgiEndpoint(handler), methods=[endpoint.method], include_in_schema=False)
            app.router.routes.insert(0, route)
            continue
        app.add_api_route(
            endpoint.path,
            handler,
            methods=[endpoint.method],
            name=endpoint.name,
            summary=endpoint.summary,
            tags=list(endpoint.tags) or None,
            responses=dict(endpoint.responses) or None,
            response_model=endpoint.response_model,
            include_in_schema=endpoint.summary is not None,
        )


def openapi_document(schema: dict[str, Any], max_batch: int, auth: bool) -> dict[str, Any]:
    """Complete FastAPI's generated document from the table: bare ASGI rows' operations, keyed operations.

    Example:
        >>> doc = openapi_document({"paths": {"/health": {"get": {}}, "/info": {"get": {}}}}, 8, auth=True)
        >>> doc["paths"]["/info"]["get"]["security"], "security" in doc["paths"]["/health"]["get"]
        ([{'bearerAuth': []}], False)
        >>> doc["paths"]["/score"]["post"]["operationId"]
        'score'
    """
    paths = schema.setdefault("paths", {})
    for endpoint in ENDPOINTS:
        if endpoint.operation is not None:
            paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = endpoint.operation(max_batch)
    add_components(schema, max_batch, auth)
    if auth:
        for endpoint in ENDPOINTS:
            operation = paths.get(endpoint.path, {}).get(endpoint.method.lower())
            if operation is not None and not endpoint.public:
                operation["security"] = [{"bearerAuth": []}]
    return schema


class _AsgiEndpoint:
    """Runs ``handler(request) -> JSON bytes`` as a bare ASGI app: no Response object, no
    request/response wrapper, which matters when scoring one image takes ~0.1 ms."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body = await self.handler(Request(scope, receive))
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))],
            }
        )
        await send({"type": "http.response.body", "body": body})


__all__ = [
    "ENDPOINTS",
    "PUBLIC_PATHS",
    "PUBLIC_PREFIXES",
    "V2_ENDPOINTS",
    "Endpoint",
    "add_endpoints",
    "docs_settings",
    "openapi_document",
]
