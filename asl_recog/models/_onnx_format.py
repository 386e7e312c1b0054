"""What an ONNX sign classifier's file says: its checksum, metadata, class names and input layout.

Pure reading of the graph and of its input and output descriptions; running the
graph is :class:`asl_recog.models._onnx.OnnxModel`'s job.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from asl_recog._errors import MissingDependencyError, ModelFileError
from asl_recog.data._labels import IMAGE_SIZE, LABELS, LETTERS, NUM_CLASSES, NUM_PIXELS

#: metadata_props key holding the checksum of the graph and the other metadata.
CHECKSUM_KEY = "asl_recog.sha256"
#: metadata_props key of an int8 file: what was quantized, how, and the agreement measured
#: (written by :mod:`~asl_recog.models._quantize`; its presence makes a record's ``weights`` "int8").
QUANTIZATION_KEY = "asl_recog.quantization"
#: Input layouts: flat pixel rows, channels-last images, channels-first images, one input per pixel column.
LAYOUTS = ("flat", "NHWC", "NCHW", "columns")
#: Input scalings: pixels divided by 255 ("unit", 0..1) or left as 0..255 ("raw").
SCALINGS = ("unit", "raw")
#: Output names that hold class probabilities, most likely first.
PROBA_NAMES = ("probabilities", "output_probability", "probability", "output_probabilities", "probs")
#: onnxruntime's tensor types -> numpy dtypes.
ORT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(uint8)": np.uint8,
}


def import_ort() -> Any:
    """onnxruntime, or a :class:`MissingDependencyError` saying how to reinstall it."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise MissingDependencyError("onnxruntime", "Running ONNX models", exc) from exc
    return onnxruntime


def quiet_session(model_bytes: bytes) -> Any:
    """An onnxruntime CPU session that logs errors only.

    onnxruntime warns on stderr, in its own format, about graph clean-ups such as an unused
    initializer that skl2onnx leaves in some classifiers: nothing a user can act on.
    """
    ort = import_ort()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model_bytes, sess_options=options, providers=["CPUExecutionProvider"])


def import_onnx() -> Any:
    """onnx, or a :class:`MissingDependencyError` saying how to reinstall it."""
    try:
        import onnx
    except ImportError as exc:
        raise MissingDependencyError("onnx", "Reading ONNX models", exc) from exc
    return onnx


def metadata_checksum(graph_bytes: bytes, props: dict[str, str]) -> str:
    """SHA-256 over the serialized graph and every metadata entry but the checksum itself."""
    digest = hashlib.sha256(graph_bytes)
    digest.update(json.dumps({k: v for k, v in props.items() if k != CHECKSUM_KEY}, sort_keys=True).encode())
    return digest.hexdigest()


def decode_props(props: dict[str, str]) -> dict[str, Any]:
    """Parse JSON metadata values; foreign (non-JSON) values stay strings."""
    out: dict[str, Any] = {}
    for key, value in props.items():
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def class_columns(classes: list[Any]) -> np.ndarray:
    """Class index (0-23) of each class a graph names: dataset labels, class indices or letters.

    Integer classes containing 9 (J, never a dataset label) are class indices;
    other integer classes are dataset labels.
    """
    keys = [str(c).strip() for c in classes]
    if all(k.upper() in LETTERS for k in keys):
        return np.asarray([LETTERS.index(k.upper()) for k in keys], dtype=np.int64)
    try:
        ints = [int(k) for k in keys]
    except ValueError as exc:
        raise ModelFileError(f"the graph's classes {classes[:5]}... are neither letters nor labels") from exc
    if 9 in ints or set(ints) - set(LABELS):
        if min(ints) < 0 or max(ints) >= NUM_CLASSES:
            raise ModelFileError(f"the graph's classes {sorted(ints)} are not 24 sign classes")
        return np.asarray(ints, dtype=np.int64)
    return np.asarray([LABELS.index(i) for i in ints], dtype=np.int64)


def graph_classes(graph: Any) -> list[Any] | None:
    """Class labels declared by a classifier or ZipMap node of the graph, if any."""
    for node in graph.node:
        for attr in node.attribute:
            if attr.name in ("classlabels_int64s", "classlabels_ints") and attr.ints:
                return list(attr.ints)
            if attr.name == "classlabels_strings" and attr.strings:
                return [s.decode() for s in attr.strings]
    return None


def infer_layout(shape: list[Any], source: str) -> str:
    """The layout of a single image input from its shape (for graphs whose metadata names none)."""
    dims = [d if isinstance(d, int) else None for d in shape[1:]]
    if dims == [NUM_PIXELS]:
        return "flat"
    if dims == [IMAGE_SIZE, IMAGE_SIZE, 1]:
        return "NHWC"
    if dims == [1, IMAGE_SIZE, IMAGE_SIZE]:
        return "NCHW"
    raise ModelFileError(
        f"{source}: the graph's input has shape {shape}; expected (N, 784) pixel rows "
        "or (N, 28, 28, 1) images. This is not a 28x28 sign classifier."
    )


def check_shape(shape: list[Any], layout: str, source: str) -> None:
    """Fail unless the input's fixed dimensions fit ``layout`` (symbolic ones fit anything)."""
    want = {
        "flat": [NUM_PIXELS],
        "NHWC": [IMAGE_SIZE, IMAGE_SIZE, 1],
        "NCHW": [1, IMAGE_SIZE, IMAGE_SIZE],
        "columns": [1],
    }[layout]
    dims = shape[1:]
    if len(dims) != len(want) or any(isinstance(d, int) and d != w for d, w in zip(dims, want, strict=False)):
        raise ModelFileError(
            f"{source}: the graph's input has shape {shape}, which does not match "
            f"its {layout} layout (expected (N, {', '.join(map(str, want))}))"
        )


def map_columns(inputs: list[Any], mapping: Any, source: str) -> list[tuple[str, Any]]:
    """Pixel column i -> its graph input and dtype, via AutoML's name map, the names, or the order.

    Args:
        inputs: the session's input descriptions (one per pixel column).
        mapping: the ``RawColumnNameToOnnxNameMap`` metadata entry, if any.
        source: the model's name, for messages.
    """
    by_name = {i.name: i for i in inputs}
    names: list[str]
    if isinstance(mapping, dict) and all(f"pixel{i}" in mapping for i in range(1, NUM_PIXELS + 1)):
        names = [mapping[f"pixel{i}"] for i in range(1, NUM_PIXELS + 1)]
    elif all(f"pixel{i}" in by_name for i in range(1, NUM_PIXELS + 1)):
        names = [f"pixel{i}" for i in range(1, NUM_PIXELS + 1)]
    else:
        names = [i.name for i in inputs]
    if any(n not in by_name for n in names):
        raise ModelFileError(f"{source}: RawColumnNameToOnnxNameMap names inputs the graph lacks")
    columns = []
    for name in names:
        dtype = ORT_DTYPES.get(by_name[name].type)
        if dtype is None:
            raise ModelFileError(f"{source}: pixel input {name!r} has type {by_name[name].type}")
        columns.append((name, dtype))
    return columns


__all__ = [
    "CHECKSUM_KEY",
    "QUANTIZATION_KEY",
    "LAYOUTS",
    "SCALINGS",
    "PROBA_NAMES",
    "ORT_DTYPES",
    "import_ort",
    "import_onnx",
    "metadata_checksum",
    "quiet_session",
    "decode_props",
    "class_columns",
    "graph_classes",
    "infer_layout",
    "check_shape",
    "map_columns",
]
