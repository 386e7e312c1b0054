"""The HyperDrive route's refit: retrain the selected configuration on all the data given to ``fit``.

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

import time
from pathlib import Path

import numpy as np

from asl_recog._console import import_keras
from asl_recog.data._dataset import SignMnistDataset
from asl_recog.data._labels import labels_to_indices
from asl_recog.models._base import KerasModel
from asl_recog.models._budgets import BudgetExceeded, check_size
from asl_recog.results import TrainingResult, best_epoch
from asl_recog.results._refit import adopt_refit, all_images, keep_trial_model, selected_row
from asl_recog.routes.hyperdrive._builders import DEFAULTS, get_builder
from asl_recog.routes.hyperdrive._settings import HyperDriveSettings
from asl_recog.routes.hyperdrive._training import train_network


def refit_hyperdrive(
    trainer: HyperDriveSettings,
    result: TrainingResult,
    train: SignMnistDataset,
    validation: SignMnistDataset,
    run_dir: Path,
) -> TrainingResult:
    """Retrain the winning network on all the images for the winning trial's best epoch count."""
    keras = import_keras()
    history = list(selected_row(result).get("history") or [])
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
    return adopt_refit(result, model, seconds, f"{info.get('builder', 'network')} for {epochs} epochs")


__all__ = ["refit_hyperdrive"]
