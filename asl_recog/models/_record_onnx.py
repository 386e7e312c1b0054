"""The run record as ONNX metadata, after the ONNX Model Zoo's conventions (read back: ``RunRecord.from_onnx``).

The Zoo's conventions: ``producer_name`` and ``producer_version``, an integer ``model_version``,
a ``doc_string`` saying what the model is, the label map and preprocessing in ``metadata_props``,
and a graph that ``onnx.checker`` passes. The record itself travels as JSON under
:data:`~asl_recog.models._record.RECORD_KEY`, inside the checksum that :class:`OnnxModel` verifies.
"""

from __future__ import annotations

from typing import Any

from asl_recog._version import __version__
from asl_recog.models._record import RECORD_KEY, RunRecord


def zoo_props(record: RunRecord) -> dict[str, Any]:
    """The metadata_props entries (JSON values) the record adds: the label map, preprocessing, the record.

    Example:
        >>> sorted(zoo_props(RunRecord(label_map={"0": "A"})))
        ['asl_recog.record', 'label_map', 'preprocessing']
    """
    return {"label_map": record.label_map, "preprocessing": record.preprocessing, RECORD_KEY: record.to_dict()}


def doc_string(record: RunRecord) -> str:
    """The graph's ``doc_string``: what the model is, takes and returns, and how it scored, in a paragraph.

    Example:
        >>> print(doc_string(RunRecord(name="cnn", model_kind="keras", algorithm="default")))
        ASL fingerspelling classifier (cnn): default, exported from keras by asl_recog ...
    """
    parts = [
        f"ASL fingerspelling classifier ({record.name or 'unnamed'}): {record.algorithm or 'a model'}, exported "
        f"from {record.model_kind or 'an unknown format'}{' as int8' if record.weights == 'int8' else ''} by "
        f"asl_recog {record.asl_recog_version}.",
        "It reads one 28x28 grayscale hand image (Sign Language MNIST's format) and returns the probabilities "
        "of the 24 static letters A-Y without J and Z; metadata_props hold the label map and preprocessing.",
    ]
    if record.test_accuracy is not None:
        parts.append(f"Test accuracy {record.test_accuracy:.4f} on {record.test_rows or 'the'} held-out images.")
    if record.mca is not None:
        parts.append(f"Mean accuracy under the corruption suite {record.mca:.4f}.")
    parts.append(f"Trained on Sign Language MNIST ({record.license}). The record: metadata_props[{RECORD_KEY!r}].")
    return " ".join(parts)


def apply_header(proto: Any, record: RunRecord) -> None:
    """Set the Zoo's header fields of ``proto`` from the record (outside the metadata checksum)."""
    proto.producer_name, proto.producer_version = "asl_recog", __version__
    proto.model_version = int(record.model_version)
    proto.doc_string = doc_string(record)


__all__ = ["apply_header", "doc_string", "zoo_props"]
