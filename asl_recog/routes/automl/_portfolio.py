"""The AutoML portfolio: ONNX-convertible scikit-learn pipelines, their search spaces,
training-time augmentation, and a soft-voting ensemble like Azure's VotingEnsemble.

Every pipeline takes flat ``(N, 784)`` float32 pixels in 0..1 and predicts class
indices 0-23 with ``predict_proba``; each one converts with skl2onnx.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from asl_recog._errors import ConfigurationError
from asl_recog.data._labels import NUM_CLASSES
from asl_recog.search._space import Expression, choice, loguniform, quniform

_L = math.log

#: Each algorithm's search space, in the HyperDrive vocabulary.
SPACES: dict[str, dict[str, Expression]] = {
    "LogisticRegression": {"C": loguniform(_L(1e-3), _L(10.0))},
    "SGD": {"loss": choice("log_loss", "modified_huber"), "alpha": loguniform(_L(1e-6), _L(1e-2))},
    "LinearSVM": {"C": loguniform(_L(1e-3), _L(1.0))},
    # Trees are capped by leaves, so every point of the space fits the default 100 MB budget:
    # an ONNX tree leaf stores 24 class weights (about 0.7 kB), and 150 trees x 512 leaves
    # is about 60 MB. Unbounded leaves on the augmented data made a 1.24 GB model.
    "RandomForest": {
        "n_estimators": quniform(50, 150, 50),
        "max_features": choice("sqrt", 0.1, 0.2),
        "max_leaf_nodes": choice(128, 256, 512),
    },
    "ExtremeRandomTrees": {
        "n_estimators": quniform(50, 150, 50),
        "max_features": choice("sqrt", 0.1, 0.2),
        "max_leaf_nodes": choice(128, 256, 512),
    },
    "LightGBM": {
        "learning_rate": loguniform(_L(0.03), _L(0.3)),
        "max_leaf_nodes": choice(15, 31, 63),
        "l2_regularization": loguniform(_L(1e-4), _L(1.0)),
    },
    # uniform votes only: skl2onnx converts weights="distance" as uniform, so ONNX would disagree
    "KNN": {"n_components": choice(30, 50, 80), "n_neighbors": choice(1, 3, 5, 9)},
    "SVM": {"n_components": choice(40, 60, 80, 100), "C": loguniform(_L(1.0), _L(100.0))},
    "MLP": {
        "hidden": choice(128, 256, 512),
        "alpha": loguniform(_L(1e-5), _L(1e-2)),
        "learning_rate_init": loguniform(_L(3e-4), _L(3e-3)),
        "max_iter": quniform(20, 60, 10),
    },
}

#: A sensible first configuration of each, tried before the sampler takes over (as AutoML does).
DEFAULTS: dict[str, dict[str, Any]] = {
    "MLP": {"hidden": 256, "alpha": 1e-4, "learning_rate_init": 1e-3, "max_iter": 30},
    "KNN": {"n_components": 50, "n_neighbors": 5},
    "SVM": {"n_components": 60, "C": 10.0},
    "ExtremeRandomTrees": {"n_estimators": 100, "max_features": "sqrt", "max_leaf_nodes": 512},
    "LogisticRegression": {"C": 0.1},
    "RandomForest": {"n_estimators": 100, "max_features": "sqrt", "max_leaf_nodes": 512},
    "SGD": {"loss": "log_loss", "alpha": 1e-4},
    "LinearSVM": {"C": 0.05},
    "LightGBM": {"learning_rate": 0.1, "max_leaf_nodes": 31, "l2_regularization": 1e-3},
}
#: The order defaults are tried in: strong and affordable first (measured on the full
#: augmented training data: MLP ~3.5 min, KNN ~1 min, SVM and trees several minutes).
ORDER = tuple(DEFAULTS)


def build_pipeline(algorithm: str, params: dict[str, Any], seed: int = 0) -> Any:
    """A fresh, unfitted pipeline for ``algorithm`` with ``params``.

    Example:
        >>> from asl_recog.data._labels import labels_to_indices
        >>> pipe = build_pipeline("SVM", {"n_components": 60, "C": 10.0})
        >>> pipe = pipe.fit(train.flat, labels_to_indices(train.labels))
        >>> pipe.predict_proba(validation.flat).shape
        (100, 24)
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.decomposition import PCA
    from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression, SGDClassifier
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC, LinearSVC

    p = {**DEFAULTS.get(algorithm, {}), **params}
    seed = int(seed) % 2**31
    if algorithm == "LogisticRegression":
        return make_pipeline(StandardScaler(), LogisticRegression(C=float(p["C"]), max_iter=300, random_state=seed))
    if algorithm == "SGD":
        return make_pipeline(
            StandardScaler(),
            SGDClassifier(loss=p["loss"], alpha=float(p["alpha"]), max_iter=30, tol=1e-3, random_state=seed),
        )
    if algorithm == "LinearSVM":
        # LinearSVC has no predict_proba: sigmoid calibration adds it and converts to ONNX.
        return make_pipeline(
            StandardScaler(),
            CalibratedClassifierCV(
                LinearSVC(C=float(p["C"]), max_iter=2000, random_state=seed), cv=3, method="sigmoid"
            ),
        )
    if algorithm in ("RandomForest", "ExtremeRandomTrees"):
        forest = RandomForestClassifier if algorithm == "RandomForest" else ExtraTreesClassifier
        return forest(
            n_estimators=int(p["n_estimators"]),
            max_features=p["max_features"],
            max_leaf_nodes=int(p["max_leaf_nodes"]),
            random_state=seed,
            n_jobs=1,
        )
    if algorithm == "LightGBM":
        return HistGradientBoostingClassifier(
            learning_rate=float(p["learning_rate"]),
            max_leaf_nodes=int(p["max_leaf_nodes"]),
            max_iter=150,
            l2_regularization=float(p["l2_regularization"]),
            early_stopping=True,
            random_state=seed,
        )
    if algorithm == "KNN":
        return make_pipeline(
            PCA(int(p["n_components"]), random_state=seed), KNeighborsClassifier(int(p["n_neighbors"]))
        )
    if algorithm == "SVM":
        # Platt scaling via CalibratedClassifierCV (ensemble=False: one SVC on all data, as
        # SVC(probability=True) did before scikit-learn deprecated it; cv=2 keeps the extra fits cheap).
        return make_pipeline(
            PCA(int(p["n_components"]), whiten=True, random_state=seed),
            CalibratedClassifierCV(SVC(C=float(p["C"]), gamma="scale", cache_size=500), cv=2, ensemble=False),
        )
    if algorithm == "MLP":
        return make_pipeline(
            StandardScaler(),
            MLPClassifier(
                (int(p["hidden"]),),
                alpha=float(p["alpha"]),
                learning_rate_init=float(p["learning_rate_init"]),
                max_iter=int(p["max_iter"]),
                early_stopping=True,
                n_iter_no_change=5,
                random_state=seed,
            ),
        )
    raise ConfigurationError(f"unknown algorithm {algorithm!r}")


def augment(
    images: np.ndarray,
    labels: np.ndarray,
    copies: int = 1,
    seed: int = 0,
    max_shift: float = 2.0,
    max_degrees: float = 10.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Add ``copies`` shifted and rotated versions of each training image.

    The signs in the test file are the same letters photographed a little off
    centre or tilted; pixel-based models cannot learn that invariance on their own.
    Used for training only, never for validation.

    Example:
        >>> images, labels = augment(train.images, train.labels, copies=1)
        >>> images.shape  # the originals, then one shifted and rotated copy of each
        (600, 28, 28)
    """
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    out, out_labels = [images], [labels]
    base = images.astype(np.float32)
    for _ in range(copies):
        angles = rng.uniform(-max_degrees, max_degrees, len(images))
        shifts = rng.uniform(-max_shift, max_shift, (len(images), 2))
        moved = np.empty_like(base)
        for i, (image, angle, shift) in enumerate(zip(base, angles, shifts, strict=True)):
            turned = ndimage.rotate(image, angle, reshape=False, order=1, mode="nearest")
            moved[i] = ndimage.shift(turned, shift, order=1, mode="nearest")
        out.append(np.clip(np.rint(moved), 0, 255).astype(images.dtype))
        out_labels.append(labels)
    return np.concatenate(out), np.concatenate(out_labels)


def ensemble_selection(probas: list[np.ndarray], targets: np.ndarray, metric: Any, rounds: int = 15) -> list[int]:
    """Caruana's greedy ensemble selection (with replacement), as Azure AutoML's VotingEnsemble.

    Returns:
        How often each model was picked (the soft-voting weights); all zeros but one when
        no mix beats the single best model.
    """
    counts = [0] * len(probas)
    total = np.zeros_like(probas[0], dtype=np.float64)
    best_score = -math.inf
    for _ in range(rounds):
        scores = [metric(targets, (total + p) / (sum(counts) + 1)) for p in probas]
        pick = int(np.argmax(scores))
        if scores[pick] <= best_score and sum(counts) > 0:
            break
        best_score = scores[pick]
        counts[pick] += 1
        total += probas[pick]
    return counts


def soft_voting(estimators: list[Any], weights: list[float]) -> Any:
    """A fitted soft-voting ``VotingClassifier`` over already-fitted estimators (no refit).

    Example:
        >>> from asl_recog.data._labels import labels_to_indices
        >>> x, y = train.flat, labels_to_indices(train.labels)
        >>> svm = build_pipeline("SVM", {"n_components": 30}).fit(x, y)
        >>> trees = build_pipeline("RandomForest", {"n_estimators": 20}).fit(x, y)
        >>> ensemble = soft_voting([svm, trees], [2, 1])
        >>> ensemble.predict_proba(validation.flat).shape
        (100, 24)
    """
    from sklearn.ensemble import VotingClassifier
    from sklearn.preprocessing import LabelEncoder
    from sklearn.utils import Bunch

    named = [(f"model{i}", est) for i, est in enumerate(estimators)]
    # an array, not a list: skl2onnx's converter calls weights.sum()
    voting = VotingClassifier(
        named, voting="soft", weights=np.asarray(weights, dtype=np.float64), flatten_transform=False
    )  # skl2onnx converts only this form
    # The fitted state VotingClassifier.fit would set, without refitting the members.
    voting.estimators_ = list(estimators)
    voting.named_estimators_ = Bunch(**dict(named))
    voting.le_ = LabelEncoder().fit(np.arange(NUM_CLASSES))
    voting.classes_ = voting.le_.classes_
    return voting


__all__ = ["SPACES", "DEFAULTS", "ORDER", "build_pipeline", "augment", "ensemble_selection", "soft_voting"]
