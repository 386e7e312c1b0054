"""The voting ensemble: Caruana's selection of members, and the fitted soft-voting classifier.

Built after the search from the completed trials' models and validation probabilities
(:mod:`~asl_recog.routes.automl._ensemble_trials`), and again at refit from the refit members.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from asl_recog.data._labels import NUM_CLASSES


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
        >>> from asl_recog.routes.automl._portfolio import build_pipeline
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


__all__ = ["ensemble_selection", "soft_voting"]
