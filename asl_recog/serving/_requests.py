"""Parsing every /score JSON body into a validated uint8 ``(N, 28, 28)`` batch.

Standalone on purpose: this file imports only numpy and the standard library, so
the Azure deployers ship it unchanged beside the generated ``score.py`` and the
cloud service accepts exactly what the local one does.

Accepted shapes (see docs/serving.md):

* Azure AutoML v1: ``{"data": [row, ...], "method": "predict"}`` (``method`` optional)
* Azure AutoML v2: ``{"Inputs": {"data": [row, ...]}, "GlobalParameters": {"method": "predict_proba"}}``
* Azure v2 managed endpoint / MLflow: ``{"input_data": {"columns": [...], "index": [...], "data": [[...]]}}``
  (or ``"input_data": [row, ...]``), and MLflow's ``dataframe_split``, ``dataframe_records``,
  ``instances`` and ``inputs``.

A row is a record ``{"pixel1": 0, ..., "pixel784": 255}``, a list of 784 numbers,
or a 28x28 (or 28x28x1) nested list. Pixels are whole numbers 0-255.

The fast path validates with numpy; only a batch that fails a check is walked
value by value to name the first bad one (``data[3].pixel17: value 300 is outside 0-255``).

Example:
    >>> import json
    >>> req = parse_json(json.dumps({"data": [[0] * 783 + [255]]}), max_batch=64)  # one image, 784 values
    >>> req.images.shape, req.proba
    ((1, 28, 28), False)
"""

from __future__ import annotations

import functools
import importlib
import json
import math
import operator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

try:  # orjson parses these bodies 4-6x faster; the standard library is the fallback
    _orjson: ModuleType | None = importlib.import_module("orjson")
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None

IMAGE_SIZE = 28
NUM_PIXELS = IMAGE_SIZE * IMAGE_SIZE
PIXEL_COLUMNS: tuple[str, ...] = tuple(f"pixel{i}" for i in range(1, NUM_PIXELS + 1))
_PIXEL_SET = frozenset(PIXEL_COLUMNS)
_GET_PIXELS = operator.itemgetter(*PIXEL_COLUMNS)
METHODS = ("predict", "predict_proba")
#: top-level key -> name of the request shape
SHAPES = {
    "data": "automl_v1",
    "Inputs": "automl_v2",
    "input_data": "input_data",
    "dataframe_split": "mlflow_dataframe_split",
    "dataframe_records": "mlflow_dataframe_records",
    "instances": "mlflow_instances",
    "inputs": "mlflow_inputs",
}
_OPTIONAL_TOP = {"automl_v1": {"method"}, "automl_v2": {"GlobalParameters"}}
_KINDS = {type(None): "null", dict: "an object", list: "a list", bool: "a boolean", int: "a number", float: "a number"}


class RequestError(ValueError):
    """A request the service cannot score; becomes a 4xx JSON response.

    Attributes:
        status: the HTTP status (400 unreadable JSON, 413 too large, 422 invalid content).
        code: a short machine-readable error code.
        where: the JSON path of the problem, e.g. ``data[3].pixel17``, or None.
        problem: what is wrong, without the location.
    """

    def __init__(
        self, problem: str, *, where: str | None = None, status: int = 422, code: str = "invalid_input"
    ) -> None:
        self.problem, self.where, self.status, self.code = problem, where, status, code
        super().__init__(f"{where}: {problem}" if where else problem)

    def __reduce__(self) -> tuple[Any, ...]:
        # Large bodies are parsed in a child process (_offload.py); its errors come back pickled,
        # and the default pickling would rebuild them from the message alone (losing status and where).
        return (functools.partial(RequestError, where=self.where, status=self.status, code=self.code), (self.problem,))

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of the error response."""
        return {"error": self.code, "detail": str(self), "where": self.where}


@dataclass(frozen=True)
class ScoreRequest:
    """A validated scoring request.

    Attributes:
        images: ``(N, 28, 28)`` uint8 images.
        proba: whether class probabilities were asked for.
        shape: which request shape it came in (a value of :data:`SHAPES`).
    """

    images: np.ndarray
    proba: bool
    shape: str


def loads(body: bytes | str) -> Any:
    """Decode JSON, raising :class:`RequestError` (400) when it is not JSON.

    orjson (when installed) parses first; a body it refuses is re-read by the
    standard library, which accepts NaN/Infinity and integers beyond 64 bits, so
    those reach validation and get a message naming the value and its place.
    """
    if _orjson is not None:
        try:
            return _orjson.loads(body)
        except (ValueError, TypeError):
            pass
    try:
        return json.loads(body)
    except (ValueError, TypeError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise RequestError(f"the body is not valid JSON ({exc})", status=400, code="invalid_json") from exc


def dumps(content: Any) -> bytes:
    """Encode a response body as UTF-8 JSON (single-encoded: an object, never a JSON string of JSON)."""
    if _orjson is not None:
        return _orjson.dumps(content)
    return json.dumps(content, separators=(",", ":")).encode()


def parse_json(body: bytes | str, *, max_batch: int, proba: bool = False) -> ScoreRequest:
    """Parse and validate a JSON request body.

    Args:
        body: the raw body.
        max_batch: the most images one request may hold (more gives 413).
        proba: probabilities were asked for outside the body (``?proba=true``).

    Raises:
        RequestError: naming what is wrong and where.
    """
    # JSON true/false are the only values numpy would silently turn into pixels
    # (True -> 1), so a body containing them gets the exact per-value type check.
    strict = (b"true" in body or b"false" in body) if isinstance(body, bytes) else True
    return parse_payload(loads(body), max_batch=max_batch, proba=proba, strict=strict)


def parse_payload(payload: Any, *, max_batch: int, proba: bool = False, strict: bool = True) -> ScoreRequest:
    """Validate an already-decoded JSON payload (see :func:`parse_json`)."""
    if not isinstance(payload, dict):
        raise RequestError(f"the body must be a JSON object, got {_kind(payload)}", where="$", code="unknown_shape")
    found = [key for key in payload if key in SHAPES]
    if len(found) != 1:
        listed = ", ".join(repr(k) for k in list(payload)[:6]) or "none"
        problem = "several request shapes at once" if found else "unknown request shape"
        raise RequestError(
            f"{problem} (top-level keys: {listed}); send one of {sorted(SHAPES)}, "
            'e.g. {"data": [{"pixel1": 0, ..., "pixel784": 255}]}',
            where="$",
            code="unknown_shape",
        )
    key = found[0]
    shape = SHAPES[key]
    extra = set(payload) - {key} - _OPTIONAL_TOP.get(shape, set())
    if extra:
        raise RequestError(f"unexpected key(s) {sorted(extra)} beside {key!r}", where="$")
    body = payload[key]
    columns = None
    if shape == "automl_v1":
        proba = _method(payload.get("method"), "method") or proba
        rows, where = body, "data"
    elif shape == "automl_v2":
        params = payload.get("GlobalParameters")
        if params is not None:
            if not isinstance(params, dict):
                raise RequestError(f"expected an object, got {_kind(params)}", where="GlobalParameters")
            unknown = set(params) - {"method"}
            if unknown:
                raise RequestError(
                    f"unknown parameter(s) {sorted(unknown)}; only 'method' is supported", where="GlobalParameters"
                )
            proba = _method(params.get("method"), "GlobalParameters.method") or proba
        if not isinstance(body, dict) or set(body) != {"data"}:
            raise RequestError('expected {"data": [rows]}', where="Inputs")
        rows, where = body["data"], "Inputs.data"
    elif shape in ("input_data", "mlflow_dataframe_split") and isinstance(body, dict):
        rows, columns, where = _split_frame(body, key)
    else:
        rows, where = body, key
    return ScoreRequest(
        rows_to_images(rows, where=where, max_batch=max_batch, columns=columns, strict=strict), bool(proba), shape
    )


def _method(value: Any, where: str) -> bool:
    """True when ``method`` asks for probabilities."""
    if value is None:
        return False
    if value not in METHODS:
        raise RequestError(f"method {value!r} is not one of {list(METHODS)}", where=where)
    return value == "predict_proba"


def _split_frame(body: dict[str, Any], key: str) -> tuple[Any, list[int] | None, str]:
    """Rows and column order of a pandas 'split' frame ``{"columns", "index", "data"}``."""
    unknown = set(body) - {"columns", "index", "data"}
    if unknown or "data" not in body:
        raise RequestError(
            f'expected {{"columns": [...], "index": [...], "data": [[...]]}}, got keys {sorted(body)}', where=key
        )
    rows, columns = body["data"], body.get("columns")
    order = None
    if columns is not None:
        # Names are checked to be strings before the set: a list or object name is unhashable.
        if (
            not isinstance(columns, list)
            or len(columns) != NUM_PIXELS
            or not all(type(name) is str for name in columns)
            or set(columns) != _PIXEL_SET
        ):
            names = columns[:3] if isinstance(columns, list) else columns
            raise RequestError(
                f"columns must be pixel1..pixel{NUM_PIXELS}, each once (got {repr(names)[:80]}...)",
                where=f"{key}.columns",
            )
        position = {name: i for i, name in enumerate(columns)}
        order = [position[name] for name in PIXEL_COLUMNS]
    index = body.get("index")
    if index is not None and (not isinstance(index, list) or not isinstance(rows, list) or len(index) != len(rows)):
        raise RequestError("index must be a list with one entry per data row", where=f"{key}.index")
    return rows, order, f"{key}.data"


def rows_to_images(
    rows: Any, *, where: str, max_batch: int, columns: list[int] | None = None, strict: bool = True
) -> np.ndarray:
    """Turn a list of rows (records or pixel lists) into ``(N, 28, 28)`` uint8 images.

    Args:
        rows: the decoded rows.
        where: JSON path of ``rows``, for messages.
        max_batch: most rows accepted (more gives 413).
        columns: for positional rows, the position of pixel1..pixel784 in each row.
        strict: check every value's JSON type (set when the body holds true/false).
    """
    if not isinstance(rows, list):
        raise RequestError(f"expected a list of rows, got {_kind(rows)}", where=where)
    if not rows:
        raise RequestError("empty batch: send at least one image", where=where, code="empty_batch")
    if len(rows) > max_batch:
        raise RequestError(
            f"batch of {len(rows)} images exceeds the limit of {max_batch} per request; split it into smaller requests",
            where=where,
            status=413,
            code="batch_too_large",
        )
    if strict:
        _explain(rows, where, columns, only_types=True)
    try:
        if type(rows[0]) is dict:
            if any(type(r) is not dict or len(r) != NUM_PIXELS for r in rows):
                raise ValueError
            values: Any = [_GET_PIXELS(r) for r in rows]
        else:
            values = rows
        arr = np.array(values)
    except (ValueError, KeyError, TypeError, OverflowError):  # ragged, missing keys, mixed row kinds
        _explain(rows, where, columns)
        raise  # pragma: no cover - _explain always raises
    n = len(rows)
    if (
        arr.shape not in ((n, NUM_PIXELS), (n, IMAGE_SIZE, IMAGE_SIZE), (n, IMAGE_SIZE, IMAGE_SIZE, 1))
        or (columns is not None and arr.ndim != 2)
        or arr.dtype.kind not in "iuf"
    ):
        _explain(rows, where, columns)
    if arr.size and (
        arr.min() < 0
        or arr.max() > 255
        or (arr.dtype.kind == "f" and not (np.isfinite(arr).all() and (arr == np.rint(arr)).all()))
    ):
        _explain(rows, where, columns)
    if columns is not None:
        arr = arr[:, columns]
    return arr.astype(np.uint8).reshape(n, IMAGE_SIZE, IMAGE_SIZE)


def _explain(rows: list[Any], where: str, columns: list[int] | None, only_types: bool = False) -> None:
    """Walk the rows and raise a :class:`RequestError` naming the first bad value.

    With ``only_types`` it returns quietly when every value is a JSON number.
    """
    names = [PIXEL_COLUMNS[i] for i in np.argsort(columns)] if columns is not None else None
    for i, row in enumerate(rows):
        at = f"{where}[{i}]"
        if isinstance(row, dict):
            extra = [k for k in row if k not in _PIXEL_SET]
            if extra:
                hint = "; drop the label column before scoring" if "label" in extra else ""
                raise RequestError(
                    f"unexpected key(s) {_short(extra)}; a record holds only pixel1..pixel{NUM_PIXELS}{hint}", where=at
                )
            missing = [c for c in PIXEL_COLUMNS if c not in row]
            if missing:
                raise RequestError(
                    f"{len(missing)} pixel key(s) missing: {_short(missing)}; "
                    f"a record needs all of pixel1..pixel{NUM_PIXELS}",
                    where=at,
                )
            values = [(f"{at}.{c}", row[c]) for c in PIXEL_COLUMNS]
        elif isinstance(row, list):
            values = _row_values(row, at, names)
        else:
            raise RequestError(
                f'a row must be an object {{"pixel1": ..., "pixel{NUM_PIXELS}": ...}} or a '
                f"list of {NUM_PIXELS} numbers, got {_kind(row)}",
                where=at,
            )
        for path, value in values:
            _check_value(value, path, only_types)
    if not only_types:
        raise RequestError(
            "the rows mix layouts; send every row the same way (all records, all lists of "
            f"{NUM_PIXELS} numbers, or all 28x28 lists)",
            where=where,
        )


def _row_values(row: list[Any], at: str, names: list[str] | None) -> list[tuple[str, Any]]:
    """(path, value) pairs of a positional row: 784 numbers, or 28x28(x1) nested lists."""
    if len(row) == NUM_PIXELS and not any(isinstance(v, list) for v in row):
        if names is not None:
            return [(f"{at}[{j}] ({names[j]})", v) for j, v in enumerate(row)]
        return [(f"{at}[{j}]", v) for j, v in enumerate(row)]
    if names is None and len(row) == IMAGE_SIZE and all(isinstance(line, list) for line in row):
        out = []
        for y, line in enumerate(row):
            if len(line) != IMAGE_SIZE:
                raise RequestError(f"image row has {len(line)} values; expected {IMAGE_SIZE}", where=f"{at}[{y}]")
            for x, v in enumerate(line):
                path = f"{at}[{y}][{x}]"
                if isinstance(v, list):  # (28, 28, 1): one grayscale channel
                    if len(v) != 1:
                        raise RequestError(f"pixel has {len(v)} channels; expected 1 (grayscale)", where=path)
                    v, path = v[0], path + "[0]"
                out.append((path, v))
        return out
    nested = " or a 28x28 nested list" if names is None else ""
    count = f"{len(row)} value{'' if len(row) == 1 else 's'}"
    raise RequestError(f"row has {count}; expected {NUM_PIXELS} pixels (pixel1..pixel{NUM_PIXELS}){nested}", where=at)


def _check_value(value: Any, where: str, only_types: bool = False) -> None:
    kind = type(value)
    if kind is bool:
        raise RequestError(f"value {json.dumps(value)} is a boolean; pixels are numbers 0-255", where=where)
    if kind is not int and kind is not float:
        raise RequestError(f"value {_kind(value)} is not a number; pixels are numbers 0-255", where=where)
    if only_types:
        return
    if kind is float and math.isnan(value):
        raise RequestError("value is NaN; every pixel needs a number 0-255", where=where)
    if not 0 <= value <= 255:
        raise RequestError(f"value {_number(value)} is outside 0-255", where=where)
    if kind is float and value != round(value):
        raise RequestError(
            f"value {_number(value)} is not a whole number; pixels are 0-255 integers (do not scale them to 0..1)",
            where=where,
        )


def _number(value: float) -> str:
    text = repr(value)
    return text if len(text) <= 24 else text[:21] + "..."


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return f"the string {value[:20]!r}"
    return _KINDS.get(type(value), type(value).__name__)


def _short(names: list[str], limit: int = 4) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def score_response(
    labels: list[int], letters: list[str], probabilities: Any = None, classes: list[str] | None = None
) -> dict[str, Any]:
    """The response body: ``{"result": labels, "letters": letters}`` (+ probabilities).

    ``probabilities`` is ``(N, 24)`` in the order of ``classes`` (the letters A-Y without J).
    """
    out: dict[str, Any] = {"result": labels, "letters": letters}
    if probabilities is not None:
        out["probabilities"] = np.round(np.asarray(probabilities, dtype=np.float64), 6).tolist()
        out["classes"] = classes
    return out
