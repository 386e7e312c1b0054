"""int8 ONNX export: ONNX Runtime's static quantization, calibrated on validation images.

:func:`~asl_recog.models._export.export_onnx` with ``quantize="int8"`` converts the model to a
float graph as usual (parity checked), then hands that graph to
``onnxruntime.quantization.quantize_static``: QDQ format (QuantizeLinear/DequantizeLinear pairs
that ONNX Runtime fuses into integer kernels), unsigned 8-bit activations and signed 8-bit
weights (the pairing ONNX Runtime recommends on x86), per-channel weight scales (each
convolution filter keeps its own range, so a small filter is not crushed by a large one), and
MinMax ranges read from up to :data:`CALIBRATION_ROWS` of the caller's validation images.

An int8 graph cannot match the float one to 1e-4, so its parity is **agreement**: the share of
the validation images on which its letter equals the float graph's. Below
:data:`INT8_MIN_AGREEMENT` the export refuses (:func:`agreement_failure`). The written file
records what was done under :data:`QUANTIZATION_KEY`.

Only Keras networks are quantized. skl2onnx graphs are made of ``ai.onnx.ml`` operators
(TreeEnsembleClassifier, SVMClassifier, LinearClassifier, the HOG featurizer's custom
subgraph...) that ONNX Runtime's quantizer leaves in float: the result would be a float
graph with quantize/dequantize pairs around its few MatMuls, slower and no smaller, so it is
refused (:func:`check_quantize_request`).
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from asl_recog._errors import ConfigurationError, MissingDependencyError
from asl_recog.data._dataset import SignMnistDataset
from asl_recog.models._base import Model, to_model_input
from asl_recog.models._onnx import OnnxModel
from asl_recog.models._onnx_format import QUANTIZATION_KEY
from asl_recog.models._parity import parity_sample
from asl_recog.models._unknown import UNKNOWN_STATS_KEY, UNKNOWN_THRESHOLD_KEY

logger = logging.getLogger("asl_recog")

#: The values ``export_onnx(quantize=...)`` accepts (None: a float graph).
QUANTIZE_OPTIONS = ("int8",)
#: The least share of validation images on which the int8 graph must name the float graph's
#: letter. At 0.99 the int8 file may change at most 1 answer in 100 on images like the ones the
#: model was selected on; the default CNN measured 0.998-1.0 (docs/benchmarks.md), so a file below
#: it has a calibration problem (too few or unrepresentative images), not the usual rounding.
INT8_MIN_AGREEMENT = 0.99
#: Validation images the ranges are read from (spread evenly over those given): MinMax ranges
#: settle after a few hundred images, and each one costs a run of the float graph.
CALIBRATION_ROWS = 512


def check_quantize_request(
    quantize: str | None, model: Model, calibration: Any, metadata: dict[str, Any] | None
) -> None:
    """Refuse, before any conversion, an int8 export that cannot be made or checked.

    Args:
        quantize: ``export_onnx``'s ``quantize`` argument.
        model: the model to export (a Keras network, or an ONNX file exported from one).
        calibration: the images to calibrate on (``calibration_data`` or ``validation_data``).
        metadata: ``export_onnx``'s ``metadata`` argument.

    Raises:
        ConfigurationError: an unknown ``quantize``, a scikit-learn model, an already quantized
            file, no calibration images, the test file as calibration images, or an "unknown"
            threshold given in ``metadata`` (it was chosen on float outputs).

    Example:
        >>> check_quantize_request("int16", Model.load("runs/best.keras"), validation, None)
        Traceback (most recent call last):
        asl_recog._errors.ConfigurationError: quantize='int16' is not supported; use quantize='int8' ...
    """
    if quantize is None:
        return
    if quantize not in QUANTIZE_OPTIONS:
        raise ConfigurationError(
            f"quantize={quantize!r} is not supported; use quantize='int8' or leave it None for a float graph"
        )
    # Checked before any conversion, so the format is read as export_onnx will read it.
    if isinstance(model, OnnxModel):
        kind = model.metadata.get("source_kind", "onnx")
    else:
        kind = "sklearn" if hasattr(model, "estimator") else "keras" if hasattr(model, "network") else "other"
    if kind != "keras":
        raise ConfigurationError(
            f"quantize='int8' applies to Keras networks only, not a {kind} model: ONNX Runtime's quantizer "
            "leaves scikit-learn's ai.onnx.ml operators (trees, SVMs, linear classifiers, HOG) in float, so the "
            "file would be no smaller and slower. Export it with quantize=None."
        )
    if isinstance(model, OnnxModel) and QUANTIZATION_KEY in model.metadata:
        raise ConfigurationError(
            f"{model.source} is already quantized ({model.metadata[QUANTIZATION_KEY].get('type')}); "
            "quantize the float file it came from, or export this one with quantize=None"
        )
    if calibration is None or len(calibration) == 0:
        raise ConfigurationError(
            "quantize='int8' needs validation images to calibrate on and to measure agreement on: pass "
            "calibration_data= (or validation_data=), images the model was selected on, never the test file"
        )
    if "sign_mnist_test" in str(getattr(calibration, "source", "")):
        raise ConfigurationError(
            "calibration_data is the test file; only the Comparator reads it. Calibrate on the grouped "
            "validation split: train_validation_split(load_sign_mnist('train'))[1]"
        )
    given = metadata or {}
    stats = given.get(UNKNOWN_STATS_KEY)
    if UNKNOWN_THRESHOLD_KEY in given and not (isinstance(stats, dict) and stats.get("outputs") == "int8"):
        raise ConfigurationError(
            f"metadata holds {UNKNOWN_THRESHOLD_KEY}, chosen on float outputs; an int8 file gets its own, chosen "
            "on int8 outputs: pass validation_data= (a model that was not refit), or, for a refit model, the "
            "threshold and stats of the trial model's int8 export (export_onnx(result.trial_model, ..., "
            "quantize='int8', validation_data=validation)), or leave it out"
        )


def calibration_images(data: Any) -> np.ndarray:
    """The images of ``data`` (a dataset or any layout :func:`to_model_input` takes) as model input.

    Example:
        >>> calibration_images(validation).shape, calibration_images(validation.flat).shape
        ((100, 28, 28), (100, 28, 28, 1))
    """
    return data.images if isinstance(data, SignMnistDataset) else to_model_input(data)


@contextlib.contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """Keep the quantizer's log lines off the console: they go to the ``asl_recog`` log at debug level.

    ``onnxruntime.quantization`` logs through the root logger (``logging.warning(...)``), e.g. advice
    to run its pre-processing, which a user of ``export_onnx`` cannot act on; and a root logger
    without handlers would be given a console handler by that call (``logging.basicConfig``).
    """
    root = logging.getLogger()

    def to_debug(record: logging.LogRecord) -> bool:
        if "onnxruntime" not in record.pathname:
            return True
        logger.debug("onnxruntime quantization: %s", record.getMessage())
        return False

    guard = logging.NullHandler()
    added = not root.handlers
    if added:
        root.addHandler(guard)
    root.addFilter(to_debug)
    try:
        yield
    finally:
        root.removeFilter(to_debug)
        if added:
            root.removeHandler(guard)


def quantize_graph(proto: Any, float_model: OnnxModel, images: np.ndarray) -> Any:
    """The int8 ``ModelProto`` of the float graph ``proto``, its ranges read from ``images``.

    Args:
        proto: the float graph (not changed).
        float_model: the same graph loaded, whose input feed (layout, scaling) the calibration uses.
        images: validation images; at most :data:`CALIBRATION_ROWS` of them, spread evenly, are read.

    Example:
        >>> from asl_recog.models._export import _convert_keras
        >>> keras_model = Model.load("runs/best.keras")
        >>> proto = _convert_keras(keras_model.network)
        >>> int8 = quantize_graph(proto, OnnxModel(proto, verify=False), validation.images)
        >>> sorted({node.op_type for node in int8.graph.node} & {"QuantizeLinear", "DequantizeLinear"})
        ['DequantizeLinear', 'QuantizeLinear']
    """
    try:
        import onnx
        from onnxruntime.quantization import (
            CalibrationDataReader,
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_static,
        )
    except ImportError as exc:
        raise MissingDependencyError("onnxruntime", "Quantizing ONNX models", exc) from exc

    rows = parity_sample(images, CALIBRATION_ROWS)

    class _Reader(CalibrationDataReader):
        """One image at a time: the calibrator runs the graph once per ``get_next``."""

        def __init__(self) -> None:
            self._feeds = iter(float_model.graph_feed(rows[i : i + 1]) for i in range(len(rows)))

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._feeds, None)

    float_proto = onnx.ModelProto()
    float_proto.CopyFrom(proto)  # the quantizer may change the graph it is given
    with tempfile.TemporaryDirectory(prefix="asl_recog_int8_") as tmp, _quiet_quantizer():
        target = Path(tmp) / "int8.onnx"
        quantize_static(
            float_proto,
            target,
            _Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            # Probabilities stay float: 8-bit outputs (steps of 1/255) tie close letters, and
            # the argmax of a tie is the first column, not the likelier letter.
            nodes_to_exclude=[node.name for node in float_proto.graph.node if node.op_type == "Softmax"],
        )
        int8 = onnx.load(str(target))
    # The float file's entries carry over (set_metadata refreshes them), but not an "unknown" threshold
    # a re-exported file had: it was chosen on float outputs, and the int8 file gets its own.
    del int8.metadata_props[:]
    for prop in proto.metadata_props:
        if prop.key not in (UNKNOWN_THRESHOLD_KEY, UNKNOWN_STATS_KEY):
            int8.metadata_props.add().CopyFrom(prop)
    return int8


def agreement(float_model: Model, int8_model: Model, images: np.ndarray) -> float:
    """The share of ``images`` on which both models name the same letter.

    Example:
        >>> model = OnnxModel.load("runs/best.onnx")
        >>> agreement(model, model, validation.images)
        1.0
    """
    same = float_model.predict_proba(images).argmax(1) == int8_model.predict_proba(images).argmax(1)
    return float(np.mean(same))


def agreement_failure(found: float, images: int, minimum: float | None = None) -> str | None:
    """Why an int8 graph with agreement ``found`` on ``images`` validation images is refused, or None.

    Example:
        >>> agreement_failure(0.995, 720) is None
        True
        >>> print(agreement_failure(0.9, 720))
        the int8 graph names the float graph's letter on 0.9000 of 720 validation images, below ...
    """
    minimum = INT8_MIN_AGREEMENT if minimum is None else minimum
    if found >= minimum:
        return None
    return (
        f"the int8 graph names the float graph's letter on {found:.4f} of {images} validation images, below "
        f"the {minimum:g} required (INT8_MIN_AGREEMENT). Nothing was written. Fix: give more or more varied "
        "calibration images (calibration_data=, the grouped validation split), or keep quantize=None"
    )


def int8_metadata(extra: dict[str, Any] | None, found: float, images: int) -> dict[str, Any]:
    """The extra metadata of an int8 file: ``extra``, its :data:`QUANTIZATION_KEY` entry, and an
    "unknown" threshold's stats marked as chosen on int8 outputs (a refit model's int8 export may
    then take the trial model's int8 threshold, as its float export takes the float one).

    ``found`` is the agreement measured on ``images`` calibration images, of which
    :func:`quantize_graph` read the ranges from at most :data:`CALIBRATION_ROWS`.

    Example:
        >>> entry = int8_metadata(None, 0.9986, 720)[QUANTIZATION_KEY]
        >>> entry["agreement"], entry["calibration_images"]
        (0.9986, 512)
    """
    calibrated_on = len(parity_sample(range(images), CALIBRATION_ROWS))  # the rows quantize_graph reads
    extra = dict(extra or {})
    if isinstance(extra.get(UNKNOWN_STATS_KEY), dict):
        extra[UNKNOWN_STATS_KEY] = {**extra[UNKNOWN_STATS_KEY], "outputs": "int8"}
    return {
        **extra,
        QUANTIZATION_KEY: {
            "type": "int8",
            "method": "onnxruntime quantize_static, QDQ, uint8 activations, int8 per-channel weights, MinMax",
            "calibration_images": calibrated_on,
            "agreement": round(found, 4),
            "agreement_images": images,
            "min_agreement": INT8_MIN_AGREEMENT,
        },
    }


__all__ = [
    "CALIBRATION_ROWS",
    "INT8_MIN_AGREEMENT",
    "QUANTIZATION_KEY",
    "QUANTIZE_OPTIONS",
    "agreement",
    "agreement_failure",
    "calibration_images",
    "check_quantize_request",
    "int8_metadata",
    "quantize_graph",
]
