"""The route functions of the Open Inference Protocol (KServe V2), one per row of ``V2_ENDPOINTS``.

Paths, methods, which need the key and their OpenAPI entries are in the endpoint table
(``_endpoints.py``); the requests and answers are in ``_v2.py``. The model is the app's
(``app.state.model``), read per request, as readiness depends on it.
"""

from __future__ import annotations

import numpy as np
from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from asl_recog._version import __version__
from asl_recog.serving._endpoints import (
    V2_INFER,
    V2_LIVE,
    V2_MODEL,
    V2_MODEL_READY,
    V2_READY,
    V2_SERVER,
    Endpoint,
    Handler,
)
from asl_recog.serving._offload import INLINE_BODY_BYTES, INLINE_IMAGES, ParsePool
from asl_recog.serving._requests import dumps
from asl_recog.serving._service import json_response
from asl_recog.serving._v2 import MODEL_NAME, MODEL_VERSION, V2Error, infer_response, model_metadata, parse_request


def _check_name(name: str) -> None:
    if name != MODEL_NAME:
        raise V2Error(f"model {name!r} not found; this server serves {MODEL_NAME!r}", 404)


class V2Endpoints:
    """The Open Inference Protocol's routes over ``app.state.model``.

    One method a row: ``server_metadata`` (``GET /v2``), ``live`` and ``ready`` (the probes),
    ``metadata`` and ``model_ready`` (``/v2/models/{name}``...), ``infer``. They carry no
    docstrings: FastAPI would publish them as the operations' descriptions, and the OpenAPI
    entries belong to the endpoint table.

    Args:
        max_batch: the most images per inference request (413 beyond it).
        max_answer_bytes: bounds an inference answer (``create_app`` passes the request size
            limit); the request checks keep answers far below it, and an answer over it gets 413.
        parse_pool: parses bodies over 256 KiB in a child process (``create_app`` passes the
            service's); without one they are parsed in a thread.
        model_version: the version reported (``versions``, ``model_version``): a registered model's
            version when served from the registry, else None for the protocol's default ``"1"``.

    Example:
        >>> from fastapi.testclient import TestClient
        >>> from asl_recog.serving import create_app
        >>> client = TestClient(create_app("runs/best.onnx", api_key="s3cret"))  # create_app adds the routes
        >>> client.get("/v2/health/ready").status_code  # public, for probes
        200
        >>> body = {"inputs": [{"name": "images", "shape": [1, 784], "datatype": "UINT8",
        ...                     "data": test.images[3].ravel().tolist()}]}
        >>> client.post("/v2/models/asl-recog/infer", json=body,
        ...             headers={"Authorization": "Bearer s3cret"}).json()["outputs"][1]
        {'name': 'letters', 'datatype': 'BYTES', 'shape': [1], 'data': ['E']}
    """

    def __init__(
        self,
        *,
        max_batch: int,
        max_answer_bytes: int = 16 * 2**20,
        parse_pool: ParsePool | None = None,
        model_version: str | None = None,
    ):
        self.max_batch, self.max_answer_bytes, self.parse_pool = max_batch, max_answer_bytes, parse_pool
        self.model_version = model_version or MODEL_VERSION

    def handlers(self) -> dict[Endpoint, Handler]:
        """The route function of each row of ``V2_ENDPOINTS``."""
        return {
            V2_SERVER: self.server_metadata,
            V2_LIVE: self.live,
            V2_READY: self.ready,
            V2_MODEL: self.metadata,
            V2_MODEL_READY: self.model_ready,
            V2_INFER: self.infer,
        }

    async def server_metadata(self) -> Response:
        return json_response({"name": MODEL_NAME, "version": __version__, "extensions": ["binary_tensor_data"]})

    async def live(self) -> Response:
        return json_response({"live": True})

    async def ready(self, request: Request) -> Response:
        if getattr(request.app.state, "model", None) is None:
            return json_response({"error": "the model is not loaded"}, 503)
        return json_response({"ready": True})

    async def metadata(self, name: str) -> Response:
        _check_name(name)
        return json_response(model_metadata(version=self.model_version))

    async def model_ready(self, name: str, request: Request) -> Response:
        _check_name(name)
        return json_response({"name": name, "ready": getattr(request.app.state, "model", None) is not None})

    async def infer(self, name: str, request: Request) -> Response:
        _check_name(name)
        max_batch = self.max_batch
        body, header_length = await request.body(), request.headers.get("inference-header-content-length")
        if len(body) > INLINE_BODY_BYTES:  # as /score does: a body parsed on the event loop stalls /health
            if self.parse_pool is not None:
                images, outputs, request_id = await self.parse_pool.run(parse_request, body, header_length, max_batch)
            else:
                images, outputs, request_id = await run_in_threadpool(parse_request, body, header_length, max_batch)
        else:
            images, outputs, request_id = parse_request(body, header_length, max_batch)
        model = request.app.state.model
        if len(images) > INLINE_IMAGES:
            probabilities = await run_in_threadpool(model.predict_proba, images)
        else:
            probabilities = model.predict_proba(images)
        answer = dumps(infer_response(np.asarray(probabilities), outputs, request_id, self.model_version))
        if len(answer) > self.max_answer_bytes:
            raise V2Error(
                f"the answer of {len(answer)} bytes exceeds the limit of {self.max_answer_bytes}; split the batch", 413
            )
        return Response(answer, media_type="application/json")


__all__ = ["V2Endpoints"]
