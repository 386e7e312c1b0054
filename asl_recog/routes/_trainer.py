"""The Trainer contract shared by both model routes, and the result it returns."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from asl_recog._errors import ConfigurationError
from asl_recog.data._dataset import SignMnistDataset, as_dataset
from asl_recog.models._base import Model


@dataclass
class TrainingResult:
    """What a trainer's ``fit`` returns.

    Attributes:
        best_model: the fitted best model.
        best_params: hyperparameters (and, for AutoML, the algorithm) of the best model.
        best_score: the selection score: the best trial's validation score on
            ``primary_metric`` (the refit model has no validation score of its own:
            it was trained on the validation images too).
        primary_metric: the metric's name, e.g. ``"accuracy"``.
        leaderboard: one row per trial: ``trial``, ``model``, ``params``, ``status``,
            the primary metric, ``history`` (per-epoch values, where there are any)
            and ``duration_s``; best first.
        run_dir: where the run wrote its study, models and logs (None for none).
        backend: the name of the backend that ran the search.
        duration_s: wall-clock seconds of the whole search.
        extras: backend-specific facts, e.g. the number of augmented training images.
        best_trial: the trial the configuration was selected from: its number (local)
            or its Azure run/job id.
        refit: True when ``best_model`` was retrained on all the data given to
            ``fit`` (training part plus validation) after the search.
        refit_seconds: how long that retraining took.

    Example:
        >>> trainer = AutoMLTrainer(allowed_models=["KNN"], max_iterations=1, augment=False, progress=False)
        >>> result = trainer.fit(train, validation)  # tiny data; fit(load_sign_mnist("train")) splits for you
        >>> result.best_score, result.best_params["algorithm"]  # validation accuracy of the selected trial
        (0.36, 'KNN')
        >>> result.leaderboard[["trial", "model", "status", "accuracy"]].head()
           trial model     status  accuracy
        0      0   KNN  completed      0.36
        >>> result.best_model.save("runs/best")
        PosixPath('runs/best.aslskl')
    """

    best_model: Model
    best_params: dict[str, Any]
    best_score: float
    primary_metric: str
    leaderboard: pd.DataFrame
    run_dir: Path | None = None
    backend: str = "local"
    duration_s: float = 0.0
    extras: dict[str, Any] = field(default_factory=dict)
    best_trial: int | str | None = None
    refit: bool = False
    refit_seconds: float = 0.0

    def __repr__(self) -> str:
        return (
            f"TrainingResult(best_score={self.best_score:.4f} [{self.primary_metric}], "
            f"best_params={self.best_params!r}, best_trial={self.best_trial}, refit={self.refit}, "
            f"trials={len(self.leaderboard)}, backend={self.backend!r})"
        )


class Trainer(ABC):
    """Base of the model routes: constructors store settings, ``fit`` runs the search.

    Settings are checked when the trainer is built (a bad space, policy, metric or
    limit raises :class:`ConfigurationError` at once) but stored unchanged, as in
    scikit-learn. ``backend`` chooses where the search runs: ``None``/``"local"``,
    ``"azure"`` (SDK v2), ``"azureml"`` (SDK v1), ``"auto"``, or a backend object.

    Example:
        >>> trainer = HyperDriveTrainer(max_total_runs=2)  # or AutoMLTrainer(...): the same contract
        >>> trainer.get_params()["max_total_runs"]
        2
        >>> tiny = HyperDriveTrainer(builder="seed", max_total_runs=1, progress=False,
        ...                          fixed_params={"hidden": 16, "batch_size": 64, "epochs": 1, "dropout": 0.1})
        >>> result = tiny.fit(train, validation)  # fit(load_sign_mnist("train")) makes the grouped split
        >>> result.best_params["hidden"], len(result.leaderboard)
        (16, 1)
    """

    #: the route's name, used by backends to dispatch.
    route: str = ""

    def __init__(self) -> None:  # pragma: no cover - subclasses define their settings
        self.backend = None

    def get_params(self) -> dict[str, Any]:
        """The constructor settings, as stored."""
        import inspect

        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}

    @abstractmethod
    def _validate(self) -> None:
        """Raise ConfigurationError on an invalid combination of settings."""

    def fit(self, train: Any, validation: Any = None) -> TrainingResult:
        """Search for the best model.

        Args:
            train: training data: a :class:`SignMnistDataset` or anything
                :func:`load_sign_mnist` accepts.
            validation: held-out data for model selection. None takes the grouped
                split of ``train`` (near-duplicates of one photo never straddle it).
                Never pass the test file: selecting on it makes the test score a lie.

        Returns:
            The best model with its leaderboard.
        """
        from asl_recog.backends import resolve_backend
        from asl_recog.backends.local._workers import refuse_inside_worker_bootstrap
        from asl_recog.data._split import train_validation_split

        refuse_inside_worker_bootstrap()
        self._validate()
        train_data = as_dataset(train, split="train")
        if validation is None:
            train_data, validation_data = train_validation_split(train_data, seed=getattr(self, "seed", 0) or 0)
        else:
            validation_data = as_dataset(validation, split="train")
        if len(train_data) == 0 or len(validation_data) == 0:
            raise ConfigurationError("training and validation data must both hold at least one image")
        backend = resolve_backend(self.backend)
        start = time.perf_counter()
        result = backend.fit(self, train_data, validation_data)
        result.duration_s = result.duration_s or time.perf_counter() - start
        return result

    def _check_backend(self) -> None:
        """Let a backend object reject settings it cannot express, at construction."""
        if self.backend is not None and not isinstance(self.backend, str):
            check = getattr(self.backend, "check", None)
            if check is not None:
                check(self)
        elif isinstance(self.backend, str) and self.backend not in ("local", "azure", "azureml", "auto"):
            raise ConfigurationError(
                f"backend must be None, 'local', 'azure', 'azureml', 'auto' or a backend object, got {self.backend!r}"
            )


def _check_positive_int(name: str, value: Any, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{name} must be an integer >= 1{' or None' if allow_none else ''}, got {value!r}")


def _check_common(trainer: Trainer) -> None:
    """Checks of the settings both routes share."""
    _check_positive_number("max_model_size_mb", trainer.max_model_size_mb)  # type: ignore[attr-defined]
    if not isinstance(trainer.refit, bool):  # type: ignore[attr-defined]
        raise ConfigurationError(f"refit must be True or False, got {trainer.refit!r}")  # type: ignore[attr-defined]


def _check_positive_number(name: str, value: Any, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigurationError(f"{name} must be a number > 0{' or None' if allow_none else ''}, got {value!r}")


def _default_run_dir(route: str) -> Path:
    return Path("runs") / f"{route}-{time.strftime('%Y%m%d-%H%M%S')}"


__all__ = ["Trainer", "TrainingResult", "SignMnistDataset"]
