"""Platt scaling's ONNX graph: one Sigmoid on all letters instead of six nodes per letter, with parity."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

import asl_recog as asl
from asl_recog.data._labels import labels_to_indices
from asl_recog.models._export import convert_sklearn_estimator
from asl_recog.routes.automl._portfolio import build_pipeline


def _run(proto: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    label, proba = session.run(None, {"pixels": x.astype(np.float32)})
    return label, proba


def _ops(proto: Any) -> list[str]:
    return [node.op_type for node in proto.graph.node]


@pytest.fixture(scope="module")
def svm(small_split: Any) -> Any:
    """The portfolio's SVM (HOG, PCA, RBF SVC, Platt scaling) fitted on the small real split."""
    fit_part, _ = small_split
    pipeline = build_pipeline("SVM", {"n_components": 40, "C": 10.0, "featurizer": "hog"}, seed=0)
    return pipeline.fit(fit_part.flat, labels_to_indices(fit_part.labels))


def test_the_portfolio_svm_is_calibrated_in_one_product_with_scikit_learns_probabilities(
    svm: Any, small_test: asl.SignMnistDataset
) -> None:
    from skl2onnx._supported_operators import sklearn_operator_name_map
    from sklearn.calibration import CalibratedClassifierCV

    proto = convert_sklearn_estimator(svm)
    ops = _ops(proto)
    assert ops.count("Sigmoid") == 1 and "ArrayFeatureExtractor" not in ops and ops.count("Exp") == 1  # the kernel's
    label, proba = _run(proto, small_test.flat)
    expected = svm.predict_proba(small_test.flat)
    np.testing.assert_allclose(proba, expected, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(label, svm.classes_[expected.argmax(axis=1)])
    # skl2onnx's own alias is back for any other conversion in the process
    assert sklearn_operator_name_map[CalibratedClassifierCV] == "SklearnCalibratedClassifierCV"


def test_several_calibrated_classifiers_are_averaged_as_scikit_learn_does(small_split: Any) -> None:
    """ensemble=True (the portfolio's LinearSVM): one calibrated copy per fold, their mean."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import LinearSVC

    fit_part, held = small_split
    model = CalibratedClassifierCV(LinearSVC(C=0.1, max_iter=3000, random_state=0), cv=3, method="sigmoid")
    model.fit(fit_part.flat, labels_to_indices(fit_part.labels))
    assert len(model.calibrated_classifiers_) == 3
    proto = convert_sklearn_estimator(model)
    assert _ops(proto).count("Sigmoid") == 3
    _, proba = _run(proto, held.flat)
    np.testing.assert_allclose(proba, model.predict_proba(held.flat), rtol=0, atol=1e-5)


def test_letters_all_at_zero_get_the_uniform_answer_as_in_scikit_learn(
    svm: Any, small_test: asl.SignMnistDataset
) -> None:
    """Where every letter's sigmoid is 0, scikit-learn answers 1/24 each instead of dividing by zero."""
    flat = copy.deepcopy(svm)
    for calibrator in flat.steps[-1][1].calibrated_classifiers_[0].calibrators:
        calibrator.a_, calibrator.b_ = 0.0, 1e4  # expit(-1e4) is 0 in float32 and float64
    expected = flat.predict_proba(small_test.flat)
    np.testing.assert_array_equal(expected, np.full_like(expected, 1 / 24))
    _, proba = _run(convert_sklearn_estimator(flat), small_test.flat)
    np.testing.assert_allclose(proba, expected, rtol=0, atol=1e-7)


def test_isotonic_calibration_keeps_skl2onnxs_graph(small_split: Any) -> None:
    """Isotonic calibration is not what the graph reproduces: the same nodes as skl2onnx's own converter."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.naive_bayes import GaussianNB

    fit_part, _ = small_split
    model = CalibratedClassifierCV(GaussianNB(), cv=2, method="isotonic", ensemble=False)
    model.fit(fit_part.flat, labels_to_indices(fit_part.labels))
    ours = convert_sklearn_estimator(model)
    theirs = convert_sklearn(
        model, initial_types=[("pixels", FloatTensorType([None, 784]))], options={id(model): {"zipmap": False}}
    )
    assert "Sigmoid" not in _ops(ours) and "ArrayFeatureExtractor" in _ops(ours)
    assert sorted(_ops(ours)) == sorted(_ops(theirs))
