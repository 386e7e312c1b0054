"""Train one CNN and log its primary metric after every epoch: the HyperDrive training script.

Usage::

    python -m asl_recog.routes.hyperdrive.train_cnn --builder default --hidden 128 --batch_size 128 --epochs 5 \\
        --dropout 0.3 --learning_rate 0.002 --data sign_mnist_train.csv --output_dir outputs

Any further ``--name value`` pairs (as HyperDrive passes sampled parameters) go to
the builder. The script trains on the grouped split of ``--data`` (or on ``--data``
as is, when ``--validation`` is given) and logs validation ``accuracy`` and ``loss``
every epoch through a small seam: Azure ML SDK v1's ``Run.get_context()`` inside a
v1 run, MLflow when ``MLFLOW_TRACKING_URI`` is set (Azure ML v2 jobs set it), plain
logging otherwise. The early-termination policy of a sweep acts on these per-epoch
values. The model is saved to ``<output_dir>/model.keras``.

With ``--refit`` (the job after a sweep) it trains on ``--data`` and ``--validation``
together for exactly ``--epochs`` epochs, holding nothing out, and logs the training
``train_loss`` and ``train_accuracy`` instead (there is no validation score to log).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from asl_recog._console import import_keras
from asl_recog.data._dataset import SignMnistDataset, load_sign_mnist
from asl_recog.data._labels import labels_to_indices
from asl_recog.data._split import train_validation_split
from asl_recog.models._base import KerasModel
from asl_recog.routes.hyperdrive._builders import BUILDERS, DEFAULTS, get_builder
from asl_recog.routes.hyperdrive._training import train_network

logger = logging.getLogger("asl_recog")


class MetricLogger(Protocol):
    """Where per-epoch metrics go."""

    name: str

    def log(self, key: str, value: float, step: int) -> None: ...


class _LoggingLogger:
    name = "logging"

    def log(self, key: str, value: float, step: int) -> None:
        logger.info("epoch %d: %s=%.4f", step, key, value)


class _AzureMLv1Logger:
    name = "azureml"

    def __init__(self, run: Any) -> None:
        self.run = run

    def log(self, key: str, value: float, step: int) -> None:
        self.run.log(key, float(value))  # each call appends one value: the metric's per-epoch series
        _LoggingLogger().log(key, value, step)


class _MlflowLogger:
    name = "mlflow"

    def __init__(self, mlflow: Any) -> None:
        self.mlflow = mlflow

    def log(self, key: str, value: float, step: int) -> None:
        self.mlflow.log_metric(key, float(value), step=step)
        _LoggingLogger().log(key, value, step)


def metric_logger() -> MetricLogger:
    """The metric logger for where this script runs (SDK imports are lazy and optional).

    Example:
        >>> metric_logger().log("accuracy", 0.93, step=1)  # outside Azure ML: to the Python log
    """
    if os.environ.get("AZUREML_RUN_ID") and not os.environ.get("MLFLOW_TRACKING_URI"):
        try:
            from azureml.core import Run

            run = Run.get_context()
            if type(run).__name__ != "_OfflineRun":
                return _AzureMLv1Logger(run)
        except ImportError:
            logger.info("azureml-core is not installed; not logging to the Azure ML v1 run")
    if os.environ.get("MLFLOW_TRACKING_URI"):
        try:
            import mlflow

            return _MlflowLogger(mlflow)
        except ImportError:
            logger.info("MLFLOW_TRACKING_URI is set but mlflow is not installed; logging locally")
    return _LoggingLogger()


def _value(text: str) -> Any:
    """A command-line value as int, float, bool or str."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _int(text: str) -> int:
    """An integer option; HyperDrive sends quantized values as ``64.0``."""
    value = float(text)
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}")
    return int(value)


def parse_args(argv: Sequence[str] | None = None) -> tuple[argparse.Namespace, dict[str, Any]]:
    """Known options, and the builder's params (known ones plus any extra ``--name value`` pairs)."""
    parser = argparse.ArgumentParser(
        prog="python -m asl_recog.routes.hyperdrive.train_cnn", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--builder", default="default", choices=list(BUILDERS))
    parser.add_argument("--data", default=None, help="a CSV file or folder (default: the bundled training file)")
    parser.add_argument(
        "--validation",
        default=None,
        help="the validation part (CSV file or folder); with it, --data is trained on as is (no split)",
    )
    parser.add_argument(
        "--refit",
        action="store_true",
        help="train on --data and --validation together, holding nothing out (the refit after a "
        "search); --epochs is then the refit's epoch count",
    )
    parser.add_argument("--output_dir", default="outputs")
    parser.add_argument("--seed", type=int, default=0)
    for name, kind in (
        ("hidden", _int),
        ("batch_size", _int),
        ("epochs", _int),
        ("dropout", float),
        ("learning_rate", float),
        ("filters", _int),
        ("blocks", _int),
    ):
        parser.add_argument(f"--{name}", type=kind, default=None)
    args, extra = parser.parse_known_args(argv)
    if len(extra) % 2 or any(not key.startswith("--") for key in extra[::2]):
        parser.error(f"extra arguments must be --name value pairs, got {extra}")
    params = {
        k: v
        for k, v in vars(args).items()
        if k not in ("builder", "data", "validation", "refit", "output_dir", "seed") and v is not None
    }
    pairs = zip(extra[::2], extra[1::2], strict=True)
    params.update({key[2:].replace("-", "_"): _value(value) for key, value in pairs})
    return args, params


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Train, log every epoch, save; returns the final metrics."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    args, params = parse_args(argv)
    data = load_sign_mnist("train", args.data)
    if args.refit:
        return _refit(args, params, data)
    if args.validation is not None:  # Azure trials get the trainer's own split, uploaded as two datasets
        train, validation = data, load_sign_mnist("train", args.validation)
    else:
        train, validation = train_validation_split(data, seed=args.seed)
    sink = metric_logger()
    logger.info(
        "training the %s CNN on %d images (validation %d), logging to %s; params %s",
        args.builder,
        len(train),
        len(validation),
        sink.name,
        params,
    )
    losses: list[float] = []

    def report(epoch: int, accuracy: float) -> bool:
        sink.log("accuracy", accuracy, epoch)
        return False  # a sweep's policy cancels the run from outside

    import_keras()  # quiet start-up; the plain import below lets mypy see a module it can subclass from
    import keras

    class _LogLoss(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            losses.append(float((logs or {})["val_loss"]))
            sink.log("loss", losses[-1], epoch + 1)

    start = time.perf_counter()
    network, history, _ = train_network(
        get_builder(args.builder),
        params,
        (train.float_images, labels_to_indices(train.labels)),
        (validation.float_images, labels_to_indices(validation.labels)),
        seed=args.seed,
        report=report,
        defaults=DEFAULTS[args.builder],
        extra_callbacks=[_LogLoss()],
    )
    seconds = time.perf_counter() - start
    info = {
        "validation_score": history[-1],
        "primary_metric": "accuracy",
        "training_seconds": seconds,
        "builder": args.builder,
        "epochs_run": len(history),
        "validation_loss": losses[-1] if losses else None,
    }
    path = KerasModel(network, {**DEFAULTS[args.builder], **params}, info).save(Path(args.output_dir) / "model.keras")
    metrics = {"accuracy": history[-1], "loss": losses[-1] if losses else None, "model": str(path)}
    (Path(args.output_dir) / "metrics.json").write_text(json.dumps({**metrics, "history": history}, indent=2))
    logger.info("saved %s (validation accuracy %.4f)", path, history[-1])
    return metrics


def _refit(args: argparse.Namespace, params: dict[str, Any], data: Any) -> dict[str, Any]:
    """Train on ``--data`` plus ``--validation`` for ``--epochs``, log training metrics, save the model."""
    import numpy as np

    parts = [data] if args.validation is None else [data, load_sign_mnist("train", args.validation)]
    train = SignMnistDataset(
        np.concatenate([p.images for p in parts]),
        np.concatenate([p.labels for p in parts]),
        source=" + ".join(str(p.source) for p in parts),
    )
    sink = metric_logger()
    logger.info(
        "refit: training the %s CNN on all %d images (nothing held out), logging to %s; params %s",
        args.builder,
        len(train),
        sink.name,
        params,
    )
    import_keras()  # quiet start-up; the plain import below lets mypy see a module it can subclass from
    import keras

    last: dict[str, float] = {}

    class _LogTraining(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            for key in ("loss", "accuracy"):  # training values: the refit has no validation data
                if key in (logs or {}):
                    last[f"train_{key}"] = float(logs[key])  # type: ignore[index]
                    sink.log(f"train_{key}", last[f"train_{key}"], epoch + 1)

    start = time.perf_counter()
    network, _, _ = train_network(
        get_builder(args.builder),
        params,
        (train.float_images, labels_to_indices(train.labels)),
        None,
        seed=args.seed,
        defaults=DEFAULTS[args.builder],
        extra_callbacks=[_LogTraining()],
    )
    settings = {**DEFAULTS[args.builder], **params}
    info = {
        "refit": True,
        "refit_images": len(train),
        "refit_epochs": int(settings["epochs"]),
        "training_seconds": time.perf_counter() - start,
        "builder": args.builder,
    }
    path = KerasModel(network, settings, info).save(Path(args.output_dir) / "model.keras")
    metrics = {**last, "refit_images": len(train), "epochs": int(settings["epochs"]), "model": str(path)}
    (Path(args.output_dir) / "metrics.json").write_text(json.dumps(metrics, indent=2))
    logger.info("saved %s (refit on %d images for %d epochs)", path, len(train), settings["epochs"])
    return metrics


if __name__ == "__main__":
    main()
