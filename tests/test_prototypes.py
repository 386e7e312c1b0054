"""KNN over condensed prototypes (issue 25, part 4): scikit-learn's conventions, fewer stored rows,
ONNX parity, the trusted .aslskl round trip, and its place in the AutoML portfolio."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import check_estimators_unfitted, check_get_params_invariance

import asl_recog as asl
from asl_recog.data._labels import labels_to_indices
from asl_recog.models._prototypes import PrototypeKNeighborsClassifier
from asl_recog.routes.automl._portfolio import build_pipeline


def test_scikit_learn_conventions() -> None:
    model = PrototypeKNeighborsClassifier(n_prototypes=7, n_neighbors=3, random_state=1)
    assert model.get_params() == {"n_prototypes": 7, "n_neighbors": 3, "random_state": 1}
    assert repr(clone(model)) == "PrototypeKNeighborsClassifier(n_neighbors=3, n_prototypes=7, random_state=1)"
    check_get_params_invariance("PrototypeKNeighborsClassifier", model)
    check_estimators_unfitted("PrototypeKNeighborsClassifier", model)
    with pytest.raises(ValueError, match="n_prototypes and n_neighbors must be >= 1"):
        PrototypeKNeighborsClassifier(n_prototypes=0).fit(np.zeros((4, 2)), [0, 0, 1, 1])


def test_each_class_is_condensed_to_its_centres_and_the_fit_repeats(small_split: Any) -> None:
    fit_part, validation = small_split
    x, y = fit_part.flat, labels_to_indices(fit_part.labels)
    model = PrototypeKNeighborsClassifier(n_prototypes=20, n_neighbors=3, random_state=0).fit(x, y)
    stored = model.knn_.n_samples_fit_
    assert stored == 24 * 20 < len(x)  # every letter has more than 20 rows in the small split
    assert np.bincount(model.knn_._y).tolist() == [20] * 24  # 20 centres per letter
    again = PrototypeKNeighborsClassifier(n_prototypes=20, n_neighbors=3, random_state=0).fit(x, y)
    np.testing.assert_array_equal(model.predict_proba(validation.flat), again.predict_proba(validation.flat))
    # A class with fewer rows than n_prototypes keeps its rows as they are.
    few = PrototypeKNeighborsClassifier(n_prototypes=10_000, n_neighbors=1).fit(x[:50], y[:50])
    assert few.knn_.n_samples_fit_ == 50
    np.testing.assert_array_equal(few.predict(x[:50]), y[:50])  # 1-NN on its own rows
    accuracy = float((model.predict(validation.flat) == labels_to_indices(validation.labels)).mean())
    assert accuracy > 0.3  # raw pixels, 480 stored centres, a grouped validation split (chance: 0.04)


def test_the_portfolio_knn_with_prototypes_exports_with_parity_and_round_trips(
    small_split: Any, small_test: asl.SignMnistDataset, tmp_path: Path
) -> None:
    fit_part, _ = small_split
    pipeline = build_pipeline("KNN", {"n_prototypes": 30, "featurizer": "hog"}, seed=0)
    assert type(pipeline.steps[-1][1]).__name__ == "PrototypeKNeighborsClassifier"
    assert type(build_pipeline("KNN", {"featurizer": "hog"}).steps[-1][1]).__name__ == "KNeighborsClassifier"
    model = asl.SklearnModel(pipeline.fit(fit_part.flat, labels_to_indices(fit_part.labels)))
    onnx_model = asl.export_onnx(model, tmp_path / "knn.onnx")  # refuses to write on a parity failure
    import onnx

    ops = {node.op_type for node in onnx.load_from_string(onnx_model.onnx_bytes).graph.node}
    assert "MatMul" in ops and "Scan" not in ops  # distances as one GEMM, not a loop over the centres
    agree = np.mean(onnx_model.predict(small_test) == model.predict(small_test))
    assert agree >= 0.99
    loaded = asl.Model.load(model.save(tmp_path / "knn"))  # a trusted type: no trusted=[...] needed
    np.testing.assert_allclose(loaded.predict_proba(small_test), model.predict_proba(small_test), atol=1e-6)
