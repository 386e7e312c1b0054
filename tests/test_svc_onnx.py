"""The AutoML SVM's ONNX graph (issue 25, part 4): GEMMs instead of SVMClassifier, with parity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

import asl_recog as asl
from asl_recog.data._labels import labels_to_indices
from asl_recog.models._export import convert_sklearn_estimator
from asl_recog.routes.automl._portfolio import build_pipeline


def _ops(proto: Any) -> set[str]:
    return {node.op_type for node in proto.graph.node}


@pytest.fixture(scope="module")
def svm(small_split: Any) -> Any:
    """The portfolio's SVM (HOG, PCA, calibrated RBF SVC) fitted on the small real split."""
    fit_part, _ = small_split
    pipeline = build_pipeline("SVM", {"n_components": 40, "C": 10.0, "featurizer": "hog"}, seed=0)
    return pipeline.fit(fit_part.flat, labels_to_indices(fit_part.labels))


def test_the_decision_function_is_scikit_learns(svm: Any, small_test: asl.SignMnistDataset) -> None:
    """The graph's one-against-rest values, what the calibration reads, equal SVC.decision_function."""
    import onnxruntime as ort
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    from asl_recog.models._svc_onnx import gemm_svc

    features = svm[:-1].transform(small_test.flat).astype(np.float32)
    svc = svm.steps[-1][1].calibrated_classifiers_[0].estimator
    with gemm_svc():
        proto = convert_sklearn(
            svc, initial_types=[("x", FloatTensorType([None, features.shape[1]]))], options={id(svc): {"zipmap": False}}
        )
    assert "SVMClassifier" not in _ops(proto) and "MatMul" in _ops(proto)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    label, scores = session.run(None, {"x": features})
    expected = svc.decision_function(features)
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-4)
    np.testing.assert_array_equal(label, svc.classes_[expected.argmax(axis=1)])  # SVC(break_ties=True)'s answer


def test_the_pipeline_exports_with_parity_and_only_inside_the_conversion(
    svm: Any, small_test: asl.SignMnistDataset, tmp_path: Path
) -> None:
    from skl2onnx._supported_operators import sklearn_operator_name_map
    from sklearn.svm import SVC

    model = asl.SklearnModel(svm)
    onnx_model = asl.export_onnx(model, tmp_path / "svm.onnx")  # refuses to write on a parity failure
    assert "SVMClassifier" not in _ops(onnx.load_from_string(onnx_model.onnx_bytes))
    np.testing.assert_allclose(onnx_model.predict_proba(small_test), model.predict_proba(small_test), atol=1e-4)
    # skl2onnx's own alias is back: another caller in the process converts an SVC its own way
    assert sklearn_operator_name_map[SVC] == "SklearnSVC"


def test_other_svcs_keep_skl2onnxs_graph(small_split: Any) -> None:
    """A linear kernel, or two classes, is not what the graph reproduces: skl2onnx converts it."""
    from sklearn.svm import SVC

    fit_part, _ = small_split
    x, y = fit_part.flat[::10], labels_to_indices(fit_part.labels[::10])
    for svc in (SVC(kernel="linear").fit(x, y), SVC().fit(x[y < 2], y[y < 2])):
        assert "SVMClassifier" in _ops(convert_sklearn_estimator(svc))
