"""What a probe's model will cost to serve once fitted on all the rows (``max_latency_ms``'s skip).

The probes fit on 300 and 1,200 rows; the trial fits on all of them (65,226 in the full preset).
A model that stores rows (KNN's samples, an SVM's support vectors) serves slower as it grows, and
the search skips an algorithm whose estimate is far over the limit, before its trial is spent.
Two ways to carry a probe's ONNX time on to the real rows:

- **Scaling** (:func:`scale_latency`): the two probes' times split into a fixed part and a part
  per stored row, and the second is scaled. Right for KNN, whose stored matrix is its rows.
- **Measuring at the size** (:func:`inflate_support_vectors`, for the RBF SVM): the larger
  probe's SVC is given the number of support vectors the real fit will have, its graph is
  converted and timed. Scaling failed here: between 300 and 1,200 rows the per-vector cost
  is 43 ns, on 17,856 vectors 12 ns (one matrix product vectorizes better as it grows); the
  scaled estimate (1.1-1.7 ms on an idle machine) skipped a model that serves in 0.36 ms.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

#: How an algorithm's stored part grows with the training rows, as a power (1, linear, where not
#: named). An SVM stores its support vectors, a falling share of the rows: 1,155 of the 1,200 probe
#: rows, 17,856 of 65,226 (exponent 0.69; HOG SVM, C 10, the full preset's table, seed 0).
SERVED_GROWTH: dict[str, float] = {"SVM": 0.7}
#: Calls of a probe model's latency measurement (the minimum is kept; the search's check makes 50).
LATENCY_CALLS = 30


def served_ms(hog: tuple[str, Any] | None, fitted: Any) -> float:
    """ONNX milliseconds per image of a probe's fitted pipeline, its featurizer put back in front."""
    from sklearn.pipeline import Pipeline

    from asl_recog.models._export import convert_sklearn_estimator
    from asl_recog.models._latency import onnx_latency_ms

    # HOG is stateless: the unfitted step the probe featurized with is the trial's.
    model = Pipeline([hog, *fitted.steps]) if hog is not None else fitted
    return onnx_latency_ms(convert_sklearn_estimator(model), calls=LATENCY_CALLS)


def scale_latency(served: list[float], rows: int, sizes: list[int], exponent: float = 1.0) -> float:
    """Milliseconds per image at ``rows`` training rows, from the probes' ``served`` times on ``sizes`` rows.

    What the stored rows cost grows with them, as ``rows ** exponent``; the rest (featurizer,
    projection) does not. The two probes split the time into those parts, and only the stored
    part is scaled.

    Example:
        >>> round(scale_latency([0.10, 0.16], 60_300, [300, 1200]), 2)  # 0.06 ms more per 900 rows
        4.1
        >>> round(scale_latency([0.10, 0.16], 60_300, [300, 1200], exponent=0.7), 2)  # a falling share
        1.32
    """
    if len(served) < 2 or rows <= sizes[-1]:
        return served[-1]
    slope = max(served[1] - served[0], 0.0) / (sizes[1] - sizes[0])
    stored = slope * sizes[1]  # the stored rows' part of the larger probe's time
    return served[1] - stored + stored * (rows / sizes[1]) ** exponent


def inflate_support_vectors(pipeline: Any, factor: float) -> Any:
    """A copy of a fitted SVM pipeline whose SVC holds ``factor`` times its support vectors, to be timed.

    Each letter's block of support vectors is repeated cyclically to ``round(len * factor)`` rows
    and its dual coefficients are divided by the repeat, so the decision function stays close to
    the original's (exact for a whole factor). The graph's cost depends on the vectors' number and
    width, not their values: timing this copy measures the real fit's serving cost before it is
    fitted. The copy is only ever timed, never served or scored.

    Example:
        >>> from asl_recog.data._labels import labels_to_indices
        >>> from asl_recog.routes.automl._portfolio import build_pipeline
        >>> x, y = train.flat, labels_to_indices(train.labels)
        >>> svm = build_pipeline("SVM", {"n_components": 20}).fit(x, y)
        >>> svc, big = _svc(svm), _svc(inflate_support_vectors(svm, 3.0))
        >>> big.support_vectors_.shape[0] == 3 * svc.support_vectors_.shape[0]  # the original is untouched
        True
        >>> z = svm[:-1].transform(x[:5])  # the SVC's input: the PCA's output
        >>> bool(np.allclose(big.decision_function(z), svc.decision_function(z)))
        True
    """
    inflated = copy.deepcopy(pipeline)
    svc = _svc(inflated)
    counts = np.asarray(svc.n_support_)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    rows, new_counts = [], []
    for c, count in enumerate(counts):
        grown = max(int(round(count * factor)), int(count))
        rows.append(np.resize(np.arange(bounds[c], bounds[c + 1]), grown))
        new_counts.append(grown)
    take = np.concatenate(rows)
    repeats = np.repeat(np.asarray(new_counts) / np.maximum(counts, 1), new_counts)
    svc.support_vectors_ = np.ascontiguousarray(svc.support_vectors_[take])
    svc.dual_coef_ = np.ascontiguousarray(svc.dual_coef_[:, take] / repeats)
    svc._dual_coef_ = svc.dual_coef_  # scikit-learn's own predictions read the private copy
    svc._n_support = np.asarray(new_counts, dtype=np.int32)
    svc.support_ = np.arange(len(take), dtype=np.int32)
    return inflated


def estimate_served_ms(algorithm: str, hog: tuple[str, Any] | None, fitted: Any, rows: int, size: int) -> float:
    """The RBF SVM's ONNX milliseconds per image at ``rows`` training rows, from its ``size``-row probe fit.

    Its support vectors are scaled by ``(rows / size) ** SERVED_GROWTH`` and the graph of that
    size is timed (:func:`inflate_support_vectors`).
    """
    factor = (rows / size) ** SERVED_GROWTH.get(algorithm, 1.0) if rows > size else 1.0
    return served_ms(hog, inflate_support_vectors(fitted, factor))


def _svc(pipeline: Any) -> Any:
    """The SVC of a fitted portfolio SVM (PCA, then the calibrated SVC: ``ensemble=False``)."""
    calibrated = pipeline.steps[-1][1]
    return calibrated.calibrated_classifiers_[0].estimator


__all__ = [
    "LATENCY_CALLS",
    "SERVED_GROWTH",
    "estimate_served_ms",
    "inflate_support_vectors",
    "scale_latency",
    "served_ms",
]
