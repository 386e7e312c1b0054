"""Ensembles saved with each fitted member once.

A fitted ``VotingClassifier`` or ``StackingClassifier`` reaches each member three
times: the ``estimators`` parameter, ``estimators_`` and the ``named_estimators_``
Bunch. skops shares repeated NumPy arrays but writes a fitted tree again for every
reference, so a voting ensemble of extra trees and KNN took 96 MB on disk for 38 MB
of members, and stack ensembles went over the 100 MB model budget for that reason
alone. Before saving, the ``estimators`` parameter gets unfitted clones (what a
scikit-learn ensemble holds there anyway: ``fit`` never changes its parameters) and
``named_estimators_`` is dropped; after loading it is rebuilt from the names and
``estimators_``.
"""

from __future__ import annotations

import copy
from typing import Any

_ENSEMBLES = ("VotingClassifier", "StackingClassifier")


def for_saving(estimator: Any) -> Any:
    """A shallow copy of a fitted ensemble that references each member once (others as given).

    Example:
        >>> import numpy as np
        >>> from sklearn.ensemble import ExtraTreesClassifier, VotingClassifier
        >>> x, y = np.random.default_rng(0).random((60, 4)), np.arange(60) % 3
        >>> voting = VotingClassifier([("trees", ExtraTreesClassifier(5))], voting="soft").fit(x, y)
        >>> slim = for_saving(voting)
        >>> hasattr(slim, "named_estimators_"), hasattr(slim.estimators[0][1], "estimators_")
        (False, False)
        >>> restored = after_loading(slim)
        >>> restored.named_estimators_["trees"] is voting.estimators_[0]
        True
    """
    from sklearn.base import clone

    if type(estimator).__name__ not in _ENSEMBLES or not hasattr(estimator, "estimators_"):
        return estimator
    slim = copy.copy(estimator)  # the live model keeps its attributes
    slim.estimators = [(name, est if isinstance(est, str) else clone(est)) for name, est in estimator.estimators]
    del slim.named_estimators_
    return slim


def after_loading(estimator: Any) -> Any:
    """Rebuild ``named_estimators_`` of an ensemble saved by :func:`for_saving` (others as given)."""
    from sklearn.utils import Bunch

    saved_slim = not hasattr(estimator, "named_estimators_")
    if type(estimator).__name__ in _ENSEMBLES and hasattr(estimator, "estimators_") and saved_slim:
        fitted = iter(estimator.estimators_)
        estimator.named_estimators_ = Bunch(
            **{name: est if isinstance(est, str) else next(fitted) for name, est in estimator.estimators}
        )
    return estimator


__all__ = ["after_loading", "for_saving"]
