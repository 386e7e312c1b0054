"""A faster ONNX graph for Platt scaling: :class:`~sklearn.calibration.CalibratedClassifierCV`'s sigmoid.

skl2onnx writes the multi-class sigmoid calibration letter by letter: for each of the 24
letters an ``ArrayFeatureExtractor`` takes its column of the decision function, then ``Mul``,
``Add``, ``Exp``, ``Add``, ``Div``, and a ``Concat`` and zero handling join them: about 150
nodes for one image, whose per-node overhead in onnxruntime is most of their cost. The AutoML
SVM (HOG, PCA, RBF SVC, Platt scaling) spent 0.063 of its 0.215 ms per image there (4,764
support vectors). scikit-learn's arithmetic is the same for every column, so it is written
here once on the whole matrix:

    p = sigmoid(-(a * T + b))      a, b: the letters' calibrators side by side    (N, C)
    p = p / sum(p)                  or 1 / C where every letter's p is 0, as scikit-learn does

and the mean over the calibrated classifiers (one when ``ensemble=False``). The base
estimator is converted by its own converter (this package's GEMM SVC inside the export).

Only the sigmoid method with more than two integer classes is written here; isotonic or
temperature calibration, two classes, or labels that are not integers go to skl2onnx's own
converter. The export's parity check guards the result.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from asl_recog.models._skl2onnx_graph import GraphWriter, class_labels, converted_as

_ALIAS = "AslRecogCalibratedClassifierCV"
_SKL2ONNX_ALIAS = "SklearnCalibratedClassifierCV"
#: Base estimators whose converter outputs probabilities, not raw scores (skl2onnx's own list).
_PROBABILITY_CONVERTERS = ("RandomForestClassifier",)


def _ours(model: Any) -> bool:
    """Whether ``model`` is the kind of calibration this graph reproduces (else skl2onnx's)."""
    classes = np.asarray(model.classes_)
    return (
        model.method == "sigmoid"
        and len(classes) > 2
        and np.issubdtype(classes.dtype, np.integer)
        # each calibrator's column is its base estimator's column of the same class
        and all(np.array_equal(c.estimator.classes_, classes) for c in model.calibrated_classifiers_)
    )


def _shape_calculator(operator: Any) -> None:
    from skl2onnx.common._registration import get_shape_calculator

    get_shape_calculator(_SKL2ONNX_ALIAS)(operator)


def _scores(scope: Any, operator: Any, container: Any, estimator: Any) -> str:
    """The base estimator's decision function, converted by its own converter; returns its name."""
    from skl2onnx._supported_operators import sklearn_operator_name_map
    from skl2onnx.common.data_types import Int64TensorType

    base = scope.declare_local_operator(sklearn_operator_name_map[type(estimator)], estimator)
    # As skl2onnx's converter asks: raw scores (the decision function), not probabilities.
    if container.has_options(estimator, "raw_scores") and type(estimator).__name__ not in _PROBABILITY_CONVERTERS:
        container.add_options(id(estimator), {"raw_scores": True})
        scope.add_options(id(estimator), {"raw_scores": True})
    base.inputs = operator.inputs
    base.outputs.append(scope.declare_local_variable("label", Int64TensorType()))
    scores = scope.declare_local_variable("uncalibrated", operator.inputs[0].type.__class__())
    base.outputs.append(scores)
    return str(scores.full_name)


def _converter(scope: Any, operator: Any, container: Any) -> None:
    from skl2onnx.common._registration import get_converter

    model = operator.raw_operator
    if not _ours(model):
        get_converter(_SKL2ONNX_ALIAS)(scope, operator, container)
        return
    if scope.get_options(model, dict(nocl=False))["nocl"]:
        raise RuntimeError("option 'nocl' is not implemented for CalibratedClassifierCV")
    n_classes = len(model.classes_)
    graph = GraphWriter(scope, container, "Calibrated")
    const, node = graph.const, graph.node
    axis = const("axis", [1], np.int64)
    uniform, zero = const("uniform", 1.0 / n_classes), const("zero", 0.0)
    probabilities = []
    for calibrated in model.calibrated_classifiers_:
        scores = _scores(scope, operator, container, calibrated.estimator)
        # scikit-learn's _SigmoidCalibration.predict: expit(-(a * T + b)), for all letters at once
        slope = const("minus_a", [-c.a_ for c in calibrated.calibrators])
        offset = const("minus_b", [-c.b_ for c in calibrated.calibrators])
        sigmoid = node("Sigmoid", [node("Add", [node("Mul", [scores, slope], "at"), offset], "atb")], "p")
        total = node("ReduceSum", [sigmoid, axis], "total", keepdims=1)
        normalised = node("Div", [sigmoid, total], "pn")
        # np.divide(p, total, out=uniform, where=total != 0)
        nothing = node("Equal", [total, zero], "none")
        probabilities.append(node("Where", [nothing, uniform, normalised], "pc"))
    summed = probabilities[0] if len(probabilities) == 1 else node("Sum", probabilities, "psum")
    container.add_node(
        "Div",
        [summed, const("count", float(len(probabilities)))],
        [operator.outputs[1].full_name],
        name=scope.get_unique_operator_name("CalibratedMean"),
    )
    class_labels(graph, operator.outputs[1].full_name, model.classes_, operator.outputs[0].full_name)


def vector_calibration() -> contextlib.AbstractContextManager[None]:
    """Convert ``CalibratedClassifierCV`` with this module's graph for one skl2onnx conversion.

    Other code converting one in the same process still gets skl2onnx's own graph
    (:func:`~asl_recog.models._skl2onnx_graph.converted_as`).

    Example:
        >>> from sklearn.calibration import CalibratedClassifierCV
        >>> from sklearn.svm import LinearSVC
        >>> from asl_recog.data._labels import labels_to_indices
        >>> from asl_recog.models._export import convert_sklearn_estimator  # enters this block
        >>> svm = CalibratedClassifierCV(LinearSVC(), cv=2, ensemble=False)
        >>> svm = svm.fit(train.flat / 255.0, labels_to_indices(train.labels))
        >>> ops = [n.op_type for n in convert_sklearn_estimator(svm).graph.node]
        >>> ops.count("Sigmoid"), ops.count("ArrayFeatureExtractor")  # one for 24 letters, none
        (1, 0)
    """
    from sklearn.calibration import CalibratedClassifierCV

    return converted_as(CalibratedClassifierCV, _ALIAS, _SKL2ONNX_ALIAS, _shape_calculator, _converter)


__all__ = ["vector_calibration"]
