"""Check an exported ONNX file as any runtime could: the ONNX checker, the checksum, its test data set."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from asl_recog._errors import ModelFileError
from asl_recog.models._onnx_format import CHECKSUM_KEY, import_onnx
from asl_recog.models._onnx_props import read_props
from asl_recog.models._zoo_data import check_zoo_data


@dataclass(frozen=True)
class FileCheck:
    """What :func:`check_onnx_file` found: ``problems`` (empty when the file passed) and a one-line verdict."""

    path: Path
    problems: list[str] = field(default_factory=list)
    verdict: str = ""

    @property
    def ok(self) -> bool:
        """True when nothing differs."""
        return not self.problems


def check_onnx_file(path: str | os.PathLike[str]) -> FileCheck:
    """Run ``onnx.checker``, verify the asl_recog checksum, and run the test data set through onnxruntime.

    The test data set (``<stem>_test_data/test_data_set_*``, written by ``export_onnx``) must give
    its ``output_*.pb`` back under the export's parity rule.

    Example:
        >>> _ = export_onnx(Model.load("runs/best.onnx"), "runs/knn.onnx")  # writes runs/knn_test_data/ too
        >>> check = check_onnx_file("runs/knn.onnx")
        >>> check.ok, check.verdict
        (True, 'runs/knn.onnx: ok: onnx.checker passed, checksum ok, 1 test data set(s), 8 images, ...')
    """
    path = Path(path)
    onnx = import_onnx()
    try:
        proto, props = read_props(path)  # raises on a checksum that does not match
    except ModelFileError as exc:
        return FileCheck(path, [str(exc)])
    problems: list[str] = []
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as exc:  # onnx.checker.ValidationError, shape inference errors
        problems.append(f"{path}: onnx.checker fails: {exc}")
    if CHECKSUM_KEY not in props:
        problems.append(f"{path}: no asl_recog checksum ({CHECKSUM_KEY}); export it with asl_recog.export_onnx")
    differs, summary = check_zoo_data(path.read_bytes(), path)
    problems.extend(differs)
    if problems:
        return FileCheck(path, problems)
    return FileCheck(path, [], f"{path}: ok: onnx.checker passed, checksum ok, {summary}")


__all__ = ["FileCheck", "check_onnx_file"]
