"""``POST /explain``: why the model answered what it did for one image, as a 28x28 occlusion map.

The request is read as ``POST /score`` reads it (a JSON body of one 28x28 image in any of its
shapes, a multipart upload or an ``image/*`` body, with ``crop`` and ``find_hand``), so the
same 28x28 image is explained as was scored. The map is ``models._occlusion.occlusion_map``,
the function behind ``asl_recog.explain``: 169 occluded copies scored in batches, one image
per request, and only as many explanations at once as the service's scoring slots allow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import anyio
import numpy as np
from fastapi import Request
from pydantic import BaseModel, Field

from asl_recog.data._labels import LABELS, LETTERS
from asl_recog.models._base import Model, to_model_input
from asl_recog.models._occlusion import FILL, PATCH, STRIDE, occlusion_map
from asl_recog.serving._answers import hand_entry, parse_options, query_values
from asl_recog.serving._offload import INLINE_BODY_BYTES
from asl_recog.serving._openapi import ERROR_STATUSES, JSON_REQUEST_SCHEMA, HandEntry
from asl_recog.serving._requests import RequestError, dumps, parse_json
from asl_recog.serving._uploads import Photo, request_photos

#: The query parameters /explain reads; every other name is refused (422), as /score does.
QUERY_PARAMETERS = ("letter", "crop", "find_hand")
_ONE_IMAGE = "/explain explains one image per request; send one file or one row of pixels (/score takes batches)"


class ExplainResponse(BaseModel):
    """The explanation of one image's answer."""

    letter: str = Field(description="the letter explained: the model's answer, or ?letter=", examples=["D"])
    label: int = Field(description="its dataset label (alphabet position)", examples=[3])
    probability: float = Field(description="the model's probability of `letter` on the whole image", examples=[0.97])
    heatmap: list[list[float]] = Field(
        description="28 rows of 28 numbers: the mean drop in `letter`'s probability when a grey square covering "
        "the pixel hides it; positive where the pixel supports the answer, negative where hiding it makes "
        "the answer likelier",
    )
    input: list[list[int]] = Field(description="the 28x28 image explained (0-255, row by row), as /score read it")
    patch: int = Field(description="the occluding square's side, in pixels", examples=[PATCH])
    stride: int = Field(description="the step between squares, in pixels", examples=[STRIDE])
    fill: float = Field(description="the square's grey level, 0-1", examples=[FILL])
    hand: HandEntry | None = Field(
        None,
        description="photo uploads in which the hand was looked for: the square cut out, or null where none was "
        "found and the centre square was used",
    )


@dataclass(frozen=True)
class ExplainQuery:
    """The options of one /explain request.

    Example:
        >>> parse_explain_query(b"letter=b&crop=0,0,50,50")
        ExplainQuery(letter='B', crop=(0, 0, 50, 50), find_hand=True)
    """

    letter: str | None = None
    crop: tuple[int, int, int, int] | None = None
    find_hand: bool = True


def parse_explain_query(query: bytes) -> ExplainQuery:
    """The options in a query string; ``crop`` and ``find_hand`` are checked as /score checks them.

    Raises:
        RequestError: 422 ``invalid_parameter``, naming the parameter, for an unknown name or a bad value.
    """
    values = query_values(query, QUERY_PARAMETERS, "/explain")
    letter = values["letter"].strip().upper() if "letter" in values else None
    if letter is not None and letter not in LETTERS:
        raise RequestError(
            f"letter must be one of {''.join(LETTERS)} (J and Z need motion), got {values['letter'][:20]!r}",
            where="query.letter",
            code="invalid_parameter",
        )
    photo = parse_options(urlencode({k: v for k, v in values.items() if k != "letter"}).encode(), None)
    return ExplainQuery(letter, photo.crop, photo.find_hand)


class Explainer:
    """The route function of ``POST /explain`` over one model.

    Args:
        model: the served model (``create_app`` passes it chunked and timed, as /score's).

    Example:
        >>> from fastapi.testclient import TestClient
        >>> from asl_recog.serving import create_app
        >>> client = TestClient(create_app("runs/best.onnx", auth=False))  # create_app adds the route
        >>> answer = client.post("/explain", json={"data": [test.images[0].ravel().tolist()]}).json()
        >>> len(answer["heatmap"]), len(answer["heatmap"][0]), answer["letter"] in LETTERS
        (28, 28, True)
    """

    def __init__(self, model: Model) -> None:
        self.model = model

    async def explain(self, request: Request) -> bytes:
        """``POST /explain``: the answer's JSON bytes (a bare ASGI route sends them)."""
        query = parse_explain_query(request.scope["query_string"])
        photo = await self._read(request, query)
        wanted = None if query.letter is None else LETTERS.index(query.letter)
        # In a worker thread, and no more at once than large /score requests: 170 images go through the model.
        limiter = getattr(request.app.state, "scoring_slots", None)
        heatmap, target, probability = await anyio.to_thread.run_sync(
            lambda: occlusion_map(self.model.predict_proba, to_model_input(photo.image)[0], wanted),
            limiter=limiter,
        )
        answer: dict[str, Any] = {
            "letter": LETTERS[target],
            "label": LABELS[target],
            "probability": round(probability, 6),
            "heatmap": np.round(heatmap, 6).tolist(),
            "input": photo.image.astype(int).tolist(),
            "patch": PATCH,
            "stride": STRIDE,
            "fill": FILL,
        }
        if photo.searched:
            answer["hand"] = hand_entry(photo.hand)
        return dumps(answer)

    async def _read(self, request: Request, query: ExplainQuery) -> Photo:
        """The one 28x28 image of the request, read as /score reads its body."""
        try:
            photos = await request_photos(request.headers, request.stream, request.body, 1, query.crop, query.find_hand)
        except RequestError as exc:
            if exc.code == "batch_too_large":
                raise RequestError(_ONE_IMAGE, where=exc.where, status=413, code="batch_too_large") from exc
            raise
        if photos is not None:
            return photos[0]
        body = await request.body()
        if len(body) > INLINE_BODY_BYTES:  # one image in any JSON shape is a few KiB
            raise RequestError(f"{_ONE_IMAGE}; this body has {len(body):,} bytes", status=413, code="batch_too_large")
        try:
            images = parse_json(body, max_batch=1).images
        except RequestError as exc:
            if exc.code == "batch_too_large" or exc.status == 413:
                raise RequestError(_ONE_IMAGE, where=exc.where, status=413, code="batch_too_large") from exc
            raise
        return Photo(images[0], None, False)


def explain_operation(max_batch: int) -> dict[str, Any]:
    """The OpenAPI operation of POST /explain (``max_batch`` is /score's; /explain takes one image)."""

    def error(text: str) -> dict[str, Any]:
        return {
            "description": text,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
        }

    answer = ExplainResponse.model_json_schema(ref_template="#/components/schemas/{model}")
    answer.pop("$defs", None)  # HandEntry: already a component, through ScoreResponse
    responses: dict[str, Any] = {
        "200": {
            "description": "the answer for the image and its 28x28 occlusion map",
            "content": {"application/json": {"schema": answer}},
        },
        **{str(status): error(text) for status, text in ERROR_STATUSES.items()},
    }
    responses["413"] = error("more than one image, a body over 256 KiB of JSON, or an image above 4096x4096 pixels")
    parameters = [
        {
            "name": "letter",
            "in": "query",
            "required": False,
            "description": "explain this letter's probability instead of the model's answer",
            "schema": {"type": "string", "enum": list(LETTERS)},
        },
        {
            "name": "crop",
            "in": "query",
            "required": False,
            "description": "photo uploads only: x,y,w,h in pixels of the upright photo, as for /score",
            "schema": {"type": "string", "pattern": "^[0-9]+,[0-9]+,[0-9]+,[0-9]+$", "example": "40,0,240,240"},
        },
        {
            "name": "find_hand",
            "in": "query",
            "required": False,
            "description": "photo uploads without crop: cut to the hand the palm detector finds, as for /score",
            "schema": {"type": "boolean", "default": True},
        },
    ]
    one_image = {"type": "string", "format": "binary", "description": "a PNG or JPEG photo of one hand sign"}
    return {
        "summary": "Explain the answer for one image: which pixels it rests on (occlusion sensitivity)",
        "operationId": "explain",
        "parameters": parameters,
        "responses": responses,
        "requestBody": {
            "required": True,
            "description": "one image, in any of /score's request shapes",
            "content": {
                "application/json": {"schema": JSON_REQUEST_SCHEMA},
                "multipart/form-data": {
                    "schema": {"type": "object", "required": ["file"], "properties": {"file": one_image}}
                },
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
            },
        },
    }


__all__ = ["ExplainQuery", "ExplainResponse", "Explainer", "explain_operation", "parse_explain_query"]
