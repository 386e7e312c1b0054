"""Nearest neighbours over prototypes: each letter's rows condensed to k-means centres.

A KNN model serves by comparing an image with every stored row: 65k augmented rows of 50
PCA components are 13 MB read per image, about 0.5 ms on ONNX Runtime on 2 cores, enough to
push a voting ensemble over ``max_latency_ms=1`` (issue 25). Replacing each letter's rows by
``n_prototypes`` k-means centres (scikit-learn's ``MiniBatchKMeans``) stores 24 x
``n_prototypes`` rows instead; the neighbours are then searched among those centres by
scikit-learn's own ``KNeighborsClassifier``, which is also what converts to ONNX (through
skl2onnx, with this package's one-GEMM distances, :mod:`asl_recog.models._knn_onnx`).

scikit-learn has no condensed-nearest-neighbour estimator (imbalanced-learn's
``CondensedNearestNeighbour`` is an undersampler of rows, quadratic in them, and not an
estimator that exports); this one is a thin composition of two scikit-learn estimators.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from asl_recog.models._skl2onnx_graph import register_once

_ALIAS = "AslRecogPrototypeKNeighborsClassifier"


class PrototypeKNeighborsClassifier(ClassifierMixin, BaseEstimator):
    """k nearest prototypes: up to ``n_prototypes`` k-means centres per class, then a KNN over them.

    Args:
        n_prototypes: centres per class (a class with fewer rows keeps its rows).
        n_neighbors: neighbours that vote, among all classes' centres (uniform votes).
        random_state: seeds the k-means of each class.

    Attributes:
        knn_: the fitted ``KNeighborsClassifier`` over the centres.
        classes_: the class labels seen in ``fit``.

    Example:
        >>> from asl_recog.data._labels import labels_to_indices
        >>> model = PrototypeKNeighborsClassifier(n_prototypes=5, n_neighbors=3, random_state=0)
        >>> model
        PrototypeKNeighborsClassifier(n_neighbors=3, n_prototypes=5, random_state=0)
        >>> model = model.fit(train.flat, labels_to_indices(train.labels))
        >>> model.knn_.n_samples_fit_ <= 24 * 5, model.predict_proba(test.flat[:2]).shape
        (True, (2, 24))
    """

    def __init__(self, n_prototypes: int = 200, n_neighbors: int = 5, random_state: int | None = None) -> None:
        self.n_prototypes = n_prototypes
        self.n_neighbors = n_neighbors
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> PrototypeKNeighborsClassifier:
        """Condense each class's rows of ``X`` to centres, then fit the KNN on the centres."""
        from sklearn.cluster import MiniBatchKMeans
        from sklearn.neighbors import KNeighborsClassifier
        from sklearn.utils.validation import check_X_y

        X, y = check_X_y(X, y, dtype=np.float32)
        if int(self.n_prototypes) < 1 or int(self.n_neighbors) < 1:
            raise ValueError(f"n_prototypes and n_neighbors must be >= 1, got {self.n_prototypes}, {self.n_neighbors}")
        centres, labels = [], []
        for index, label in enumerate(np.unique(y)):
            rows = X[y == label]
            if len(rows) <= self.n_prototypes:
                centres.append(rows)
            else:
                seed = None if self.random_state is None else int(self.random_state) + index
                # batch_size 1024: MiniBatchKMeans's default, stated so its warning about cores stays quiet
                kmeans = MiniBatchKMeans(int(self.n_prototypes), random_state=seed, n_init=3, batch_size=1024)
                centres.append(kmeans.fit(rows).cluster_centers_.astype(np.float32))
            labels.append(np.full(len(centres[-1]), label))
        self.knn_ = KNeighborsClassifier(int(self.n_neighbors)).fit(np.concatenate(centres), np.concatenate(labels))
        self.classes_ = self.knn_.classes_
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """The share of the nearest centres' votes for each class."""
        check_is_fitted(self, "knn_")
        return np.asarray(self.knn_.predict_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        """The class with most of the nearest centres' votes."""
        check_is_fitted(self, "knn_")
        return np.asarray(self.knn_.predict(X))


def _converter(scope: Any, operator: Any, container: Any) -> None:
    """The KNN over the centres as a graph: one-GEMM neighbours, then their one-hot classes averaged.

    Written out rather than through skl2onnx's sub-estimator call, which dropped the ``optim``
    option and fell back to the ``Scan`` loop over the stored rows (4.5 ms for 2,400 centres
    against 0.7 ms for 65k rows through the GEMM).
    """
    from skl2onnx.algebra.onnx_ops import OnnxArgMax, OnnxGather, OnnxIdentity, OnnxReduceMean

    from asl_recog.models._knn_onnx import gemm_neighbours

    model: PrototypeKNeighborsClassifier = operator.raw_operator
    knn = model.knn_
    version = container.target_opset
    indices = gemm_neighbours(
        operator.inputs[0], knn._fit_X, int(knn.n_neighbors), "euclidean", np.float32, version, keep_distances=False
    )
    one_hot = np.eye(len(knn.classes_), dtype=np.float32)[knn._y]  # (centres, classes): each centre's class
    votes = OnnxGather(one_hot, indices, axis=0, op_version=version)  # (N, k, classes)
    proba = OnnxReduceMean(votes, np.array([1], dtype=np.int64), keepdims=0, op_version=version)
    label = OnnxGather(
        np.asarray(knn.classes_, dtype=np.int64),
        OnnxArgMax(proba, axis=1, keepdims=0, op_version=version),
        op_version=version,
    )
    OnnxIdentity(label, op_version=version, output_names=[operator.outputs[0]]).add_to(scope, container)
    OnnxIdentity(proba, op_version=version, output_names=[operator.outputs[1]]).add_to(scope, container)


def register_prototype_converter() -> None:
    """Teach skl2onnx :class:`PrototypeKNeighborsClassifier` (idempotent; called before each conversion)."""
    from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes

    register_once(
        PrototypeKNeighborsClassifier,
        _ALIAS,
        calculate_linear_classifier_output_shapes,
        _converter,
        options={"zipmap": [True, False, "columns"], "nocl": [True, False]},
    )


__all__ = ["PrototypeKNeighborsClassifier", "register_prototype_converter"]
