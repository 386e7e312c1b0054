"""A faster ONNX graph for scikit-learn's multi-class RBF :class:`~sklearn.svm.SVC`.

skl2onnx converts an SVC to ``ai.onnx.ml.SVMClassifier``, whose onnxruntime kernel walks the
support vectors one by one: the AutoML route's HOG SVM (10-12k support vectors of 150 PCA
features, 24 letters) took 2.7-3.5 ms per image, over the presets' 1 ms limit, so the
strongest single model of the portfolio was fitted and then thrown away (issue 25). The same
function written with the expansion of :mod:`asl_recog.models._knn_onnx` is a few matrix
products that onnxruntime runs as GEMMs:

    K = exp(-gamma * (|x|^2 - 2 x.SV + |SV|^2))                      (N, S)
    A[c] = K[:, SV of letter c] @ dual_coef_[:, SV of letter c].T     (N, C - 1), one per letter
    dec[(i, j)] = A[i][:, j - 1] + A[j][:, i] + intercept_[(i, j)]    libsvm's one-against-one values

then scikit-learn's ``_ovr_decision_function`` (votes plus bounded confidences) as two more
products with fixed 0/+-1 matrices. ``A`` costs ``(C - 1) x S`` multiply-adds instead of a dense
``S x C(C-1)/2`` map, so an image reads the support vectors once and little else.

Only what this package fits is converted here: a multi-class SVC with the RBF kernel, no
``probability``, ``decision_function_shape="ovr"`` (its probabilities come from
``CalibratedClassifierCV``, whose skl2onnx converter consumes this decision function). Any
other SVC goes to skl2onnx's own converter. The label output is the arg-max of the decision
function, as ``SVC(break_ties=True)`` predicts. The export's parity check guards the result.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from asl_recog.models._skl2onnx_graph import GraphWriter, class_labels, converted_as, rbf_kernel

_ALIAS = "AslRecogSVC"
_SKL2ONNX_ALIAS = "SklearnSVC"


def _ours(svc: Any) -> bool:
    """Whether ``svc`` is the kind of SVC this graph reproduces (else skl2onnx converts it)."""
    return (
        svc.kernel == "rbf"
        and len(svc.classes_) > 2
        and svc.decision_function_shape == "ovr"
        and svc.probability is not True  # scikit-learn 1.9's default is the string "deprecated"
        and isinstance(svc.support_vectors_, np.ndarray)  # dense, as a PCA's output is
    )


def _shape_calculator(operator: Any) -> None:
    from skl2onnx.common._registration import get_shape_calculator
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType

    svc = operator.raw_operator
    if not _ours(svc):
        get_shape_calculator(_SKL2ONNX_ALIAS)(operator)
        return
    rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = Int64TensorType([rows])
    operator.outputs[1].type = FloatTensorType([rows, len(svc.classes_)])


def _pair_tables(n_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Indices into the per-letter products and the one-against-rest matrices, pair by pair.

    Pairs ``(i, j)``, ``i < j``, in libsvm's order. ``first``/``second`` pick ``A[i][:, j - 1]``
    and ``A[j][:, i]`` from the letters' products laid side by side; ``signed`` adds each pair's
    value to letter ``i`` and subtracts it from letter ``j`` (the confidences); ``loses`` moves a
    vote from ``i`` to ``j`` when the value is negative, over ``wins``, a vote for every ``i``.
    """
    pairs = [(i, j) for i in range(n_classes) for j in range(i + 1, n_classes)]
    width = n_classes - 1
    first = np.array([i * width + j - 1 for i, j in pairs], dtype=np.int64)
    second = np.array([j * width + i for i, j in pairs], dtype=np.int64)
    signed = np.zeros((len(pairs), n_classes))
    for k, (i, j) in enumerate(pairs):
        signed[k, i], signed[k, j] = 1.0, -1.0
    wins = (signed > 0).sum(axis=0).astype(np.float64)
    return first, second, signed, wins


def _converter(scope: Any, operator: Any, container: Any) -> None:
    from onnx import TensorProto
    from skl2onnx.common._registration import get_converter

    svc = operator.raw_operator
    if not _ours(svc):
        get_converter(_SKL2ONNX_ALIAS)(scope, operator, container)
        return
    vectors = np.asarray(svc.support_vectors_, dtype=np.float64)
    gamma, dual = float(svc._gamma), np.asarray(svc.dual_coef_, dtype=np.float64)
    bounds = np.concatenate([[0], np.cumsum(svc.n_support_)])
    n_classes = len(svc.classes_)

    graph = GraphWriter(scope, container, "Svc")
    const, node = graph.const, graph.node
    x = node("Cast", [operator.inputs[0].full_name], "x", to=TensorProto.FLOAT)
    kernel = rbf_kernel(graph, x, vectors, gamma)

    axis = const("axis", [1], np.int64)
    per_letter = []
    for c in range(n_classes):
        lo, hi = int(bounds[c]), int(bounds[c + 1])
        block = node("Slice", [kernel, const("lo", [lo], np.int64), const("hi", [hi], np.int64), axis], "block")
        per_letter.append(node("MatMul", [block, const("dual", dual[:, lo:hi].T)], "letter"))
    side_by_side = node("Concat", per_letter, "letters", axis=1)

    first, second, signed, wins = _pair_tables(n_classes)
    pair = node(
        "Add",
        [
            node("Gather", [side_by_side, const("first", first, np.int64)], "fst", axis=1),
            node("Gather", [side_by_side, const("second", second, np.int64)], "snd", axis=1),
        ],
        "pairsum",
    )
    decision = node("Add", [pair, const("intercept", svc.intercept_)], "ovo")

    # scikit-learn's _ovr_decision_function(dec < 0, -dec, n_classes)
    confidence = node("MatMul", [decision, const("signed", signed)], "conf")
    negative = node("Cast", [node("Less", [decision, const("zero", 0.0)], "neg")], "negf", to=TensorProto.FLOAT)
    votes = node("Add", [node("MatMul", [negative, const("loses", -signed)], "moved"), const("wins", wins)], "votes")
    # confidence / (3 (|confidence| + 1)): within +-1/3, so it only breaks ties between vote counts
    denominator = node("Add", [node("Abs", [confidence], "abs"), const("one", 1.0)], "den")
    bounded = node("Div", [confidence, node("Mul", [denominator, const("three", 3.0)], "den3")], "bounded")
    scores = operator.outputs[1].full_name
    container.add_node("Add", [votes, bounded], [scores], name=scope.get_unique_operator_name("SvcScores"))
    class_labels(graph, scores, svc.classes_, operator.outputs[0].full_name)


def gemm_svc() -> contextlib.AbstractContextManager[None]:
    """Convert ``SVC`` with this module's graph for the duration of one skl2onnx conversion.

    Other code converting an SVC in the same process still gets skl2onnx's own graph
    (:func:`~asl_recog.models._skl2onnx_graph.converted_as`).
    """
    from sklearn.svm import SVC

    return converted_as(SVC, _ALIAS, _SKL2ONNX_ALIAS, _shape_calculator, _converter)


__all__ = ["gemm_svc"]
