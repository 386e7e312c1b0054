"""The route functions of the service's own endpoints: /score, /explain, /info, /health, /ready and the page.

Paths, methods, which need the key and their OpenAPI entries are rows of the endpoint
table (``_endpoints.py``); ``create_app`` pairs them with these functions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from asl_recog.data._labels import LABELS, LETTERS, NUM_CLASSES
from asl_recog.models._base import Model
from asl_recog.serving._answers import AnswerOptions, add_hands, extend_answer, parse_options
from asl_recog.serving._endpoints import EXPLAIN, HEALTH, INFO, PAGE, READY, SCORE, Endpoint, Handler
from asl_recog.serving._explain import Explainer
from asl_recog.serving._offload import INLINE_BODY_BYTES, INLINE_IMAGES, ParsePool
from asl_recog.serving._page import page_files, page_responder
from asl_recog.serving._requests import dumps, parse_json, score_response
from asl_recog.serving._security import error_body
from asl_recog.serving._uploads import request_photos

_LABELS = np.asarray(LABELS)
_LETTERS = np.asarray(LETTERS)


def json_response(content: Any, status: int = 200) -> Response:
    """A JSON answer, serialized as every answer of the service is (``_requests.dumps``)."""
    return Response(dumps(content), status_code=status, media_type="application/json")


class ServiceEndpoints:
    """The route functions of /score, /explain, /info, /health and /ready over one model.

    ``health`` answers that the process runs, ``ready`` that the model is loaded (``app.state.model``),
    ``info`` the service's and the model's metadata, ``score`` the predictions. The FastAPI route
    functions carry no docstrings: FastAPI would publish them as the operations' descriptions,
    and the OpenAPI entries belong to the endpoint table.

    Args:
        model: the model to score with (``create_app`` passes it chunked and timed).
        metadata: the ``/info`` answer.
        threshold: the model's "unknown" threshold, or None.
        max_batch: the most images per request (413 beyond it).
        parse_pool: parses JSON bodies over 256 KiB in a child process.

    Example:
        >>> from fastapi.testclient import TestClient
        >>> from asl_recog.serving import create_app
        >>> client = TestClient(create_app("runs/best.onnx", auth=False))  # create_app adds the routes
        >>> client.get("/health").json(), client.get("/info").json()["letters"][:3]
        ({'status': 'ok'}, ['A', 'B', 'C'])
    """

    def __init__(
        self, model: Model, metadata: dict[str, Any], *, threshold: float | None, max_batch: int, parse_pool: ParsePool
    ) -> None:
        self.model, self.metadata, self.threshold = model, metadata, threshold
        self.max_batch, self.parse_pool = max_batch, parse_pool
        self.explainer = Explainer(model)

    def handlers(self) -> dict[Endpoint, Handler]:
        """The route function of each of the service's own rows, the page's files included."""
        files = page_files()
        pages = {endpoint: page_responder(*files[endpoint.path]) for endpoint in PAGE}
        handlers: dict[Endpoint, Handler] = {SCORE: self.score, EXPLAIN: self.explainer.explain, **pages}
        return {**handlers, HEALTH: self.health, READY: self.ready, INFO: self.info}

    async def health(self) -> Response:
        return json_response({"status": "ok"})

    async def ready(self, request: Request) -> Response:
        if getattr(request.app.state, "model", None) is None:
            return Response(error_body("not_ready", "the model is not loaded"), 503, media_type="application/json")
        # Status only: the probe is public, and the served file's path is metadata that /info keeps behind the key.
        return json_response({"status": "ready"})

    async def info(self) -> Response:
        return json_response(self.metadata)

    def predict(self, images: np.ndarray, proba: bool, options: AnswerOptions | None = None) -> dict[str, Any]:
        """The /score answer for a batch of 28x28 images."""
        probabilities = self.model.predict_proba(images)
        if probabilities.shape != (len(images), NUM_CLASSES):
            raise RuntimeError(f"the model returned shape {probabilities.shape}; expected ({len(images)}, 24)")
        index = np.argmax(probabilities, axis=1)
        answer = score_response(
            _LABELS[index].tolist(),
            _LETTERS[index].tolist(),
            probabilities if proba else None,
            list(LETTERS) if proba else None,
        )
        return answer if options is None else extend_answer(answer, probabilities, images, options)

    async def score(self, request: Request) -> bytes:
        """``POST /score``: the answer's JSON bytes (a bare ASGI route sends them)."""
        # Query and body are read by hand: FastAPI's parameter machinery costs more than scoring one image.
        # The query is parsed only when there is one (or the model sets a threshold), so a plain request stays cheap.
        query, threshold, max_batch = request.scope["query_string"], self.threshold, self.max_batch
        options = parse_options(query, threshold) if query or threshold is not None else None
        proba, crop = (options.proba, options.crop) if options is not None else (False, None)
        find_hand = options.find_hand if options is not None else True
        photos = await request_photos(request.headers, request.stream, request.body, max_batch, crop, find_hand)
        if photos is not None:
            images = np.stack([photo.image for photo in photos])
        else:  # JSON, whatever the header says: curl -d sends form-urlencoded by default
            body = await request.body()
            if len(body) > INLINE_BODY_BYTES:
                parsed = await self.parse_pool.run(parse_json, body, max_batch=max_batch, proba=proba)
            else:
                parsed = parse_json(body, max_batch=max_batch, proba=proba)
            images, proba = parsed.images, parsed.proba
        if len(images) > INLINE_IMAGES:
            answer = await run_in_threadpool(self.predict, images, proba, options)
        else:
            answer = self.predict(images, proba, options)
        if photos is not None and any(photo.searched for photo in photos):
            # A threshold in force means the service refuses to guess: a photo without a hand is refused too.
            refuse = options is not None and options.threshold is not None
            hands, searched = [photo.hand for photo in photos], [photo.searched for photo in photos]
            add_hands(answer, hands, refuse_missing=refuse, searched=searched)
        return dumps(answer)


__all__ = ["ServiceEndpoints", "json_response"]
