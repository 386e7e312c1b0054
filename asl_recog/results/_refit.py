"""Refit bookkeeping shared by every route and backend: the data, and adopting or declining the refit model.

``refit=True`` retrains the selected configuration on all the data given to
``fit``; the route does the training, this module records the outcome in the
:class:`TrainingResult`. The default never raises: a refit model that breaks a
budget is declined and the selected trial's own model stays.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from asl_recog.data._dataset import SignMnistDataset
from asl_recog.results._result import TrainingResult

logger = logging.getLogger("asl_recog")


def all_images(train: SignMnistDataset, validation: SignMnistDataset) -> tuple[np.ndarray, np.ndarray]:
    """Training part and validation together: the data a refit trains on."""
    return np.concatenate([train.images, validation.images]), np.concatenate([train.labels, validation.labels])


def selected_row(result: TrainingResult) -> dict[str, Any]:
    """The leaderboard row of the trial the configuration was selected from (empty if none)."""
    board = result.leaderboard
    rows = board[board["trial"] == result.best_trial]
    return {str(key): value for key, value in rows.iloc[0].items()} if len(rows) else {}


def adopt_refit(result: TrainingResult, model: Any, seconds: float, what: str) -> TrainingResult:
    """Make the refit ``model`` the result's ``best_model`` (the trial's own stays as ``trial_model``)."""
    result.trial_model = result.best_model
    result.best_model, result.refit, result.refit_seconds = model, True, seconds
    logger.info("refit %s on all %s images in %.0f s", what, f"{model.info.get('refit_images', 0):,}", seconds)
    return result


def keep_trial_model(result: TrainingResult, reason: str) -> TrainingResult:
    """Decline the refit model and keep the selected trial's own, saying why in ``extras``."""
    # The default must never raise: the trial's model, which passed every budget, stays.
    logger.warning("refit model not used: %s; keeping trial %s's own model", reason, result.best_trial)
    result.extras["refit_skipped"] = reason
    return result


__all__ = ["adopt_refit", "all_images", "keep_trial_model", "selected_row"]
