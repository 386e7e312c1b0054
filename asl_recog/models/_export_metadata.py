"""What :func:`~asl_recog.models._export.export_onnx` writes into the graph: metadata, checksum and header.

The JSON ``metadata_props`` (labels, letters, input layout and scaling, training params, the
run record, any extra entries), the checksum over the graph and those entries that
:class:`OnnxModel` verifies on load, and the ONNX Model Zoo's header fields
(:mod:`asl_recog.models._record_onnx`).
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

from asl_recog._version import __version__
from asl_recog.data._labels import IMAGE_SIZE, LABELS, LETTERS, NUM_CLASSES, NUM_PIXELS
from asl_recog.models._base import Model
from asl_recog.models._onnx import OnnxModel
from asl_recog.models._onnx_format import CHECKSUM_KEY, QUANTIZATION_KEY, metadata_checksum
from asl_recog.models._record import RunRecord
from asl_recog.models._record_onnx import apply_header, zoo_props


def set_metadata(
    proto: Any, model: Model, *, layout: str, kind: str, extra: dict[str, Any] | None, record: RunRecord | None
) -> RunRecord:
    """Write the metadata, checksum and header into ``proto``; return the record as written.

    Args:
        proto: the converted graph (changed in place).
        model: the model it was converted from (its ``info``, ``params`` and classes).
        layout: the graph input's layout (``"flat"``, ``"NHWC"``...).
        kind: the model's format (``"sklearn"``, ``"keras"``, ``"onnx"``).
        extra: entries the caller adds (they win over the defaults, not over the record).
        record: the model's run record; default :meth:`RunRecord.from_model` of ``model``.
    """
    old = {p.key: p.value for p in proto.metadata_props if p.key != CHECKSUM_KEY}
    info = dict(model.info)
    # An ONNX model being re-exported keeps its own scaling and class mapping (e.g. Azure AutoML's).
    inherited = model.metadata if isinstance(model, OnnxModel) else {}
    classes = getattr(getattr(model, "estimator", None), "classes_", None)
    values: dict[str, Any] = {
        "labels": list(LABELS),
        "letters": list(LETTERS),
        "input_layout": layout,
        "input_scaling": inherited.get("input_scaling", "unit"),
        "input_shape": {
            "flat": [None, NUM_PIXELS],
            "NHWC": [None, IMAGE_SIZE, IMAGE_SIZE, 1],
            "NCHW": [None, 1, IMAGE_SIZE, IMAGE_SIZE],
        }.get(layout, f"{NUM_PIXELS} inputs of [None, 1]"),
        "output": "probabilities (N, 24) in class-index (letters) order",
        "asl_recog_version": __version__,
        "source_kind": kind,
        "algorithm": info.get("algorithm", type(getattr(model, "estimator", model)).__name__),
        "params": model.params,
        "info": info,
        "validation_score": info.get("validation_score"),
        "primary_metric": info.get("primary_metric"),
        "training_seconds": info.get("training_seconds"),
        "exported_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    if classes is not None:
        values["classes"] = [int(c) for c in classes]
    elif not inherited:
        values["classes"] = list(range(NUM_CLASSES))
    values.update(extra or {})
    # A re-exported graph's own class mapping (kept below from its old entries) orders its columns.
    # So does its quantization entry, which makes its record's weights "int8".
    columns = {
        **values,
        "classes": values.get("classes", inherited.get("classes")),
        QUANTIZATION_KEY: values.get(QUANTIZATION_KEY, inherited.get(QUANTIZATION_KEY)),
    }
    written = (record or RunRecord.from_model(model)).for_graph(columns, len(proto.graph.SerializeToString()))
    values.update(zoo_props(written))
    props = {**old, **{k: json.dumps(v, default=str) for k, v in values.items()}}
    props[CHECKSUM_KEY] = metadata_checksum(proto.graph.SerializeToString(deterministic=True), props)
    del proto.metadata_props[:]
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    apply_header(proto, written)
    return written


__all__ = ["set_metadata"]
