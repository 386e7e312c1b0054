"""The one table of classification metrics, shared by the AutoML search and the Comparator.

Every metric scores class-index targets ``(N,)`` against ``(N, 24)`` probabilities.
Names follow Azure AutoML where it has the metric (``accuracy``, ``AUC_weighted``,
``norm_macro_recall``, ...). A class absent from the targets has no recall, so the
per-class averages run over the classes present (macro F1 also over those predicted);
the weighted averages give such a class weight 0 anyway. Only the normalisation of
``norm_macro_recall`` counts all 24 classes: Azure defines it as
``(recall_macro - R) / (1 - R)`` with ``R = 1/C``, the macro recall of random guessing
among the task's ``C`` classes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn import metrics as skm

from asl_recog._errors import ConfigurationError
from asl_recog.data._labels import NUM_CLASSES

_ALL = np.arange(NUM_CLASSES)
#: Macro recall of guessing uniformly at random among the 24 classes (Azure's R = 1/C).
CHANCE_RECALL = 1.0 / NUM_CLASSES


@dataclass(frozen=True)
class Metric:
    """One classification metric: how it is computed and which way is better.

    Attributes:
        name: the metric's name (Azure AutoML's where it has one).
        function: ``(targets, proba) -> value`` on class indices and ``(N, 24)`` probabilities.
        higher_is_better: False for losses, which are minimised.
        automl_primary: one of AutoMLConfig's primary metrics for classification.

    Example:
        >>> metric = METRICS["norm_macro_recall"]
        >>> metric(np.array([0, 1]), np.eye(24)[[0, 1]]), metric.higher_is_better
        (1.0, True)
    """

    name: str
    function: Callable[[np.ndarray, np.ndarray], float]
    higher_is_better: bool = True
    automl_primary: bool = False

    def __call__(self, targets: np.ndarray, proba: np.ndarray) -> float:
        """The metric of ``proba`` (``(N, 24)``) against class-index ``targets`` (``(N,)``)."""
        return float(self.function(np.asarray(targets), np.asarray(proba)))

    def better(self, a: float, b: float) -> bool:
        """Whether value ``a`` is strictly better than value ``b``."""
        return a > b if self.higher_is_better else a < b


def _accuracy(targets: np.ndarray, proba: np.ndarray) -> float:
    return float(np.mean(proba.argmax(axis=1) == targets))


def _macro_recall(targets: np.ndarray, proba: np.ndarray) -> float:
    """Mean recall over the classes present in ``targets`` (scikit-learn's balanced accuracy)."""
    present = np.unique(targets)
    return float(skm.recall_score(targets, proba.argmax(axis=1), labels=present, average="macro", zero_division=0))


def _norm_macro_recall(targets: np.ndarray, proba: np.ndarray) -> float:
    # Azure: (recall_macro - R) / (1 - R), R = 1/C; 0 at chance level, 1 when perfect.
    return (_macro_recall(targets, proba) - CHANCE_RECALL) / (1.0 - CHANCE_RECALL)


def _macro_f1(targets: np.ndarray, proba: np.ndarray) -> float:
    # Over the classes in the targets or the predictions (scikit-learn's default): a class
    # predicted but absent has F1 0; a class in neither has no F1 to average.
    return float(skm.f1_score(targets, proba.argmax(axis=1), average="macro", zero_division=0))


def _precision_weighted(targets: np.ndarray, proba: np.ndarray) -> float:
    predicted = proba.argmax(axis=1)
    return float(skm.precision_score(targets, predicted, labels=_ALL, average="weighted", zero_division=0))


def _auc_weighted(targets: np.ndarray, proba: np.ndarray) -> float:
    # One-vs-rest per present class, weighted by support; an absent class would weigh 0
    # and has no AUC, so it is left out rather than failing the whole score.
    present = np.unique(targets)
    if len(present) < 2:
        return float("nan")
    onehot = targets[:, None] == present[None, :]
    return float(skm.roc_auc_score(onehot, proba[:, present], average="weighted"))


def _average_precision_weighted(targets: np.ndarray, proba: np.ndarray) -> float:
    present = np.unique(targets)
    onehot = targets[:, None] == present[None, :]
    return float(skm.average_precision_score(onehot, proba[:, present], average="weighted"))


def _log_loss(targets: np.ndarray, proba: np.ndarray) -> float:
    # Probabilities kept off exact 0 (the log loss of a confident miss stays finite), renormalised.
    clipped = np.clip(proba.astype(np.float64), 1e-7, 1.0)
    return float(skm.log_loss(targets, clipped / clipped.sum(axis=1, keepdims=True), labels=_ALL))


#: Every metric by name, in the order reports list them.
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("accuracy", _accuracy, automl_primary=True),
        Metric("macro_f1", _macro_f1),
        Metric("balanced_accuracy", _macro_recall),
        Metric("norm_macro_recall", _norm_macro_recall, automl_primary=True),
        Metric("precision_score_weighted", _precision_weighted, automl_primary=True),
        Metric("AUC_weighted", _auc_weighted, automl_primary=True),
        Metric("average_precision_score_weighted", _average_precision_weighted, automl_primary=True),
        Metric("log_loss", _log_loss, higher_is_better=False),
    )
}
#: The names of :data:`METRICS`.
METRIC_NAMES: tuple[str, ...] = tuple(METRICS)
#: AutoMLConfig's primary metrics for classification.
AUTOML_PRIMARY_METRICS: tuple[str, ...] = tuple(n for n, m in METRICS.items() if m.automl_primary)
#: Other names for a metric: HyperDrive's ``loss`` and AutoML's ``f1_score_macro``.
ALIASES: dict[str, str] = {"loss": "log_loss", "f1_score_macro": "macro_f1"}


def canonical_name(name: str) -> str:
    """The table's name for ``name`` (aliases resolved), or ``name`` unchanged if unknown."""
    return ALIASES.get(name, name)


def get_metric(name: str) -> Metric:
    """The metric called ``name`` (or an alias of it).

    Raises:
        ConfigurationError: no such metric; the message lists the known names.
    """
    metric = METRICS.get(canonical_name(name))
    if metric is None:
        raise ConfigurationError(
            f"unknown metric {name!r}; choose one of {METRIC_NAMES} (or the aliases {sorted(ALIASES)})"
        )
    return metric


def score(name: str, targets: np.ndarray, proba: np.ndarray) -> float:
    """The metric ``name`` of ``(N, 24)`` probabilities against class-index targets.

    Example:
        >>> score("accuracy", np.array([0, 1]), np.eye(24)[[0, 2]])
        0.5
    """
    return get_metric(name)(targets, proba)


__all__ = [
    "Metric",
    "METRICS",
    "METRIC_NAMES",
    "AUTOML_PRIMARY_METRICS",
    "ALIASES",
    "CHANCE_RECALL",
    "canonical_name",
    "get_metric",
    "score",
]
