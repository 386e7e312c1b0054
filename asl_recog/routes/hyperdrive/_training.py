"""Train one Keras trial, reporting the primary metric after every epoch.

The seed project logged its metric once, at the end of training, so its
early-termination policy never had anything to act on. Here a callback reports
validation accuracy (or loss) after each epoch and stops the fit as soon as the
policy says so.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from asl_recog._console import import_keras, import_tensorflow
from asl_recog._errors import ConfigurationError
from asl_recog.backends.local._scheduler import TrialOutcome
from asl_recog.data._labels import labels_to_indices
from asl_recog.models._base import KerasModel, network_proba
from asl_recog.models._budgets import BudgetExceeded, check_size
from asl_recog.routes._settings import DEFAULT_MAX_MODEL_SIZE_MB
from asl_recog.routes.hyperdrive._augmented import (
    OUTLIER_KEY,
    SHARE_KEY,
    STRENGTH_KEY,
    TRANSFER_KEY,
    augmented_batches,
    with_corrupted_copy,
)
from asl_recog.routes.hyperdrive._builders import DEFAULTS, _sparse_smoothed_loss, get_builder

logger = logging.getLogger("asl_recog")

Report = Callable[[int, float], bool]
#: What a trial trains with when neither its params nor its builder's defaults say (the search's
#: rung policies read ``epochs`` from here too).
TRAINING_DEFAULTS: dict[str, Any] = {"batch_size": 128, "epochs": 5}


def configure_threads(threads: int | None) -> None:
    """Cap TensorFlow's thread pools (parallel trials must not oversubscribe the cores).

    Only possible before TensorFlow starts its runtime; later calls are ignored.
    """
    if not threads:
        return
    tf = import_tensorflow()

    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(min(2, int(threads)))
    except RuntimeError:  # runtime already initialised in this process
        logger.debug("TensorFlow threads already configured; keeping them")


def _metric_key(logs: dict[str, Any], metric: str) -> str:
    if metric == "loss":
        return "val_loss"
    if "val_accuracy" in logs:
        return "val_accuracy"
    for key in logs:
        if key.startswith("val_") and "acc" in key:
            return key
    raise ConfigurationError(
        f"the network's validation logs {sorted(logs)} have no accuracy; compile it with metrics=['accuracy']"
    )


def _make_callback(metric: str, report: Report | None, history: list[float], state: dict[str, Any]) -> Any:
    import_keras()  # quiet start-up; the plain import below lets mypy see a module it can subclass from
    import keras

    class _ReportEachEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            logs = logs or {}
            value = float(logs[_metric_key(logs, metric)])
            history.append(value)
            if report is not None and report(epoch + 1, value):
                state["pruned"] = True
                self.model.stop_training = True

    return _ReportEachEpoch()


def train_network(
    builder: Callable[[dict[str, Any]], Any],
    params: dict[str, Any],
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray] | None,
    *,
    metric: str = "accuracy",
    seed: int = 0,
    report: Report | None = None,
    defaults: dict[str, Any] | None = None,
    extra_callbacks: list[Any] | None = None,
) -> tuple[Any, list[float], bool]:
    """Build and fit one network epoch by epoch.

    Args:
        builder: ``params -> compiled keras.Model``.
        params: the trial's hyperparameters (``batch_size`` and ``epochs`` are used here, and
            ``robust_strength``, ``robust_share``, ``outlier_share`` and ``transfer_share``: the batches
            they make).
        train: ``(images (N, 28, 28, 1) float32 0..1, class indices 0-23)``.
        validation: the same for validation data; None for a refit on all the data
            (nothing is reported then, and the history is empty).
        metric: ``"accuracy"`` (validation accuracy) or ``"loss"`` (validation loss).
        seed: seeds Python, NumPy and TensorFlow.
        report: called as ``report(epoch, value)`` after every epoch; returning True stops training.
        defaults: fallback ``batch_size``/``epochs`` when params lack them.
        extra_callbacks: more Keras callbacks (e.g. a metric logger).

    Returns:
        ``(network, per-epoch metric values, stopped_by_policy)``.

    Example:
        >>> from asl_recog.routes.hyperdrive._builders import build_seed
        >>> x, y = train.float_images, labels_to_indices(train.labels)
        >>> vx, vy = validation.float_images, labels_to_indices(validation.labels)
        >>> net, history, pruned = train_network(build_seed, {"epochs": 2, "hidden": 16}, (x, y), (vx, vy))
        >>> len(history), pruned  # one validation accuracy per epoch
        (2, False)
    """
    keras = import_keras()

    keras.utils.set_random_seed(int(seed) % 2**31)
    make_deterministic()
    settings = {**TRAINING_DEFAULTS, **(defaults or {}), **params}
    network = builder(dict(params))
    if not isinstance(network, keras.Model):
        raise ConfigurationError(f"the builder returned {type(network).__name__}, not a compiled keras.Model")
    history: list[float] = []
    state = {"pruned": False}
    callbacks = list(extra_callbacks or [])
    if validation is not None:
        callbacks.append(_make_callback(metric, report, history, state))
    batch_size, epochs = int(settings["batch_size"]), int(settings["epochs"])
    schedule = learning_rate_schedule(settings, epochs * -(-len(train[0]) // batch_size))
    if schedule is not None:
        callbacks.insert(0, schedule)
    strength = float(settings.get(STRENGTH_KEY) or 0)
    outliers = float(settings.get(OUTLIER_KEY) or 0)
    if outliers > 0 and not isinstance(network.loss, _sparse_smoothed_loss()):
        raise ConfigurationError(
            f"{OUTLIER_KEY}={outliers:g} labels its no-hand images -1, which only asl_recog's "
            f"SparseSmoothedCrossentropy reads (as a uniform target); the network's loss is {network.loss!r}. "
            f"Compile it with that loss, or set {OUTLIER_KEY}=0"
        )
    transfer = float(settings.get(TRANSFER_KEY) or 0)
    if strength > 0 or outliers > 0 or transfer > 0:  # drawn afresh for each batch (routes/hyperdrive/_augmented.py)
        share = float(settings.get(SHARE_KEY, 1.0))
        batches = augmented_batches(train[0], train[1], batch_size, strength, int(seed), share, outliers, transfer)
        network.fit(batches, validation_data=validation, epochs=epochs, verbose=0, callbacks=callbacks)
    else:
        network.fit(
            train[0],
            train[1],
            validation_data=validation,
            batch_size=batch_size,
            epochs=epochs,
            verbose=0,
            shuffle=True,
            callbacks=callbacks,
        )
    return network, history, state["pruned"]


def make_deterministic() -> None:
    """Switch on TensorFlow's op determinism, so a seeded fit repeats bit for bit.

    Seeds alone fix the initial weights, the shuffles and the augmentation draws;
    op determinism also fixes the order of floating-point reductions, which on
    GPUs (and in some CPU kernels) otherwise varies between runs. It is
    process-wide and TensorFlow has no call to switch it off again; trials run in
    worker processes, and in the calling process it holds for the refit and for
    any TensorFlow work after it. Its cost on 2 CPU cores is in docs/benchmarks.md.

    Example:
        >>> make_deterministic()  # idempotent: every seeded fit calls it
    """
    import_tensorflow().config.experimental.enable_op_determinism()


def learning_rate_schedule(params: dict[str, Any], total_steps: int) -> Any:
    """A per-batch learning-rate callback for ``params["lr_schedule"] == "cosine"``, else None.

    Cosine decay with a short linear warm-up, defined over the whole fit (so a
    refit of more images or other epochs still ends at a low rate). It is a
    callback, not an optimizer schedule, because the number of steps is known only
    here, where the data meets the epochs; the builder stays ``params -> model``.
    """
    if params.get("lr_schedule", "constant") != "cosine":
        return None
    import_keras()  # quiet start-up; the plain import below lets mypy see a module it can subclass from
    import keras

    peak = float(params["learning_rate"])
    warmup = max(1, int(total_steps * float(params.get("warmup_fraction", 0.1))))
    cosine = keras.optimizers.schedules.CosineDecay(
        peak * 0.05, max(1, total_steps - warmup), alpha=0.0, warmup_target=peak, warmup_steps=warmup
    )

    class _Cosine(keras.callbacks.Callback):
        step = 0

        def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            self.model.optimizer.learning_rate.assign(float(cosine(min(self.step, total_steps))))
            self.step += 1

    return _Cosine()


def load_arrays(payload: dict[str, Any]) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The trial's (train, validation) arrays: passed in memory, or as .npy files for worker processes."""
    if "arrays" in payload:
        x, y, vx, vy = payload["arrays"]
    else:
        folder = Path(payload["data_dir"])
        x, y, vx, vy = (np.load(folder / f"{name}.npy") for name in ("x", "y", "vx", "vy"))
    return (_scale(x), labels_to_indices(y)), (_scale(vx), labels_to_indices(vy))


def _scale(images: np.ndarray) -> np.ndarray:
    return (images.astype(np.float32) / 255.0)[..., None]


def hyperdrive_runner(task: Any, reporter: Any) -> Any:
    """Run one HyperDrive trial (the scheduler's runner; module-level so workers can import it)."""
    payload = task.payload
    if payload.get("threads"):
        os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(payload["threads"]))
        configure_threads(payload["threads"])
    keras = import_keras()

    keras.backend.clear_session()  # trials run in one process must not pile up graphs
    train, validation = load_arrays(payload)
    clean = validation
    if payload.get("robust_selection"):
        validation = with_corrupted_copy(validation)
    builder = payload["builder"]
    start = time.perf_counter()
    network, history, pruned = train_network(
        get_builder(builder),
        task.params,
        train,
        validation,
        metric=payload["metric"],
        seed=task.seed,
        report=reporter.report,
        defaults=DEFAULTS.get(builder) if isinstance(builder, str) else None,
    )
    seconds = time.perf_counter() - start
    if not history:
        raise RuntimeError("the network trained for no epoch; set epochs >= 1")
    if pruned:
        return TrialOutcome("pruned", history[-1], history, None, {"training_seconds": seconds})
    builder_name = builder if isinstance(builder, str) else getattr(builder, "__name__", "custom")
    info = {
        "validation_score": history[-1],
        "primary_metric": payload["metric"],
        **(_robust_scores(network, clean, history[-1], payload["metric"]) if payload.get("robust_selection") else {}),
        "training_seconds": seconds,
        "builder": builder_name,
        "epochs_run": len(history),
        "trial": task.number,
    }
    path = KerasModel(network, task.params, info).save(Path(task.run_dir) / "models" / f"trial_{task.number:05d}.keras")
    try:  # the .keras file holds the weights and Adam's two moments: it bounds the ONNX graph too
        check_size(
            f"the saved network {path.name}",
            path.stat().st_size,
            payload.get("max_model_size_mb", DEFAULT_MAX_MODEL_SIZE_MB),
        )
    except BudgetExceeded:
        path.unlink()
        raise
    return TrialOutcome("complete", history[-1], history, str(path), info)


def _robust_scores(network: Any, clean: tuple[np.ndarray, np.ndarray], mixed: float, metric: str) -> dict[str, Any]:
    """A robustly selected trial's scores: the clean validation accuracy is its ``validation_score``
    (what the Comparator sets beside test accuracy), the mean of clean and corrupted its selection score."""
    if metric != "accuracy":
        return {"selection_score": mixed}
    right = network_proba(network, clean[0]).argmax(axis=1) == clean[1]
    clean_accuracy = float(right.mean())
    return {
        "validation_score": clean_accuracy,
        "selection_score": mixed,
        "validation_score_corrupted": 2 * mixed - clean_accuracy,
    }


__all__ = [
    "TRAINING_DEFAULTS",
    "train_network",
    "configure_threads",
    "make_deterministic",
    "hyperdrive_runner",
    "load_arrays",
]
