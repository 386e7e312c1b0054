"""Refit: retrain the selected configuration on all the data given to ``fit``.

A trial's model saw only the training part of the split; the photos held out
for validation are as valuable for the final model as any other. As
``GridSearchCV(refit=True)``, FLAML's ``retrain_full`` and KerasTuner's advice on
``get_best_models`` do, the configuration chosen on validation is trained again
on training part plus validation. The selection score stays the trial's
validation score: the refit model has none of its own, having seen those images.

Epochs of a refit CNN follow a stated rule: the best epoch of the winning
trial's validation curve (the latest one on ties). Its learning-rate schedule is
laid over exactly those epochs, so it ends low as it did in the trial.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from asl_recog.data._labels import labels_to_indices
from asl_recog.models._base import KerasModel, SklearnModel
from asl_recog.models._budgets import BudgetExceeded, check_model, check_size

if TYPE_CHECKING:
    from asl_recog.data._dataset import SignMnistDataset
    from asl_recog.routes._trainer import TrainingResult
    from asl_recog.routes.automl._trainer import AutoMLTrainer
    from asl_recog.routes.hyperdrive._trainer import HyperDriveTrainer

logger = logging.getLogger("asl_recog")


def all_images(train: SignMnistDataset, validation: SignMnistDataset) -> tuple[np.ndarray, np.ndarray]:
    """Training part and validation together: the data a refit trains on."""
    return np.concatenate([train.images, validation.images]), np.concatenate([train.labels, validation.labels])


def best_epoch(history: list[float], maximize: bool = True) -> int:
    """The 1-based epoch with the best value; the latest of equal values (more training, lower rate).

    Example:
        >>> best_epoch([0.90, 0.95, 0.95, 0.93])
        3
    """
    if not history:
        raise ValueError("the trial has no per-epoch history")
    values = np.asarray(history, dtype=float)
    best = np.nanmax(values) if maximize else np.nanmin(values)
    return int(np.flatnonzero(values == best)[-1]) + 1


def _trial_row(result: TrainingResult) -> dict[str, Any]:
    board = result.leaderboard
    rows = board[board["trial"] == result.best_trial]
    return {str(key): value for key, value in rows.iloc[0].items()} if len(rows) else {}


def _adopt(result: TrainingResult, model: Any, seconds: float, what: str) -> TrainingResult:
    result.best_model, result.refit, result.refit_seconds = model, True, seconds
    logger.info("refit %s on all %s images in %.0f s", what, f"{model.info.get('refit_images', 0):,}", seconds)
    return result


def keep_trial_model(result: TrainingResult, reason: str) -> TrainingResult:
    # The default must never raise: the trial's model, which passed every budget, stays.
    logger.warning("refit model not used: %s; keeping trial %s's own model", reason, result.best_trial)
    result.extras["refit_skipped"] = reason
    return result


def refit_hyperdrive(
    trainer: HyperDriveTrainer,
    result: TrainingResult,
    train: SignMnistDataset,
    validation: SignMnistDataset,
    run_dir: Path,
) -> TrainingResult:
    """Retrain the winning network on all the images for the winning trial's best epoch count."""
    from asl_recog._console import import_keras
    from asl_recog.routes.hyperdrive._builders import DEFAULTS, get_builder
    from asl_recog.routes.hyperdrive._training import train_network

    keras = import_keras()
    history = list(_trial_row(result).get("history") or [])
    params = dict(result.best_params)
    epochs = best_epoch(history, trainer.goal.value == "maximize") if history else int(params.get("epochs", 1))
    params["epochs"] = epochs
    images, labels = all_images(train, validation)
    x, y = (images.astype(np.float32) / 255.0)[..., None], labels_to_indices(labels)
    folder = run_dir / "refit"
    folder.mkdir(parents=True, exist_ok=True)
    # Every epoch's model is kept for the record (the benchmark scores them afterwards);
    # none is ever used for selection.
    checkpoints = keras.callbacks.ModelCheckpoint(str(folder / "epoch_{epoch:02d}.keras"), save_freq="epoch")
    keras.backend.clear_session()
    builder = trainer.builder
    start = time.perf_counter()
    network, _, _ = train_network(
        get_builder(builder),
        params,
        (x, y),
        None,
        seed=trainer.seed or 0,
        defaults=DEFAULTS.get(builder) if isinstance(builder, str) else None,
        extra_callbacks=[checkpoints],
    )
    seconds = time.perf_counter() - start
    info = {
        **result.best_model.info,
        "refit": True,
        "refit_epochs": epochs,
        "refit_images": len(x),
        "training_seconds": seconds,
        "selected_trial": result.best_trial,
    }
    model = KerasModel(network, params, info)
    path = model.save(folder / "model.keras")
    try:  # the .keras file holds the weights and Adam's two moments: it bounds the ONNX graph too
        check_size(f"the refit model {path.name}", path.stat().st_size, trainer.max_model_size_mb)
    except BudgetExceeded as exc:
        return keep_trial_model(result, str(exc))
    result.best_params = params
    return _adopt(result, model, seconds, f"{info.get('builder', 'network')} for {epochs} epochs")


def refit_automl(
    trainer: AutoMLTrainer, result: TrainingResult, train: SignMnistDataset, validation: SignMnistDataset, run_dir: Path
) -> TrainingResult:
    """Retrain the winning pipeline (or each member of the winning ensemble) on all the images."""
    from asl_recog.routes.automl._portfolio import augment, build_pipeline, soft_voting
    from asl_recog.routes.automl._search import ENSEMBLE

    images, labels = all_images(train, validation)
    if trainer.augment:
        images, labels = augment(images, labels, copies=1, seed=trainer.seed or 0)
    x = images.reshape(len(images), -1).astype(np.float32) / 255.0
    y = labels_to_indices(labels)
    params = dict(result.best_params)
    seed = trainer.seed or 0
    start = time.perf_counter()
    if params.get("algorithm") == ENSEMBLE:
        params_of = result.leaderboard.set_index("trial")["params"]
        members: list[dict[str, Any]] = [dict(params_of[number]) for number in params["members"]]
        estimators = [build_pipeline(m.pop("algorithm"), m, seed).fit(x, y) for m in members]
        estimator = soft_voting(estimators, list(params["weights"]))
    else:
        settings = {k: v for k, v in params.items() if k != "algorithm"}
        estimator = build_pipeline(params["algorithm"], settings, seed).fit(x, y)
    seconds = time.perf_counter() - start
    info = {
        **result.best_model.info,
        "refit": True,
        "refit_images": len(train) + len(validation),
        "refit_rows": len(x),
        "training_seconds": seconds,
        "selected_trial": result.best_trial,
    }
    model = SklearnModel(estimator, params, info)
    path = model.save(run_dir / "refit" / "model.aslskl")
    try:
        info["onnx_bytes"] = check_model(path, estimator, trainer.max_model_size_mb)
    except BudgetExceeded as exc:
        return keep_trial_model(result, str(exc))
    return _adopt(result, model, seconds, str(params.get("algorithm")))


__all__ = ["refit_hyperdrive", "refit_automl", "best_epoch", "all_images", "keep_trial_model"]
