"""Reading an exported ONNX file's metadata as data, and the Zoo-convention entries a run record carries.

Below :mod:`asl_recog.models._record`: the record reads files through this module, and the
views (:mod:`asl_recog.models._record_onnx`, :mod:`asl_recog.models._model_card`) sit above both.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from asl_recog._errors import ModelFileError
from asl_recog.data._labels import LETTERS
from asl_recog.models._onnx_format import CHECKSUM_KEY, import_onnx, metadata_checksum

#: What an input scaling means, in words (the preprocessing entry of the metadata).
SCALING_WORDS = {"unit": "pixel / 255: float32 in 0..1", "raw": "pixel values 0..255 as they are"}


def label_map(classes: list[int] | None) -> dict[str, str]:
    """Output column (as text) -> the letter it scores; ``classes`` are the columns' class indices.

    Example:
        >>> label_map(None)["0"], label_map(None)["23"], len(label_map(None))
        ('A', 'Y', 24)
    """
    indices = classes if classes is not None else list(range(len(LETTERS)))
    return {str(column): LETTERS[int(index)] for column, index in enumerate(indices)}


def preprocessing(layout: str, scaling: str, shape: Any) -> dict[str, Any]:
    """What the graph's input expects, for a client that does not use asl_recog.

    Example:
        >>> preprocessing("flat", "unit", [None, 784])["scaling"]
        'pixel / 255: float32 in 0..1'
    """
    return {
        "image": "28x28 grayscale, the hand filling a square crop, as Sign Language MNIST's images",
        "layout": layout,
        "shape": shape,
        "scaling": SCALING_WORDS.get(scaling, scaling),
        "input_scaling": scaling,
        "output": "probabilities (N, 24): column i scores label_map[str(i)]",
    }


def read_props(path: str | os.PathLike[str]) -> tuple[Any, dict[str, str]]:
    """The ModelProto of an ONNX file and its metadata_props, the asl_recog checksum verified when present.

    Raises:
        ModelFileError: missing or unreadable file, or a checksum that does not match.
    """
    onnx = import_onnx()
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such ONNX model file")
    try:
        proto = onnx.load_from_string(path.read_bytes())
    except Exception as exc:  # protobuf's DecodeError and friends
        raise ModelFileError(f"{path}: not a readable ONNX file ({exc}); it may be truncated. Re-export it.") from exc
    props = {p.key: p.value for p in proto.metadata_props}
    if CHECKSUM_KEY in props:
        expected = metadata_checksum(proto.graph.SerializeToString(deterministic=True), props)
        if expected != props[CHECKSUM_KEY]:
            raise ModelFileError(f"{path}: checksum mismatch; the ONNX file was modified after export. Re-export it.")
    return proto, props


__all__ = ["SCALING_WORDS", "label_map", "preprocessing", "read_props"]
