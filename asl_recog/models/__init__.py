"""Fitted models behind one interface: scikit-learn, Keras and ONNX, with export and size budgets."""

from __future__ import annotations

# Importing each format registers its file suffix with Model.load.
from asl_recog.models import _onnx  # noqa: F401
from asl_recog.models._base import KerasModel, Model, SklearnModel
from asl_recog.models._onnx import OnnxModel
from asl_recog.models._record import RunRecord
from asl_recog.models._unknown import UNKNOWN_THRESHOLD_KEY, UnknownThreshold, choose_unknown_threshold, ood_images

__all__ = [
    "UNKNOWN_THRESHOLD_KEY",
    "KerasModel",
    "Model",
    "OnnxModel",
    "RunRecord",
    "SklearnModel",
    "UnknownThreshold",
    "choose_unknown_threshold",
    "ood_images",
]
