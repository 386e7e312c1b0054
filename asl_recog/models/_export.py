"""Export a fitted model to ONNX with its metadata, after checking parity on real images."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from asl_recog._console import import_keras, import_tensorflow
from asl_recog._errors import AslRecogError, MissingDependencyError
from asl_recog.data._dataset import SignMnistDataset, load_sign_mnist
from asl_recog.data._labels import IMAGE_SIZE, NUM_PIXELS
from asl_recog.models._base import KerasModel, Model, SklearnModel, to_model_input
from asl_recog.models._export_metadata import set_metadata
from asl_recog.models._knn_onnx import GEMM_METRICS, gemm_neighbours
from asl_recog.models._onnx import OnnxModel
from asl_recog.models._onnx_fuse import rename_output, simplify_keras_graph
from asl_recog.models._parity import PARITY_ROWS, parity_failure
from asl_recog.models._quantize import (
    agreement,
    agreement_failure,
    calibration_images,
    check_quantize_request,
    int8_metadata,
    quantize_graph,
)
from asl_recog.models._record import RunRecord
from asl_recog.models._unknown import with_unknown_threshold
from asl_recog.models._zoo_data import write_zoo_data, zoo_data_rows

logger = logging.getLogger("asl_recog")

#: Opsets that skl2onnx 1.20 tests and onnxruntime 1.32 runs.
SKLEARN_OPSET: dict[str, int] = {"": 21, "ai.onnx.ml": 3}
KERAS_OPSET = 17


class OnnxExportError(AslRecogError, RuntimeError):
    """A model could not be converted to ONNX, or the ONNX graph disagrees with the model.

    Example:
        >>> from sklearn.base import BaseEstimator, ClassifierMixin
        >>> from asl_recog.data._labels import labels_to_indices
        >>> class Uniform(ClassifierMixin, BaseEstimator):  # a classifier no ONNX converter knows
        ...     def fit(self, x, y):
        ...         self.classes_ = np.unique(y)
        ...         return self
        ...     def predict_proba(self, x):
        ...         return np.full((len(x), len(self.classes_)), 1 / len(self.classes_))
        >>> model = SklearnModel(Uniform().fit(train.flat, labels_to_indices(train.labels)))
        >>> try:
        ...     export_onnx(model, "runs/uniform.onnx")
        ... except OnnxExportError as exc:  # nothing was written
        ...     print(exc)  # the converter's complaint, or where the predictions disagreed
        skl2onnx cannot convert Uniform: Unable to find a shape calculator for type ...
        >>> Path("runs/uniform.onnx").exists()
        False
    """


def export_onnx(
    model: Model,
    path: str | os.PathLike[str],
    *,
    parity_data: Any = None,
    metadata: dict[str, Any] | None = None,
    validation_data: SignMnistDataset | None = None,
    record: RunRecord | None = None,
    test_data: bool = True,
    quantize: str | None = None,
    calibration_data: Any = None,
) -> OnnxModel:
    """Convert ``model`` to ONNX, check it against the model, and write it to ``path``.

    scikit-learn models go through skl2onnx (ZipMap off: a plain ``probabilities``
    tensor), Keras networks through ``Model.export(format="onnx")`` (tf2onnx as a
    fallback), always in inference mode so augmentation layers vanish. The graph
    carries JSON metadata (labels, letters, input layout and scaling, library
    version, training params, model kind, validation score, any ``metadata``
    you add) and a checksum that :class:`OnnxModel` verifies on load.

    Args:
        model: a fitted :class:`SklearnModel`, :class:`KerasModel` or :class:`OnnxModel`.
        path: where to write the ``.onnx`` file (the suffix is added if missing).
        parity_data: real images (a dataset or any layout :func:`to_model_input`
            takes) to compare predictions on; default: the first 256 images of
            the bundled training file.
        metadata: extra JSON-serializable entries to embed.
        validation_data: labelled images the model was selected on but not trained on (the
            grouped validation split): the "unknown" threshold is chosen from them and embedded
            (:func:`~asl_recog.models._unknown.choose_unknown_threshold`), so the service and the
            page answer "unknown" below it. A refit model has seen them, so it is refused: pass
            ``metadata=choose_unknown_threshold(result.trial_model, validation).as_metadata()``.
            Without either, the file has no threshold, and the log says so.
        record: the model's :class:`RunRecord` (data, selection, refit, test figures); default
            :meth:`RunRecord.from_model`. Embedded with the label map and preprocessing after the
            ONNX Model Zoo's conventions; read it back with ``RunRecord.from_onnx(path)``.
        test_data: also write the Zoo's test data set, a few parity images and the graph's outputs
            on them, to ``<stem>_test_data/test_data_set_0/`` (``asl-recog check`` runs it).
        quantize: ``"int8"``: write ONNX Runtime's static int8 quantization of the float graph
            (Keras networks only; :mod:`~asl_recog.models._quantize`), refused when it names the
            float graph's letter on less than ``INT8_MIN_AGREEMENT`` of the calibration images.
            Its "unknown" threshold is chosen on int8 outputs (``validation_data``; a refit model's
            comes in ``metadata`` from its trial model's int8 export).
        calibration_data: validation images (not the test file) for int8 ranges and agreement; default validation_data.

    Returns:
        The written model, loaded back.

    Raises:
        OnnxExportError: conversion failed, or predictions differ (any argmax
            disagreement that is not a tie, or a probability off by more than
            1e-4), or an int8 graph agrees too little. Nothing is written in that case.
        ConfigurationError: ``quantize`` cannot apply (see :func:`check_quantize_request`).

    Example:
        >>> onnx_model = export_onnx(Model.load("runs/best.keras"), "runs/cnn.onnx")  # e.g. result.best_model
        >>> onnx_model.metadata["source_kind"], onnx_model.predict_letters(test[:2])
        ('keras', array(['C', 'C'], dtype='<U1'))
    """
    onnx = _require("onnx", "ONNX export")
    path = Path(path)
    if path.suffix.lower() != ".onnx":
        path = path.with_suffix(".onnx")
    calibration = validation_data if calibration_data is None else calibration_data
    check_quantize_request(quantize, model, calibration, metadata)
    if isinstance(model, OnnxModel):  # re-export: same graph, refreshed metadata
        proto, layout, kind = (
            onnx.load_from_string(model.onnx_bytes),
            model.metadata["input_layout"],
            model.metadata.get("source_kind", "onnx"),
        )
    elif isinstance(model, SklearnModel) or hasattr(model, "estimator"):
        proto, layout, kind = convert_sklearn_estimator(model.estimator), "flat", "sklearn"
    elif isinstance(model, KerasModel) or hasattr(model, "network"):
        proto, layout, kind = _convert_keras(model.network), "NHWC", "keras"
    else:
        raise OnnxExportError(
            f"cannot export {type(model).__name__} to ONNX; expected a SklearnModel, KerasModel or OnnxModel"
        )
    # An int8 file's threshold is chosen on its own outputs, below, not on the float graph's.
    extra = metadata if quantize else with_unknown_threshold(model, metadata, validation_data, path)
    record = record or RunRecord.from_model(model)
    record = record if record.name else dataclasses.replace(record, name=path.stem)
    set_metadata(proto, model, layout=layout, kind=kind, extra=extra, record=record)
    blob = proto.SerializeToString()
    candidate = OnnxModel(blob, source=str(path))
    images = _check_parity(model, candidate, parity_data, kind)
    if quantize:
        proto = quantize_graph(proto, candidate, calib := calibration_images(calibration))
        int8 = OnnxModel(proto, source=str(path), verify=False)  # the float file's checksum, not yet its own
        found = agreement(candidate, int8, calib)
        if (failure := agreement_failure(found, len(calib))) is not None:
            raise OnnxExportError(failure)
        extra = with_unknown_threshold(model, metadata, validation_data, path, scorer=int8)
        extra = int8_metadata(extra, found, len(calib))
        set_metadata(proto, model, layout=layout, kind=kind, extra=extra, record=record)
        blob = proto.SerializeToString()
        candidate = OnnxModel(blob, source=str(path))
    # Write beside the target, then rename: a failed write never leaves half a file.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    logger.info("exported %s%s model to %s (%d bytes)", kind, " int8" if quantize else "", path, len(blob))
    if test_data:
        write_zoo_data(candidate, zoo_data_rows(parity_data, images), path)
    return OnnxModel.load(path)


def _require(name: str, purpose: str) -> Any:
    try:
        return __import__(name)
    except ImportError as exc:
        raise MissingDependencyError(name, purpose, exc) from exc


def convert_sklearn_estimator(estimator: Any) -> Any:
    """The ONNX ``ModelProto`` of a fitted scikit-learn estimator (no metadata, no parity check)."""
    _require("skl2onnx", "Exporting scikit-learn models to ONNX")
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    from asl_recog.models._hog_onnx import register_hog_converter
    from asl_recog.models._nystroem_onnx import register_nystroem_converter
    from asl_recog.models._prototypes import register_prototype_converter

    register_hog_converter()  # pipelines may start with the HOG featurizer
    register_nystroem_converter()  # skl2onnx has no converter for it (the NystroemSVM algorithm)
    register_prototype_converter()  # KNN over condensed prototypes (the KNN algorithm's n_prototypes)
    model = _convertible(estimator)
    options: dict[Any, dict[str, Any]] = {}
    for part in _walk(model):
        if hasattr(part, "predict_proba"):
            options[id(part)] = {"zipmap": False}
        if type(part).__name__ == "KNeighborsClassifier":
            # "cdist" selects _knn_onnx's MatMul distances (see _converter_fixes), not
            # skl2onnx's default Scan loop over the stored samples (100x slower).
            options.setdefault(id(part), {})["optim"] = "cdist"
    try:
        with _converter_fixes():
            return convert_sklearn(
                model,
                initial_types=[("pixels", FloatTensorType([None, NUM_PIXELS]))],
                target_opset=dict(SKLEARN_OPSET),
                options=options,
            )
    except Exception as exc:  # skl2onnx raises RuntimeError/NotImplementedError/KeyError
        raise OnnxExportError(f"skl2onnx cannot convert {type(estimator).__name__}: {exc}") from exc


def _convertible(estimator: Any) -> Any:
    """A copy skl2onnx accepts, predicting identically.

    skl2onnx refuses soft VotingClassifiers with ``flatten_transform=True``
    (a flag that only shapes ``transform()``, never ``predict_proba``) and
    fails on ``weights`` given as a list (it calls ``weights.sum()``); the copy
    turns the flag off and makes the weights an array.
    """
    from sklearn.ensemble import VotingClassifier

    if not any(isinstance(e, VotingClassifier) for e in _walk(estimator)):
        return estimator
    estimator = copy.deepcopy(estimator)
    for voter in _walk(estimator):
        if isinstance(voter, VotingClassifier):
            voter.flatten_transform = False
            if voter.weights is not None:
                voter.weights = np.asarray(voter.weights, dtype=np.float64)
    return estimator


def _walk(estimator: Any) -> list[Any]:
    """The estimator and every estimator nested in its pipeline steps or ensemble members."""
    found, stack = [], [estimator]
    while stack:
        est = stack.pop()
        found.append(est)
        for name in ("steps", "estimators", "estimators_", "named_estimators_"):
            members = getattr(est, name, None)
            if isinstance(members, dict):
                members = list(members.values())
            for member in members or []:
                member = member[1] if isinstance(member, tuple) else member
                if hasattr(member, "get_params"):
                    stack.append(member)
    return found


@contextlib.contextmanager
def _converter_fixes() -> Iterator[None]:
    """Work around skl2onnx 1.20's bugs and noise, and speed up KNN, for the duration of one conversion.

    1. HistGradientBoosting: ``missing_go_to_left`` booleans go into an ONNX ``ints`` attribute, which onnx 1.23
       rejects ("Expected an int, got a boolean"); casting to int is what the attribute means.
    1b. HistGradientBoosting thresholds are rounded to float32 without the adjustment skl2onnx applies to other
       trees, so a pixel equal to float32(threshold) goes left in ONNX and right in scikit-learn (seen on real
       images: 32/255 vs a threshold 4e-9 below it). Our inputs are always float32, so every tree gets the adjusted
       threshold (the largest float32 ``w`` with ``x <= t <=> x <= w``).
    2. KNeighborsClassifier(weights="distance"): for opset >= 11 the converter negates the (already positive)
       neighbour distances, so ``Max(d, 1e-6)`` makes every weight equal and the graph silently votes uniformly. The
       parity check caught it; negating once more restores ``1 / d``.
    3. KNeighborsClassifier with the ``cdist`` option: not a bug, a speed-up; the distances become one float32 GEMM
       (``_knn_onnx.py``), 2-3x faster than ``CDist``.
    4. SVC: the converter reads ``probA_`` to learn whether ``probability=True`` was set, and scikit-learn 1.9
       deprecated that attribute, so every export printed a FutureWarning about an option this package never uses
       (its SVMs are calibrated by ``CalibratedClassifierCV``). Only that message is silenced, only here.
    5. SVC and CalibratedClassifierCV: speed-ups, not bugs. The multi-class RBF SVC becomes a few GEMMs
       (``_svc_onnx.py``) instead of ``SVMClassifier``'s walk over its support vectors, and Platt scaling one
       product on all letters (``_calibration_onnx.py``) instead of six nodes per letter.
    """
    from skl2onnx.algebra.onnx_ops import OnnxMul
    from skl2onnx.common import tree_ensemble
    from skl2onnx.operator_converters import nearest_neighbours

    from asl_recog.models._calibration_onnx import vector_calibration
    from asl_recog.models._svc_onnx import gemm_svc

    original_add, original_knn = tree_ensemble.add_node, nearest_neighbours.onnx_nearest_neighbors_indices_k

    def add_node(*args: Any, nodes_missing_value_tracks_true: Any = 0, **kwargs: Any) -> Any:
        if kwargs.get("dtype") == np.float32:
            kwargs["adjust_threshold_for_sklearn"] = True
        return original_add(*args, nodes_missing_value_tracks_true=int(nodes_missing_value_tracks_true), **kwargs)

    def knn(
        *args: Any, keep_distances: bool = False, op_version: int | None = None, dtype: Any = None, **kwargs: Any
    ) -> Any:
        x, samples, k = args[:3]
        metric = kwargs.get("metric", "euclidean")
        if kwargs.get("optim") == "cdist" and metric in GEMM_METRICS and isinstance(samples, np.ndarray):
            # 3. distances as one MatMul, not CDist's walk over the samples (_knn_onnx.py)
            return gemm_neighbours(x, samples, int(k), metric, dtype, int(op_version or 11), keep_distances)
        out = original_knn(*args, keep_distances=keep_distances, op_version=op_version, dtype=dtype, **kwargs)
        if keep_distances and op_version is not None and op_version >= 11:
            return out[0], OnnxMul(out[1], np.array([-1], dtype=dtype), op_version=op_version)
        return out

    tree_ensemble.add_node, nearest_neighbours.onnx_nearest_neighbors_indices_k = add_node, knn
    try:
        with warnings.catch_warnings(), gemm_svc(), vector_calibration():  # 5. inside the block only
            # 4. the converter's probe of the deprecated SVC attributes
            warnings.filterwarnings("ignore", message=r"Attribute `prob[AB]_` was deprecated", category=FutureWarning)
            yield
    finally:
        tree_ensemble.add_node, nearest_neighbours.onnx_nearest_neighbors_indices_k = original_add, original_knn


def _inference_wrapper(network: Any) -> Any:
    """A functional model calling ``network(x, training=False)``: augmentation and dropout off."""
    keras = import_keras()

    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name="images", dtype="float32")
    wrapper = keras.Model(inputs, network(inputs, training=False), name="asl_recog_inference")
    wrapper(np.zeros((1, IMAGE_SIZE, IMAGE_SIZE, 1), dtype=np.float32))  # export needs a called model
    return wrapper


def _convert_keras(network: Any) -> Any:
    import onnx

    wrapper = _inference_wrapper(network)
    with tempfile.TemporaryDirectory(prefix="asl_recog_onnx_") as tmp:
        target = Path(tmp) / "model.onnx"
        try:
            with warnings.catch_warnings():
                # Keras' bundled tf2onnx touches np.object on import (a FutureWarning about NumPy's
                # API, in code the user cannot change); the export itself is checked for parity below.
                warnings.filterwarnings("ignore", category=FutureWarning, message=".*np.object.*")
                wrapper.export(str(target), format="onnx", opset_version=KERAS_OPSET, verbose=False)
            proto = onnx.load(str(target))
        except Exception as exc:
            logger.warning("keras export(format='onnx') failed (%s); trying tf2onnx.from_function", exc)
            proto = _convert_keras_tf2onnx(wrapper)
    rename_output(proto, "probabilities")
    simplify_keras_graph(proto)  # one LayerNormalization node, a constant flatten shape: faster per image
    return proto


def _convert_keras_tf2onnx(wrapper: Any) -> Any:
    _require("tf2onnx", "Exporting Keras models to ONNX")
    tf = import_tensorflow()
    import tf2onnx

    spec = (tf.TensorSpec((None, IMAGE_SIZE, IMAGE_SIZE, 1), tf.float32, name="images"),)
    fn = tf.function(lambda x: {"probabilities": wrapper(x, training=False)})
    try:
        proto, _ = tf2onnx.convert.from_function(fn, input_signature=spec, opset=KERAS_OPSET)
    except Exception as exc:
        raise OnnxExportError(f"neither Keras export nor tf2onnx could convert the network: {exc}") from exc
    return proto


def _parity_images(parity_data: Any) -> np.ndarray:
    if parity_data is None:
        parity_data = load_sign_mnist("train")[:PARITY_ROWS]
    if isinstance(parity_data, SignMnistDataset):
        return parity_data.images
    return to_model_input(parity_data)


def _check_parity(model: Model, candidate: OnnxModel, parity_data: Any, kind: str) -> np.ndarray:
    images = _parity_images(parity_data)
    if len(images) == 0:
        raise OnnxExportError("parity_data is empty; pass real images to compare the ONNX graph with the model")
    want = np.asarray(model.predict_proba(images), dtype=np.float64)
    got = np.asarray(candidate.predict_proba(images), dtype=np.float64)
    failure = parity_failure(want, got)
    if failure is not None:
        raise OnnxExportError(
            f"ONNX parity check failed for the {kind} model on {len(images)} real images: {failure}. "
            "Nothing was written. The converter probably mistranslated an operator; report the model "
            "type, or keep the native format."
        )
    worst = float(np.abs(got - want).max())
    logger.info("ONNX parity ok for %s: %d images, max |dp| = %.2e", kind, len(images), worst)
    return images
