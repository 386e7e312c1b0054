"""The Open Inference Protocol (KServe V2) beside the service's own routes: requests and answers.

Its routes are rows of the endpoint table (``_endpoints.V2_ENDPOINTS``); their functions
are in ``_v2_endpoints.py``.

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

Bounds (hostile clients): a request names each output at most once and its ``id`` is a
string of at most :data:`MAX_ID_CHARS` characters, so an answer holds at most
``N x (24 probabilities + a label + a letter)`` values: about 0.3 KB an image, far below
the request size limit, which the answer is checked against as well (the answer never
exceeds the request limit). Pixel values follow ``/score``'s rules: JSON numbers only (no
booleans, no strings), whole numbers 0-255 for UINT8. Bodies over 256 KiB are parsed in a
child process (``_offload.py``), so ``/health`` keeps answering while a large request is read.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import Request
from fastapi.responses import Response

from asl_recog.data._labels import LABELS, LETTERS, NUM_CLASSES
from asl_recog.serving._requests import (
    IMAGE_SIZE,
    NUM_PIXELS,
    RequestError,
    dumps,
    loads,
)

#: The name the model is served under (``/v2/models/asl-recog/...``) and its one version, unless
#: it was served from the MLflow registry: then its version is the registered model's version.
MODEL_NAME = "asl-recog"
MODEL_VERSION = "1"
INPUT_NAME = "images"
OUTPUTS = ("labels", "letters", "probabilities")
_DTYPES: dict[str, np.dtype[Any]] = {"UINT8": np.dtype(np.uint8), "FP32": np.dtype("<f4")}
_SHAPES = ((NUM_PIXELS,), (IMAGE_SIZE, IMAGE_SIZE), (IMAGE_SIZE, IMAGE_SIZE, 1))
#: The longest request ``id`` echoed back (the protocol's id is a string; a long one would
#: make every answer as large as the request).
MAX_ID_CHARS = 256
#: Digits of an ``Inference-Header-Content-Length``: enough for any body the service
#: accepts; Python refuses to convert digit strings over 4300 digits (a 500, not a 400).
_MAX_LENGTH_DIGITS = 18
_LABELS, _LETTERS = np.asarray(LABELS, dtype=np.int64), np.asarray(LETTERS)


class V2Error(Exception):
    """A request the protocol answers with ``{"error": message}`` and ``status``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled back from the parsing process (_offload.py): keep the status, not just the message.
        return (V2Error, (str(self), self.status))


def _json(content: Any, status: int = 200) -> Response:
    return Response(dumps(content), status_code=status, media_type="application/json")


async def error_response(request: Request, exc: V2Error) -> Response:
    """The exception handler of :class:`V2Error`: the protocol's ``{"error": ...}`` form, not the service's own."""
    return _json({"error": str(exc)}, exc.status)


def model_metadata(platform: str = "onnxruntime_onnx", version: str = MODEL_VERSION) -> dict[str, Any]:
    """The ``GET /v2/models/{name}`` answer: inputs, outputs, datatypes and shapes (-1: any batch size).

    ``version`` is the one version served (a registered model's version, when served from the registry).

    Example:
        >>> meta = model_metadata()
        >>> meta["versions"], meta["inputs"], [o["name"] for o in meta["outputs"]]
        (['1'], [{'name': 'images', 'datatype': 'UINT8', 'shape': [-1, 784]}], ['labels', 'letters', 'probabilities'])
    """
    return {
        "name": MODEL_NAME,
        "versions": [version],
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
    if (
        not (header_length.isascii() and header_length.isdigit())
        or len(header_length) > _MAX_LENGTH_DIGITS
        or int(header_length) > len(body)
    ):
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


def parse_infer(
    payload: Any, binary: bytes, max_batch: int, *, strict: bool = True
) -> tuple[np.ndarray, list[str], str | None]:
    """Validate an inference request: ``(images (N, 28, 28) uint8, requested outputs, request id)``.

    ``strict=False`` skips the value-by-value search for booleans, for a body known to hold
    no JSON ``true``/``false`` (the route checks the raw bytes, as ``/score`` does).

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
    values = _tensor_values(tensor, datatype, n * NUM_PIXELS, binary, strict)
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
        _request_id(payload.get("id")),
    )


def _request_id(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_ID_CHARS:
        shown = f"a string of {len(value)} characters" if isinstance(value, str) else type(value).__name__
        raise V2Error(f"id must be a string of at most {MAX_ID_CHARS} characters, got {shown}")
    return value


def _tensor_values(tensor: dict[str, Any], datatype: str, size: int, binary: bytes, strict: bool) -> np.ndarray:
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
    data = tensor["data"]
    try:
        # No dtype: numpy reports what the JSON held (strings as "U", integers past 64 bits as
        # "O"), where float64 would convert numeric strings and overflow on huge integers.
        values = np.asarray(data).ravel()
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise V2Error(f"inputs[0].data must be numbers (a flat or nested list), not {type(exc).__name__}") from exc
    if values.dtype.kind not in "iuf" or (strict and _has_boolean(data)):  # /score's rule: JSON numbers only
        raise V2Error(
            f"inputs[0].data must be numbers, and it holds {_not_numbers(values)}; pixels are JSON "
            "numbers 0-255 (no strings, no booleans, no integers beyond 0-255)"
        )
    values = values.astype(np.float64)
    if values.size != size:
        raise V2Error(f"inputs[0].data holds {values.size} values; its shape says {size}")
    if datatype == "UINT8" and not (values == np.rint(values)).all():
        raise V2Error("inputs[0].data holds fractions; UINT8 pixels are whole numbers 0-255")
    return values


def _has_boolean(data: Any) -> bool:
    """Whether a JSON list holds a boolean anywhere: numpy would score ``true`` as pixel 1.

    Booleans beside numbers vanish into an integer array, so the values themselves are
    walked; only lists are entered (numpy has already refused other containers).
    """
    stack = [data]
    while stack:
        item = stack.pop()
        if type(item) is bool:
            return True
        if type(item) is list:
            stack.extend(item)
    return False


def _not_numbers(values: np.ndarray) -> str:
    kind = values.dtype.kind
    return {"b": "booleans", "U": "strings", "S": "strings", "O": "values that are not 64-bit numbers"}.get(
        kind, "booleans" if kind in "iuf" else f"values of type {values.dtype}"
    )


def _requested(outputs: Any) -> list[str]:
    """The requested output names, each once: a repeated name would repeat its tensor in the answer."""
    if outputs is None:
        return list(OUTPUTS)
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
    ):
        raise V2Error('outputs must be a list of {"name": "<output>"} objects')
    if len(outputs) > len(OUTPUTS):
        raise V2Error(f"outputs names {len(outputs)} tensors; this model has {len(OUTPUTS)}: {list(OUTPUTS)}")
    names = [o["name"] for o in outputs]
    unknown = [n for n in names if n not in OUTPUTS]
    if unknown:
        raise V2Error(f"unknown output(s) {unknown}; this model has {list(OUTPUTS)}")
    if len(set(names)) != len(names):
        raise V2Error(f"outputs names a tensor twice ({names}); ask for each of {list(OUTPUTS)} at most once")
    return names


def infer_response(
    probabilities: np.ndarray, outputs: list[str], request_id: Any, version: str = MODEL_VERSION
) -> dict[str, Any]:
    """The inference answer: the requested outputs, in the order asked, from model version ``version``."""
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
    answer: dict[str, Any] = {"model_name": MODEL_NAME, "model_version": version}
    if request_id is not None:
        answer["id"] = request_id
    answer["outputs"] = [tensors[name] for name in outputs]
    return answer


def parse_request(body: bytes, header_length: str | None, max_batch: int) -> tuple[np.ndarray, list[str], str | None]:
    """An inference request's body: ``(images, requested outputs, request id)`` (a child process may run it)."""
    payload, binary = split_body(body, header_length)
    # JSON true/false are the only values numpy silently turns into pixels; a body without
    # them needs no walk over every value (the same test as /score's parse_json).
    return parse_infer(payload, binary, max_batch, strict=b"true" in body or b"false" in body)


__all__ = [
    "INPUT_NAME",
    "MAX_ID_CHARS",
    "MODEL_NAME",
    "MODEL_VERSION",
    "OUTPUTS",
    "V2Error",
    "error_response",
    "infer_response",
    "model_metadata",
    "parse_infer",
    "parse_request",
    "split_body",
]
