"""The Open Inference Protocol (KServe V2) beside the service's own routes.

KServe, Triton, Seldon MLServer and OpenVINO Model Server speak this protocol, so
their clients (``tritonclient``, ``kserve``), gateways and dashboards can call the
service unchanged. Implemented from the REST specification
(https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/):

* ``GET /v2``: server metadata; ``GET /v2/health/live`` and ``/v2/health/ready``: probes
  (public, as liveness probes need; every other route here needs the API key);
* ``GET /v2/models/{name}`` (metadata) and ``/v2/models/{name}/ready``;
* ``POST /v2/models/{name}/infer``: one input ``images``, ``UINT8`` or ``FP32`` pixel
  values 0-255, shape ``[N, 784]``, ``[N, 28, 28]`` or ``[N, 28, 28, 1]``, as JSON ``data``
  or in the binary tensor extension (``Inference-Header-Content-Length``). Outputs:
  ``labels`` (INT64 ``[N]``), ``letters`` (BYTES ``[N]``), ``probabilities`` (FP32 ``[N, 24]``).

Errors are the protocol's ``{"error": "<message>"}``: 400 for a bad request, 404 for
an unknown model, 413 for a batch over the limit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from asl_recog import __version__
from asl_recog.data._labels import LABELS, LETTERS, NUM_CLASSES
from asl_recog.serving._requests import IMAGE_SIZE, NUM_PIXELS, RequestError, dumps, loads

#: The name the model is served under (``/v2/models/asl-recog/...``) and its one version.
MODEL_NAME = "asl-recog"
MODEL_VERSION = "1"
INPUT_NAME = "images"
OUTPUTS = ("labels", "letters", "probabilities")
_DTYPES: dict[str, np.dtype[Any]] = {"UINT8": np.dtype(np.uint8), "FP32": np.dtype("<f4")}
_SHAPES = ((NUM_PIXELS,), (IMAGE_SIZE, IMAGE_SIZE), (IMAGE_SIZE, IMAGE_SIZE, 1))
_INLINE_IMAGES = 64  # larger batches are scored in a thread, as /score does
_LABELS, _LETTERS = np.asarray(LABELS, dtype=np.int64), np.asarray(LETTERS)


class V2Error(Exception):
    """A request the protocol answers with ``{"error": message}`` and ``status``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _json(content: Any, status: int = 200) -> Response:
    return Response(dumps(content), status_code=status, media_type="application/json")


def _error(exc: V2Error) -> Response:
    return _json({"error": str(exc)}, exc.status)


def model_metadata(platform: str = "onnxruntime_onnx") -> dict[str, Any]:
    """The ``GET /v2/models/{name}`` answer: inputs, outputs, datatypes and shapes (-1: any batch size).

    Example:
        >>> meta = model_metadata()
        >>> meta["inputs"], [o["name"] for o in meta["outputs"]]
        ([{'name': 'images', 'datatype': 'UINT8', 'shape': [-1, 784]}], ['labels', 'letters', 'probabilities'])
    """
    return {
        "name": MODEL_NAME,
        "versions": [MODEL_VERSION],
        "platform": platform,
        # The protocol gives an input one datatype and shape; FP32 and [N, 28, 28] are accepted too.
        "inputs": [{"name": INPUT_NAME, "datatype": "UINT8", "shape": [-1, NUM_PIXELS]}],
        "outputs": [
            {"name": "labels", "datatype": "INT64", "shape": [-1]},
            {"name": "letters", "datatype": "BYTES", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, NUM_CLASSES]},
        ],
    }


def split_body(body: bytes, header_length: str | None) -> tuple[Any, bytes]:
    """The JSON header of an inference request and the binary tensor data after it (if any)."""
    if header_length is None:
        return _loads(body), b""
    if not (header_length.isascii() and header_length.isdigit()) or int(header_length) > len(body):
        raise V2Error(
            f"Inference-Header-Content-Length {header_length[:20]!r} is not a byte count within the body "
            f"of {len(body)} bytes"
        )
    size = int(header_length)
    return _loads(body[:size]), body[size:]


def _loads(body: bytes) -> Any:
    try:
        return loads(body)
    except RequestError as exc:
        raise V2Error(f"the request is not valid JSON: {exc.problem}") from exc


def parse_infer(payload: Any, binary: bytes, max_batch: int) -> tuple[np.ndarray, list[str], Any]:
    """Validate an inference request: ``(images (N, 28, 28) uint8, requested outputs, request id)``.

    Example:
        >>> images, outputs, _ = parse_infer(
        ...     {"inputs": [{"name": "images", "shape": [1, 784], "datatype": "UINT8", "data": [0] * 784}]},
        ...     b"", max_batch=8)
        >>> images.shape, outputs
        ((1, 28, 28), ['labels', 'letters', 'probabilities'])
    """
    if not isinstance(payload, dict):
        raise V2Error("the request must be a JSON object with an 'inputs' list")
    unknown = set(payload) - {"id", "parameters", "inputs", "outputs"}
    if unknown:
        raise V2Error(f"unknown request field(s) {sorted(unknown)}; expected id, parameters, inputs, outputs")
    inputs = payload.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise V2Error(f"'inputs' must be a list of exactly one tensor named {INPUT_NAME!r}")
    tensor = inputs[0]
    if tensor.get("name") != INPUT_NAME:
        raise V2Error(f"inputs[0].name is {tensor.get('name')!r}; this model's input is named {INPUT_NAME!r}")
    datatype = tensor.get("datatype")
    if not isinstance(datatype, str) or datatype not in _DTYPES:  # a list is unhashable: a 500, not a 400
        raise V2Error(f"inputs[0].datatype {datatype!r} is not supported; send UINT8 or FP32 pixel values 0-255")
    shape = tensor.get("shape")
    if (
        not isinstance(shape, list)
        or not all(type(d) is int for d in shape)
        or len(shape) < 2
        or tuple(shape[1:]) not in _SHAPES
        or shape[0] < 1
    ):
        raise V2Error(f"inputs[0].shape {shape!r} is not one of [N, 784], [N, 28, 28] or [N, 28, 28, 1] (N >= 1)")
    n = shape[0]
    if n > max_batch:
        raise V2Error(f"inputs[0]: a batch of {n} images exceeds the limit of {max_batch}; split it", 413)
    values = _tensor_values(tensor, datatype, n * NUM_PIXELS, binary)
    if datatype == "FP32":
        if not np.isfinite(values).all():
            raise V2Error("inputs[0].data holds NaN or infinite values; pixels are numbers 0-255")
        values = np.rint(values)  # whole pixels, as every other input path of the service takes them
    if values.size and (values.min() < 0 or values.max() > 255):
        raise V2Error(
            f"inputs[0].data holds values from {values.min():g} to {values.max():g}; pixels are 0-255 "
            "(do not scale them to 0..1)"
        )
    return (
        values.astype(np.uint8).reshape(n, IMAGE_SIZE, IMAGE_SIZE),
        _requested(payload.get("outputs")),
        payload.get("id"),
    )


def _tensor_values(tensor: dict[str, Any], datatype: str, size: int, binary: bytes) -> np.ndarray:
    """The tensor's values as a flat array, from JSON ``data`` or from the binary data."""
    parameters = tensor.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise V2Error("inputs[0].parameters must be an object")
    dtype = _DTYPES[datatype]
    if "binary_data_size" in parameters:
        nbytes = parameters["binary_data_size"]
        if type(nbytes) is not int or nbytes != size * dtype.itemsize or nbytes > len(binary):
            raise V2Error(
                f"inputs[0].parameters.binary_data_size is {nbytes!r}; a {datatype} tensor of {size} values is "
                f"{size * dtype.itemsize} bytes ({len(binary)} bytes of binary data were sent)"
            )
        return np.frombuffer(binary[:nbytes], dtype=dtype)
    if "data" not in tensor:
        raise V2Error("inputs[0] has no 'data' (and no binary_data_size parameter)")
    try:
        values = np.asarray(tensor["data"], dtype=np.float64).ravel()
    except (ValueError, TypeError) as exc:
        raise V2Error(f"inputs[0].data must be numbers (a flat or nested list), not {type(exc).__name__}") from exc
    if values.size != size:
        raise V2Error(f"inputs[0].data holds {values.size} values; its shape says {size}")
    if datatype == "UINT8" and not (values == np.rint(values)).all():
        raise V2Error("inputs[0].data holds fractions; UINT8 pixels are whole numbers 0-255")
    return values


def _requested(outputs: Any) -> list[str]:
    if outputs is None:
        return list(OUTPUTS)
    if not isinstance(outputs, list) or not all(isinstance(o, dict) and "name" in o for o in outputs):
        raise V2Error('outputs must be a list of {"name": ...} objects')
    names = [o["name"] for o in outputs]
    unknown = [n for n in names if n not in OUTPUTS]
    if unknown:
        raise V2Error(f"unknown output(s) {unknown}; this model has {list(OUTPUTS)}")
    return names


def infer_response(probabilities: np.ndarray, outputs: list[str], request_id: Any) -> dict[str, Any]:
    """The inference answer: the requested outputs, in the order asked."""
    n = len(probabilities)
    index = np.argmax(probabilities, axis=1)
    tensors = {
        "labels": {"name": "labels", "datatype": "INT64", "shape": [n], "data": _LABELS[index].tolist()},
        "letters": {"name": "letters", "datatype": "BYTES", "shape": [n], "data": _LETTERS[index].tolist()},
        "probabilities": {
            "name": "probabilities",
            "datatype": "FP32",
            "shape": [n, NUM_CLASSES],
            "data": np.asarray(probabilities, dtype=np.float32).ravel().tolist(),
        },
    }
    answer: dict[str, Any] = {"model_name": MODEL_NAME, "model_version": MODEL_VERSION}
    if request_id is not None:
        answer["id"] = request_id
    answer["outputs"] = [tensors[name] for name in outputs]
    return answer


def add_v2_routes(app: FastAPI, *, max_batch: int) -> None:
    """Add the Open Inference Protocol routes to ``app``; the model is ``app.state.model``.

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

    @app.exception_handler(V2Error)
    async def v2_error(request: Request, exc: V2Error) -> Response:
        # One handler for every V2 route: the protocol's {"error": ...} form, not the service's own.
        return _error(exc)

    def check_name(name: str) -> None:
        if name != MODEL_NAME:
            raise V2Error(f"model {name!r} not found; this server serves {MODEL_NAME!r}", 404)

    @app.get("/v2", summary="Open Inference Protocol: server metadata", tags=["v2"])
    async def server_metadata() -> Response:
        return _json({"name": MODEL_NAME, "version": __version__, "extensions": ["binary_tensor_data"]})

    @app.get("/v2/health/live", summary="Open Inference Protocol: liveness (public)", tags=["v2"])
    async def live() -> Response:
        return _json({"live": True})

    @app.get("/v2/health/ready", summary="Open Inference Protocol: readiness (public)", tags=["v2"])
    async def ready() -> Response:
        if getattr(app.state, "model", None) is None:
            return _json({"error": "the model is not loaded"}, 503)
        return _json({"ready": True})

    @app.get("/v2/models/{name}", summary="Open Inference Protocol: model metadata", tags=["v2"])
    async def metadata(name: str) -> Response:
        check_name(name)
        return _json(model_metadata())

    @app.get("/v2/models/{name}/ready", summary="Open Inference Protocol: model readiness", tags=["v2"])
    async def model_ready(name: str) -> Response:
        check_name(name)
        return _json({"name": name, "ready": getattr(app.state, "model", None) is not None})

    @app.post("/v2/models/{name}/infer", summary="Open Inference Protocol: inference", tags=["v2"])
    async def infer(name: str, request: Request) -> Response:
        check_name(name)
        payload, binary = split_body(await request.body(), request.headers.get("inference-header-content-length"))
        images, outputs, request_id = parse_infer(payload, binary, max_batch)
        model = app.state.model
        if len(images) > _INLINE_IMAGES:
            probabilities = await run_in_threadpool(model.predict_proba, images)
        else:
            probabilities = model.predict_proba(images)
        return _json(infer_response(np.asarray(probabilities), outputs, request_id))


__all__ = [
    "INPUT_NAME",
    "MODEL_NAME",
    "MODEL_VERSION",
    "OUTPUTS",
    "V2Error",
    "add_v2_routes",
    "infer_response",
    "model_metadata",
    "parse_infer",
    "split_body",
]
