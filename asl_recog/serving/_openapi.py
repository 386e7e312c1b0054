"""The OpenAPI description of the scoring service: request shapes with examples, response models.

/score reads its raw body and validates it with numpy (see ``_requests``), so
the request schema here is documentation and a fuzzing target, not the parser.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from asl_recog.data._labels import LETTERS, NUM_PIXELS
from asl_recog.serving._requests import METHODS, PIXEL_COLUMNS

#: A valid (synthetic) example image: a diagonal gradient, pixel1..pixel784 row-major.
EXAMPLE_PIXELS: list[int] = [(3 * (i // 28) + 5 * (i % 28)) % 256 for i in range(NUM_PIXELS)]


class TopEntry(BaseModel):
    """One of the likeliest letters of an image."""

    letter: str = Field(examples=["D"])
    label: int = Field(description="the dataset label (alphabet position)", examples=[3])
    probability: float = Field(examples=[0.97])


class HandEntry(BaseModel):
    """Where the hand was found in a photo: the square cut out, in pixels of the upright photo."""

    x: int = Field(description="left edge", examples=[40])
    y: int = Field(description="top edge", examples=[10])
    width: int = Field(examples=[120])
    height: int = Field(examples=[120])
    score: float = Field(description="the palm detector's probability, 0.5-1", examples=[0.97])


class ScoreResponse(BaseModel):
    """Predictions, one per image, in request order."""

    result: list[int | None] = Field(
        description="dataset labels (alphabet positions 0-24, never 9); null where the answer is unknown",
        examples=[[3, 0]],
    )
    letters: list[str] = Field(
        description="the letters of the labels, or 'unknown' where the highest probability is below `threshold`",
        examples=[["D", "A"]],
    )
    probabilities: list[list[float]] | None = Field(
        None,
        description="only with ?proba=true or method predict_proba: one row of 24 probabilities "
        "per image, in the order of `classes`",
    )
    classes: list[str] | None = Field(
        None, description="the letters A-Y without J, column order of `probabilities`", examples=[list(LETTERS)]
    )
    top: list[list[TopEntry]] | None = Field(None, description="only with ?top_k=K: per image, the K likeliest letters")
    threshold: float | None = Field(
        None,
        description="the confidence in force (?threshold=, else the model's asl_recog.unknown_threshold "
        "metadata); absent when there is none",
    )
    input: list[list[int]] | None = Field(
        None, description="only with ?return_input=true: per image, the 784 pixels (0-255, row by row) that were scored"
    )
    hand: list[HandEntry | None] | None = Field(
        None,
        description="photo uploads in which the hand was looked for (no crop, find_hand not false): per image "
        "the square cut out around the hand, or null where none was found and the centre square was used",
    )
    reasons: list[str | None] | None = Field(
        None,
        description="only with a threshold in force: per image why the answer is 'unknown', 'no_hand' (a photo "
        "in which no hand was found is refused) or 'not_sure' (below the threshold); null where a letter is answered",
        examples=[[None, "not_sure"]],
    )


class ErrorResponse(BaseModel):
    """Every error the service returns."""

    error: str = Field(
        description="machine-readable code, e.g. invalid_input, unauthorized, body_too_large",
        examples=["invalid_input"],
    )
    detail: str = Field(
        description="what is wrong and where, and how to fix it",
        examples=["data[3].pixel17: value 300 is outside 0-255"],
    )
    where: str | None = Field(None, description="JSON path of the problem", examples=["data[3].pixel17"])


class Status(BaseModel):
    """Liveness and readiness answers."""

    status: str = Field(examples=["ok"])
    model: str | None = None


def _schemas(max_batch: int) -> dict[str, Any]:
    pixel = {"type": "integer", "minimum": 0, "maximum": 255}
    pixel_list = {
        "type": "array",
        "items": pixel,
        "minItems": NUM_PIXELS,
        "maxItems": NUM_PIXELS,
        "description": "pixel1..pixel784 of one 28x28 grayscale image, row by row",
    }
    record = {
        "type": "object",
        "description": "one image as a pixel1..pixel784 record (no label column)",
        "properties": {name: pixel for name in PIXEL_COLUMNS},
        "required": list(PIXEL_COLUMNS),
        "additionalProperties": False,
    }
    row = {"anyOf": [{"$ref": "#/components/schemas/PixelList"}, {"$ref": "#/components/schemas/PixelRecord"}]}
    rows = {"type": "array", "items": row, "minItems": 1, "maxItems": max_batch}
    method = {"type": "string", "enum": list(METHODS), "default": "predict"}
    split = {
        "type": "object",
        "required": ["data"],
        "additionalProperties": False,
        "properties": {
            "columns": {
                "type": "array",
                "items": {"type": "string", "enum": list(PIXEL_COLUMNS)},
                "minItems": NUM_PIXELS,
                "maxItems": NUM_PIXELS,
                "uniqueItems": True,
            },
            "index": {"type": "array", "items": {"type": "integer"}},
            "data": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/PixelList"},
                "minItems": 1,
                "maxItems": max_batch,
            },
        },
    }
    return {
        "PixelList": pixel_list,
        "PixelRecord": record,
        "AutoMLv1Request": {
            "title": "Azure AutoML v1",
            "type": "object",
            "required": ["data"],
            "additionalProperties": False,
            "properties": {"data": rows, "method": method},
        },
        "AutoMLv2Request": {
            "title": "Azure AutoML v2",
            "type": "object",
            "required": ["Inputs"],
            "additionalProperties": False,
            "properties": {
                "Inputs": {
                    "type": "object",
                    "required": ["data"],
                    "additionalProperties": False,
                    "properties": {"data": rows},
                },
                "GlobalParameters": {"type": "object", "additionalProperties": False, "properties": {"method": method}},
            },
        },
        "InputDataRequest": {
            "title": "Azure v2 managed endpoint / MLflow",
            "type": "object",
            "required": ["input_data"],
            "additionalProperties": False,
            "properties": {"input_data": split},
        },
    }


def _examples() -> dict[str, Any]:
    record = dict(zip(PIXEL_COLUMNS, EXAMPLE_PIXELS, strict=False))
    return {
        "automl_v1": {
            "summary": "Azure AutoML v1: pixel records (what the original notebook sent)",
            "value": {"data": [record]},
        },
        "automl_v1_lists": {"summary": "Azure AutoML v1 with plain pixel lists", "value": {"data": [EXAMPLE_PIXELS]}},
        "automl_v2": {
            "summary": "Azure AutoML v2 with probabilities",
            "value": {"Inputs": {"data": [EXAMPLE_PIXELS]}, "GlobalParameters": {"method": "predict_proba"}},
        },
        "input_data": {
            "summary": "Azure v2 managed endpoint / MLflow split frame",
            "value": {"input_data": {"columns": list(PIXEL_COLUMNS), "index": [0], "data": [EXAMPLE_PIXELS]}},
        },
    }


#: statuses every protected operation may answer with an error
ERROR_STATUSES: dict[int, str] = {
    400: "unreadable body (not JSON, malformed or truncated multipart, unreadable image)",
    401: "missing or wrong API key",
    413: "body larger than --max-body-bytes, more images than --max-batch, or an image above 4096x4096 pixels",
    422: "a readable request with wrong content: the detail names the value and its place",
    504: "not scored within --timeout seconds",
}


def error_responses() -> dict[int | str, dict[str, Any]]:
    """``responses=`` for FastAPI route decorators."""
    return {status: {"model": ErrorResponse, "description": text} for status, text in ERROR_STATUSES.items()}


#: The JSON bodies /score reads (Azure's three request shapes); /explain reads the same.
JSON_REQUEST_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {"$ref": "#/components/schemas/AutoMLv1Request"},
        {"$ref": "#/components/schemas/AutoMLv2Request"},
        {"$ref": "#/components/schemas/InputDataRequest"},
    ]
}


def score_operation(max_batch: int) -> dict[str, Any]:
    """The OpenAPI operation of POST /score: query, the JSON shapes, image uploads, responses."""

    def ref(name: str) -> dict[str, Any]:
        return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}}

    responses = {"200": {"description": "one prediction per image, in request order", **ref("ScoreResponse")}}
    responses.update(
        {str(status): {"description": text, **ref("ErrorResponse")} for status, text in ERROR_STATUSES.items()}
    )
    proba = {
        "name": "proba",
        "in": "query",
        "required": False,
        "description": "also return the 24 class probabilities",
        "schema": {"type": "boolean", "default": False},
    }
    options = [
        {
            "name": "top_k",
            "in": "query",
            "required": False,
            "description": "also return, per image, the K likeliest letters with their probabilities (`top`)",
            "schema": {"type": "integer", "minimum": 1, "maximum": 24},
        },
        {
            "name": "threshold",
            "in": "query",
            "required": False,
            "description": "answer 'unknown' (label null) where the highest probability is below it; "
            "default: the model's asl_recog.unknown_threshold metadata, if any",
            "schema": {"type": "number", "minimum": 0, "maximum": 1},
        },
        {
            "name": "return_input",
            "in": "query",
            "required": False,
            "description": "also return the 28x28 images that were scored (`input`), e.g. to show them",
            "schema": {"type": "boolean", "default": False},
        },
        {
            "name": "crop",
            "in": "query",
            "required": False,
            "description": "photo uploads only: x,y,w,h in pixels of the upright photo; only this box is "
            "converted to 28x28 (422 if it does not fit inside the photo)",
            "schema": {"type": "string", "pattern": "^[0-9]+,[0-9]+,[0-9]+,[0-9]+$", "example": "40,0,240,240"},
        },
        {
            "name": "find_hand",
            "in": "query",
            "required": False,
            "description": "photo uploads without crop: cut the photo to the square around the hand that "
            "MediaPipe's palm detector finds (`hand` says where); false takes the centre square",
            "schema": {"type": "boolean", "default": True},
        },
    ]
    return {
        "summary": "Recognize hand signs in 28x28 images or photos",
        "operationId": "score",
        "parameters": [proba, *options],
        "responses": responses,
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": JSON_REQUEST_SCHEMA, "examples": _examples()},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {
                                "type": "string",
                                "format": "binary",
                                "description": "a PNG or JPEG photo of one hand sign; repeat the field for a batch",
                            }
                        },
                    }
                },
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
            },
        },
    }


def add_components(schema: dict[str, Any], max_batch: int, auth: bool) -> dict[str, Any]:
    """Add the request and answer schemas and, with auth on, the bearer scheme to an OpenAPI document.

    Which operations need the key, and the hand-written operation of POST /score, come from
    the endpoint table (``_endpoints.openapi_document``), not from here.
    """
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.update(_schemas(max_batch))
    for model in (ScoreResponse, ErrorResponse):
        schema_ = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema_.pop("$defs", {}))  # nested models (TopEntry) become components too
        schemas[model.__name__] = schema_
    if auth:
        components["securitySchemes"] = {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "the service key: --key-file, $ASL_RECOG_API_KEY, or the one printed at start",
            }
        }
    return schema
