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


def test_the_latency_probe_times_a_graph_of_the_real_fits_size(svm: Any, small_test: asl.SignMnistDataset) -> None:
    """The search's skip under max_latency_ms timed two small probes and scaled the difference: 1.1-1.7 ms
    estimated for an SVM that serves in 0.36 ms. It now times the probe's SVC grown to the support
    vectors the real fit will have; the grown graph is a valid model of the same decisions."""
    import onnxruntime as ort

    from asl_recog.routes.automl._served import _svc, inflate_support_vectors

    svc = _svc(svm)
    grown = inflate_support_vectors(svm, 3.0)
    assert list(_svc(grown).n_support_) == [3 * n for n in svc.n_support_]
    assert _svc(svm).support_vectors_.shape[0] == svc.n_support_.sum()  # the probe's own model is untouched
    proto = convert_sklearn_estimator(grown)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    sv_inits = [i for i in proto.graph.initializer if i.name.startswith("r2g")]  # rbf_kernel's rows
    assert sv_inits and sv_inits[0].dims[1] == 3 * svc.n_support_.sum()  # the kernel product has the new size
    probabilities = session.run(None, {session.get_inputs()[0].name: small_test.flat.astype(np.float32)})[1]
    np.testing.assert_allclose(probabilities, svm.predict_proba(small_test.flat), atol=1e-4)
    # a fraction of a repeat: each letter's block grows to round(count * factor)
    uneven = _svc(inflate_support_vectors(svm, 2.5))
    assert list(uneven.n_support_) == [max(round(n * 2.5), n) for n in svc.n_support_]
