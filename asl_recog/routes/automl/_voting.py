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


def least_loss_per_ms(
    probas: list[np.ndarray],
    weights: list[float],
    latencies_ms: list[float],
    targets: np.ndarray,
    metric: Any,
    need_ms: float = 0.0,
) -> int:
    """The member an ensemble over a latency limit should lose: the least score lost per millisecond saved.

    Each member's leaving is scored on the validation probabilities with the other
    members' weights kept; its saving is its own latency, measured alone (members share
    the HOG step, so this overstates a saving a little, equally for all HOG members), and
    counts at most ``need_ms``, the saving that brings the ensemble under the limit: a
    member slower than that saves no more by being slower. A member whose leaving raises
    the score goes first. Dropping the slowest member instead removed the SVM, the best
    model, from full-preset ensembles (docs/benchmarks.md).

    Example:
        >>> targets = np.array([0, 1])
        >>> good, noise = np.eye(24)[[0, 1]], np.full((2, 24), 1 / 24)
        >>> accuracy = lambda y, p: float((p.argmax(1) == y).mean())
        >>> least_loss_per_ms([good, noise], [1, 1], [0.4, 0.1], targets, accuracy)  # not the slow one
        1
    """
    weights_ = np.asarray(weights, dtype=np.float64)
    mix = sum(w * p for w, p in zip(weights_, probas, strict=True))
    whole = metric(targets, mix / weights_.sum())
    rates: list[tuple[float, float]] = []
    for i, ms in enumerate(latencies_ms):
        # summed again without the member, not subtracted: (p + q) - p can leave a rounding tie-break
        rest = [(w, p) for j, (w, p) in enumerate(zip(weights_, probas, strict=True)) if j != i]
        total = sum(w for w, _ in rest)
        lost = whole - metric(targets, sum(w * p for w, p in rest) / total) if total > 0 else math.inf
        saved = min(ms, need_ms) if need_ms > 0 else ms
        rates.append((lost / max(saved, 1e-6), -ms))  # equal rates: the slower member leaves
    return min(range(len(rates)), key=rates.__getitem__)


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


__all__ = ["ensemble_selection", "least_loss_per_ms", "soft_voting"]
