"""The result every trainer's ``fit`` returns, whichever route and backend produced it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from asl_recog.models._base import Model
from asl_recog.results._display import history_figure, result_html
from asl_recog.results._persist import load_fields, save_result

if TYPE_CHECKING:  # pragma: no cover
    from asl_recog.tracking._registry import Registration


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
        trial_model: when ``best_model`` is the refit model, the selected trial's own model
            (trained without the validation images, so its validation predictions are
            out-of-sample: the "unknown" threshold is chosen from them at export); else None.

    Example:
        >>> trainer = AutoMLTrainer(allowed_models=["KNN"], max_iterations=1, augment=False, progress=False)
        >>> result = trainer.fit(train, validation)  # tiny data; fit(load_sign_mnist("train")) splits for you
        >>> result.best_score, result.best_params["algorithm"]  # validation accuracy of the selected trial
        (0.6..., 'KNN')
        >>> result.leaderboard[["trial", "model", "status", "accuracy"]].head()
           trial model     status  accuracy
        0      0   KNN  completed      0.6...
        >>> result.best_model.save("runs/best")
        PosixPath('runs/best.aslskl')
        >>> result.save("runs/result")  # result.json, leaderboard.csv and the model: no pickle
        PosixPath('runs/result')
        >>> TrainingResult.load("runs/result").best_score == result.best_score
        True
        >>> result.plot_history()  # a matplotlib Figure: shown by a notebook, or fig.savefig("history.png")
        <Figure size 650x400 with 1 Axes>

    In a notebook the result displays as an HTML table of its headline facts and the
    leaderboard's head (``_repr_html_``).
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
    trial_model: Model | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return (
            f"TrainingResult(best_score={self.best_score:.4f} [{self.primary_metric}], "
            f"best_params={self.best_params!r}, best_trial={self.best_trial}, refit={self.refit}, "
            f"trials={len(self.leaderboard)}, backend={self.backend!r})"
        )

    def _repr_html_(self) -> str:
        """Jupyter's view: the headline facts and the leaderboard's first rows, long cells shortened."""
        return result_html(self)

    def plot_history(self) -> Any:
        """Validation curves per epoch, one per trial (the selected one bold), from the leaderboard's ``history``.

        This is the learning curve of the search: how each trial's validation score grew with
        training. AutoML trials have no per-epoch history: their scores are then drawn in
        trial order with the best so far. Nothing is shown or saved here.

        Returns:
            A ``matplotlib.figure.Figure``.
        """
        return history_figure(self)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write this result into the folder ``path``: ``result.json``, ``leaderboard.csv`` and the model files.

        No pickle: the models are saved in their own formats and read back with ``Model.load``.
        Returns the folder.
        """
        return save_result(self, path)

    def register(
        self,
        name: str,
        *,
        tracking_uri: str | None = None,
        alias: str | None = None,
        example: Any = None,
        description: str | None = None,
    ) -> Registration:
        """Register ``best_model`` in the MLflow Model Registry as an ONNX model (extra ``mlflow``).

        The model is exported to ONNX (unless it is one) and logged with MLflow's ``onnx`` flavor,
        a signature and an input example; see :func:`asl_recog.tracking.register_model`. When the
        search was tracked in MLflow (``extras["mlflow"]``), it is logged in a nested ``register``
        run under the search's parent run, on the same server unless ``tracking_uri`` names another.

        Args:
            name: the registered model's name; a new version is added when it exists.
            tracking_uri: the tracking server; None: the tracked search's, else ``$MLFLOW_TRACKING_URI``.
            alias: an alias to point at the new version (e.g. ``"champion"``).
            example: a few training or validation images for the input example (default: the
                bundled training file's first rows); never test images.
            description: the model version's description.

        Returns:
            The :class:`~asl_recog.tracking.Registration` (``.uri`` is ``models:/NAME/VERSION``).

        Example:
            >>> found = result.register("asl-letters", alias="champion")  # doctest: +SKIP
            >>> found.uri  # serve it: asl-recog serve models:/asl-letters/1  # doctest: +SKIP
            'models:/asl-letters/1'
        """
        from asl_recog.tracking._registry import register_model

        found = self.extras.get("mlflow")
        tracked: dict[str, Any] = found if isinstance(found, dict) else {}
        same_server = tracking_uri is None or tracking_uri == tracked.get("tracking_uri")
        return register_model(
            self.best_model,
            name,
            tracking_uri=tracking_uri or tracked.get("tracking_uri"),
            run_id=tracked.get("run_id") if same_server else None,
            alias=alias,
            example=example,
            description=description,
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TrainingResult:
        """Read back a result written by :meth:`save`.

        Raises:
            ModelFileError: ``path`` holds no ``result.json`` or its model files cannot be read.
        """
        return cls(**load_fields(path))


__all__ = ["TrainingResult"]
