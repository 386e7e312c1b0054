"""The AutoML portfolio: ONNX-convertible scikit-learn pipelines, their search spaces,
and a soft-voting ensemble like Azure's VotingEnsemble.

Every pipeline takes flat ``(N, 784)`` float32 pixels in 0..1 and predicts class
indices 0-23 with ``predict_proba``; each one converts with skl2onnx. A pipeline may
start with a featurizer (``params["featurizer"]``: ``"hog"`` or ``"pixels"``), which
the search chooses together with the algorithm and its hyperparameters.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from asl_recog._errors import ConfigurationError
from asl_recog.models._featurization import featurizers_of, make_featurizer
from asl_recog.search._space import Expression, choice, loguniform, quniform

_L = math.log

#: The name of the soft-voting ensemble on the leaderboard (Azure AutoML's).
ENSEMBLE = "VotingEnsemble"
#: The name of the stacking ensemble on the leaderboard (Azure AutoML's).
STACK_ENSEMBLE = "StackEnsemble"
#: Leaderboard names of ensembles, which are built from trials rather than searched.
ENSEMBLES = (ENSEMBLE, STACK_ENSEMBLE)


@dataclass(frozen=True)
class AlgorithmSpec:
    """One algorithm of the portfolio: how to build it, where its search starts, what it searches.

    Attributes:
        build: ``(params, seed) -> unfitted pipeline``; ``params`` already holds every default.
        defaults: a sensible first configuration, tried before the sampler takes over (as AutoML does).
        space: the search space, in the HyperDrive vocabulary.
        azure_name: Azure AutoML's name for it (SDK v1 ``SupportedModels`` and v2
            ``ClassificationModels`` agree), or None where Azure has no counterpart.
        hog_defaults: what changes in ``defaults`` when the pipeline starts with HOG features.
        latency_defaults: what changes in them too under ``max_latency_ms``: a first
            configuration cheaper to serve, where the usual one is at the limit's edge.
        stores_rows: its cost per served image grows with the training rows (support vectors,
            stored samples): under ``max_latency_ms`` the probes time it (``_ordering.probe``).

    Example:
        >>> spec = ALGORITHMS["KNN"]
        >>> spec.defaults, spec.azure_name
        ({'n_components': 50, 'n_neighbors': 5, 'n_prototypes': 0}, 'KNN')
    """

    build: Callable[[dict[str, Any], int], Any]
    defaults: dict[str, Any]
    space: dict[str, Expression]
    azure_name: str | None
    hog_defaults: dict[str, Any] = field(default_factory=dict)
    latency_defaults: dict[str, Any] = field(default_factory=dict)
    stores_rows: bool = False


def _mlp(p: dict[str, Any], seed: int) -> Any:
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

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


def _knn(p: dict[str, Any], seed: int) -> Any:
    from sklearn.decomposition import PCA
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline

    from asl_recog.models._prototypes import PrototypeKNeighborsClassifier

    prototypes = int(p.get("n_prototypes", 0))
    # 0 keeps every training row; otherwise each letter's rows become that many k-means centres,
    # so an image is compared with 24 x n_prototypes rows instead of all of them (issue 25).
    knn = (
        PrototypeKNeighborsClassifier(prototypes, int(p["n_neighbors"]), random_state=seed)
        if prototypes
        else KNeighborsClassifier(int(p["n_neighbors"]))
    )
    return make_pipeline(PCA(int(p["n_components"]), random_state=seed), knn)


def _svm(p: dict[str, Any], seed: int) -> Any:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import SVC

    # Platt scaling via CalibratedClassifierCV (ensemble=False: one SVC on all data, as
    # SVC(probability=True) did before scikit-learn deprecated it; cv=2 keeps the extra fits cheap).
    # Whitening helps on pixels but costs 2-3 points on HOG features (0.930 against 0.957 on a
    # 4k-image sample), whose leading components carry the signal.
    return make_pipeline(
        PCA(int(p["n_components"]), whiten=p.get("featurizer") != "hog", random_state=seed),
        CalibratedClassifierCV(SVC(C=float(p["C"]), gamma="scale", cache_size=500), cv=2, ensemble=False),
    )


def _nystroem_svm(p: dict[str, Any], seed: int) -> Any:
    from sklearn.decomposition import PCA
    from sklearn.kernel_approximation import Nystroem
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    # The RBF SVM's kernel through n_landmarks rows (Williams & Seeger's Nystroem method), then a
    # linear model: an image costs PCA + n_landmarks kernel values + one matrix product, not one
    # kernel value per support vector (9-12k of them) and 276 one-against-one votes. Logistic
    # regression gives probabilities without the SVM's extra calibration fits. ONNX: _nystroem_onnx.
    return make_pipeline(
        PCA(int(p["n_components"]), random_state=seed),
        Nystroem(gamma=float(p["gamma"]), n_components=int(p["n_landmarks"]), random_state=seed),
        LogisticRegression(C=float(p["C"]), max_iter=300),
    )


def _forest(kind: str) -> Callable[[dict[str, Any], int], Any]:
    def build(p: dict[str, Any], seed: int) -> Any:
        from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier

        forest = RandomForestClassifier if kind == "random" else ExtraTreesClassifier
        return forest(
            n_estimators=int(p["n_estimators"]),
            max_features=p["max_features"],
            max_leaf_nodes=int(p["max_leaf_nodes"]),
            random_state=seed,
            n_jobs=1,
        )

    return build


def _logistic(p: dict[str, Any], seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=float(p["C"]), max_iter=300, random_state=seed))


def _sgd(p: dict[str, Any], seed: int) -> Any:
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        StandardScaler(),
        SGDClassifier(loss=p["loss"], alpha=float(p["alpha"]), max_iter=30, tol=1e-3, random_state=seed),
    )


def _linear_svm(p: dict[str, Any], seed: int) -> Any:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    # LinearSVC has no predict_proba: sigmoid calibration adds it and converts to ONNX.
    return make_pipeline(
        StandardScaler(),
        CalibratedClassifierCV(LinearSVC(C=float(p["C"]), max_iter=2000, random_state=seed), cv=3, method="sigmoid"),
    )


def _lightgbm(p: dict[str, Any], seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        learning_rate=float(p["learning_rate"]),
        max_leaf_nodes=int(p["max_leaf_nodes"]),
        max_iter=150,
        l2_regularization=float(p["l2_regularization"]),
        early_stopping=True,
        random_state=seed,
    )


# Trees are capped by leaves, so every point of the space fits the default 100 MB budget:
# an ONNX tree leaf stores 24 class weights (about 0.7 kB), and 150 trees x 512 leaves
# is about 60 MB. Unbounded leaves on the augmented data made a 1.24 GB model.
_FOREST_SPACE: dict[str, Expression] = {
    "n_estimators": quniform(50, 150, 50),
    "max_features": choice("sqrt", 0.1, 0.2),
    "max_leaf_nodes": choice(128, 256, 512),
}
_FOREST_DEFAULTS: dict[str, Any] = {"n_estimators": 100, "max_features": "sqrt", "max_leaf_nodes": 512}

#: The portfolio, the one list of algorithm names: named as in Azure AutoML where a
#: counterpart exists, in the order of preference of their defaults: strongest first (HOG +
#: SVM is the published anchor, 0.9518 test), then MLP and KNN. The search then reorders by
#: fit times it measures (``_ordering.py``): what cannot finish in the budget is skipped.
ALGORITHMS: dict[str, AlgorithmSpec] = {
    "SVM": AlgorithmSpec(  # PCA followed by an RBF SVC
        _svm,
        {"n_components": 60, "C": 10.0},
        {"n_components": choice(40, 60, 80, 100, 150), "C": loguniform(_L(1.0), _L(100.0))},
        "SVM",
        # 150 components of HOG keep the accuracy of all 1,296 features (0.957 on a 4k sample)
        # at a ninth of the kernel's cost per image.
        hog_defaults={"n_components": 150},
        # Under a latency limit, 60: its kernel matrix (support vectors x components) is read
        # once per image, and at 150 the graph served in 0.36-0.67 ms by machine (full preset's
        # table, 17,856 vectors), over the limit's 0.5 ms minimum on some; 60 components:
        # 14,946 vectors, 0.38 ms where 150 took 0.67, validation 0.980 against 0.988, fit
        # 107 s against 209 (bench/bench_svc_onnx.py; docs/benchmarks.md).
        latency_defaults={"n_components": 60},
        # 9-18k support vectors from 55-65k rows: 2.7-3.5 ms per image in skl2onnx's graph (full
        # preset, issue 25), 0.36 ms for 17,856 of them in _svc_onnx's GEMMs
        stores_rows=True,
    ),
    "MLP": AlgorithmSpec(
        _mlp,
        {"hidden": 256, "alpha": 1e-4, "learning_rate_init": 1e-3, "max_iter": 30},
        {
            # the cheap end (64 hidden, 10 epochs) is the search's first trial, _ordering.BASELINE
            "hidden": choice(64, 128, 256, 512),
            "alpha": loguniform(_L(1e-5), _L(1e-2)),
            "learning_rate_init": loguniform(_L(3e-4), _L(3e-3)),
            "max_iter": quniform(10, 60, 10),
        },
        None,  # Azure AutoML has no neural network for tabular classification
    ),
    # uniform votes only: skl2onnx converts weights="distance" as uniform, so ONNX would disagree
    "KNN": AlgorithmSpec(
        _knn,
        {"n_components": 50, "n_neighbors": 5, "n_prototypes": 0},
        {
            "n_components": choice(30, 50, 80),
            "n_neighbors": choice(1, 3, 5, 9),
            # prototypes per letter (0: every row); fewer rows to compare, a faster model to serve
            "n_prototypes": choice(0, 100, 300, 1000),
        },
        "KNN",
        stores_rows=True,  # the first configuration keeps every row (n_prototypes=0)
    ),
    # 1,000 landmarks on 150 HOG components: 0.937 test, 0.18 ms per image, 44 s on 65k rows (the
    # RBF gamma 0.074 is gamma="scale" of those features) -- below the MLP on HOG (0.963, 0.10 ms;
    # bench/bench_automl_recipes.py); the search decides. 2,000 landmarks (0.953 in a first fit)
    # fail the export's parity check: float32 rounding, multiplied by the normalization's large
    # entries, moves the probabilities by 5e-3.
    "NystroemSVM": AlgorithmSpec(
        _nystroem_svm,
        {"n_components": 150, "n_landmarks": 1000, "gamma": 0.074, "C": 100.0},
        {
            "n_components": choice(80, 150),
            "n_landmarks": choice(500, 1000),
            "gamma": loguniform(_L(0.02), _L(0.2)),
            "C": loguniform(_L(1.0), _L(300.0)),
        },
        None,  # Azure AutoML has no kernel approximation
    ),
    "ExtremeRandomTrees": AlgorithmSpec(_forest("extra"), _FOREST_DEFAULTS, _FOREST_SPACE, "ExtremeRandomTrees"),
    "LogisticRegression": AlgorithmSpec(
        _logistic, {"C": 0.1}, {"C": loguniform(_L(1e-3), _L(10.0))}, "LogisticRegression"
    ),
    "RandomForest": AlgorithmSpec(_forest("random"), _FOREST_DEFAULTS, _FOREST_SPACE, "RandomForest"),
    "SGD": AlgorithmSpec(
        _sgd,
        {"loss": "log_loss", "alpha": 1e-4},
        {"loss": choice("log_loss", "modified_huber"), "alpha": loguniform(_L(1e-6), _L(1e-2))},
        "SGD",
    ),
    "LinearSVM": AlgorithmSpec(_linear_svm, {"C": 0.05}, {"C": loguniform(_L(1e-3), _L(1.0))}, "LinearSVM"),
    # histogram gradient boosting (scikit-learn's HistGradientBoostingClassifier)
    "LightGBM": AlgorithmSpec(
        _lightgbm,
        {"learning_rate": 0.1, "max_leaf_nodes": 31, "l2_regularization": 1e-3},
        {
            "learning_rate": loguniform(_L(0.03), _L(0.3)),
            "max_leaf_nodes": choice(15, 31, 63),
            "l2_regularization": loguniform(_L(1e-4), _L(1.0)),
        },
        "LightGBM",
    ),
}


def build_pipeline(algorithm: str, params: dict[str, Any], seed: int = 0, featurization: Any = "auto") -> Any:
    """A fresh, unfitted pipeline for ``algorithm`` with ``params`` (its defaults fill the rest).

    ``params["featurizer"]`` (``"hog"`` or ``"pixels"``, default ``"pixels"``) puts that
    featurizer first, with the settings ``featurization`` (a FeaturizationConfig) gives it.

    Example:
        >>> from asl_recog.data._labels import labels_to_indices
        >>> pipe = build_pipeline("SVM", {"n_components": 60, "C": 10.0, "featurizer": "hog"})
        >>> [name for name, _ in pipe.steps]
        ['hog', 'pca', 'calibratedclassifiercv']
        >>> pipe = pipe.fit(train.flat, labels_to_indices(train.labels))
        >>> pipe.predict_proba(validation.flat).shape
        (100, 24)
    """
    from sklearn.pipeline import Pipeline

    spec = ALGORITHMS.get(algorithm)
    if spec is None:
        raise ConfigurationError(f"unknown algorithm {algorithm!r}; choose from {list(ALGORITHMS)}")
    params = {**spec.defaults, **params}
    featurizer = make_featurizer(str(params.get("featurizer", "pixels")), featurization)
    model = spec.build(params, int(seed) % 2**31)
    if featurizer is None:
        return model
    steps = list(model.steps) if isinstance(model, Pipeline) else [(type(model).__name__.lower(), model)]
    return Pipeline([("hog", featurizer), *steps])


def search_spaces(
    algorithms: list[str], featurization: Any = "auto", latency_limited: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Each algorithm's space and first configuration, with the featurizer as one more choice.

    Args:
        algorithms: portfolio names.
        featurization: as :class:`AutoMLTrainer`'s.
        latency_limited: the search has ``max_latency_ms``: first configurations cheaper to
            serve where the portfolio names one (``AlgorithmSpec.latency_defaults``).

    Example:
        >>> spaces, defaults = search_spaces(["KNN", "SVM"], "auto")
        >>> spaces["KNN"]["featurizer"], defaults["KNN"]["featurizer"], defaults["SVM"]["n_components"]
        (choice('hog', 'pixels'), 'hog', 150)
        >>> search_spaces(["SVM"], "auto", latency_limited=True)[1]["SVM"]["n_components"]
        60
    """
    names = featurizers_of(featurization)
    spaces: dict[str, Any] = {}
    defaults: dict[str, Any] = {}
    for a in algorithms:
        spaces[a] = {**ALGORITHMS[a].space, "featurizer": choice(*names)}
        hog = ALGORITHMS[a].hog_defaults if names[0] == "hog" else {}
        cheap = ALGORITHMS[a].latency_defaults if latency_limited else {}
        defaults[a] = {**ALGORITHMS[a].defaults, **hog, **cheap, "featurizer": names[0]}
    return spaces, defaults


__all__ = [
    "ALGORITHMS",
    "ENSEMBLE",
    "ENSEMBLES",
    "STACK_ENSEMBLE",
    "AlgorithmSpec",
    "build_pipeline",
    "search_spaces",
]
