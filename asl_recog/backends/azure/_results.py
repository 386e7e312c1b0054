"""Azure child runs (SDK v1) and child jobs (SDK v2) turned into a :class:`TrainingResult`.

Both SDKs reduce to a list of :class:`Trial` records, ranked by the one
leaderboard of :mod:`asl_recog.results` that the local backend uses too. A trial's
score is its last logged value of the primary metric, the score of the model it
saved (the library's one rule; Azure's ``get_children_sorted_by_primary_metric``
ranks by the best logged value instead, which describes no saved model). Failed
and canceled trials are listed but never chosen. A completed trial whose downloaded model is over the trainer's
``max_model_size_mb`` (Azure has no such setting, so it is checked here, on the file)
is recorded as failed with the reason, as the local backend records it, and the
next best trial whose model fits is chosen.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from asl_recog._errors import ModelFileError, TrialFailedError
from asl_recog.data._dataset import PIXEL_COLUMNS
from asl_recog.data._labels import LABELS, NUM_CLASSES, NUM_PIXELS
from asl_recog.models._base import Model, SklearnModel
from asl_recog.models._budgets import BudgetExceeded, check_size
from asl_recog.results import TrainingResult, TrialStatus, make_leaderboard
from asl_recog.results._leaderboard import final_value
from asl_recog.search._space import PrimaryMetricGoal

logger = logging.getLogger("asl_recog")

#: Model files a trial leaves in ``outputs/``, most portable first.
MODEL_FILES = ("model.onnx", "model.keras", "model.aslskl", "model.pkl")


@dataclass
class Trial:
    """One child run/job, SDK-independent."""

    trial: str
    status: TrialStatus
    params: dict[str, Any]
    history: list[float]
    model: str = ""
    duration_s: float | None = None
    handle: Any = field(default=None, repr=False)  # the SDK run/job, for downloading
    error: str | None = None  # why the trial was not chosen (e.g. its model is over the size budget)

    def score(self, goal: PrimaryMetricGoal) -> float | None:
        """The trial's score: its last finite logged value (None when it logged none)."""
        value = final_value(self.history)
        return None if math.isnan(value) else value

    @property
    def usable(self) -> bool:
        """Whether the trial may be chosen: it completed."""
        return self.status is TrialStatus.COMPLETED


def as_history(value: Any) -> list[float]:
    """A metric as logged: one value, or a list of per-epoch values."""
    if value is None:
        return []
    values = value if isinstance(value, (list, tuple)) else [value]
    out = []
    for v in values:
        try:
            out.append(float(v))
        except (TypeError, ValueError):
            continue
    return out


def parse_params(raw: Any) -> dict[str, Any]:
    """HyperDrive stores a child's params as JSON with ``--name`` keys; strip the dashes."""
    if raw is None:
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return {"raw": raw}
    return {str(k).lstrip("-"): v for k, v in dict(raw).items()}


def leaderboard(trials: Iterable[Trial], metric: str, goal: PrimaryMetricGoal) -> pd.DataFrame:
    """The one leaderboard (:func:`asl_recog.results.make_leaderboard`) of Azure trials.

    ``error`` says why a trial was not chosen, where it was not.
    """
    rows = [
        {
            "trial": t.trial,
            "model": t.model,
            "params": t.params,
            "status": t.status,
            "value": t.score(goal),
            "history": list(t.history),
            "duration_s": t.duration_s,
            "error": t.error,
        }
        for t in trials
    ]
    return make_leaderboard(rows, metric, maximize=goal is PrimaryMetricGoal.MAXIMIZE)


def ranked(trials: Iterable[Trial], goal: PrimaryMetricGoal) -> list[Trial]:
    """Completed trials with a score, best first."""
    scored = [t for t in trials if t.usable and t.score(goal) is not None]
    sign = -1.0 if goal is PrimaryMetricGoal.MAXIMIZE else 1.0
    return sorted(scored, key=lambda t: sign * float(t.score(goal)))  # type: ignore[arg-type]


def best_trial(trials: list[Trial], goal: PrimaryMetricGoal, metric: str) -> Trial:
    """The best completed trial, or TrialFailedError naming the statuses seen."""
    ordered = ranked(trials, goal)
    if not ordered:
        seen = pd.Series([t.status for t in trials]).value_counts().to_dict() if trials else {}
        raise TrialFailedError(
            f"no completed Azure trial reported {metric!r} (trial statuses: {seen or 'none'}); "
            "open the run in Azure ML studio to read its logs"
        )
    return ordered[0]


def first_that_fits(
    ordered: list[Trial], fetch: Callable[[Trial], Path | None], max_model_size_mb: float
) -> tuple[Trial, Path] | None:
    """The best trial whose downloaded model file is within ``max_model_size_mb``, and that file.

    Args:
        ordered: completed trials, best first (:func:`ranked`).
        fetch: downloads a trial's model and returns its file, or None when the trial has none
            of the wanted kind (that trial is passed over without a mark).
        max_model_size_mb: the trainer's budget; Azure has no such setting, so the file is checked.

    Returns:
        ``(trial, model file)``, or None when no trial has a model that fits. A trial over the
        budget is marked ``failed`` with the reason in ``error``, and its file is deleted (it
        can be large and is never used).
    """
    for trial in ordered:
        path = fetch(trial)
        if path is None:
            continue
        try:
            check_size(f"its model {path.name}", path.stat().st_size, max_model_size_mb)
        except BudgetExceeded as exc:
            trial.status, trial.error = TrialStatus.FAILED, f"rejected: {exc}"
            logger.info("Azure trial %s not chosen: %s", trial.trial, exc)
            path.unlink()
            continue
        return trial, path
    return None


def nothing_fits(ordered: list[Trial], max_model_size_mb: float, missing: str) -> Exception:
    """The error when :func:`first_that_fits` found nothing: the budget's, or ``missing`` (no model file)."""
    rejected = [t for t in ordered if t.error]
    if rejected:
        return TrialFailedError(
            f"every completed Azure trial with a model was over max_model_size_mb={max_model_size_mb:g} "
            f"({'; '.join(f'{t.trial}: {t.error}' for t in rejected)}); raise max_model_size_mb or search "
            "smaller configurations"
        )
    return ModelFileError(missing)


# -- models ----------------------------------------------------------------------------------------


class AzurePipelineEstimator:
    """An Azure AutoML fitted pipeline (``outputs/model.pkl``) behind SklearnModel's estimator contract.

    Azure's pipeline takes a DataFrame of raw 0-255 pixel columns and predicts dataset
    labels; SklearnModel hands estimators flat 0..1 rows and expects class indices.
    Unpickling the pipeline needs Azure's runtime (``azureml-automl-runtime``).
    """

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline
        classes = [int(c) for c in getattr(pipeline, "classes_", LABELS)]
        if set(classes) - set(LABELS):
            raise ModelFileError(f"the Azure pipeline predicts classes {classes}, which are not dataset labels")
        self._columns = np.asarray([LABELS.index(c) for c in classes])
        self.classes_ = np.arange(NUM_CLASSES)

    def predict_proba(self, flat: np.ndarray) -> np.ndarray:
        frame = pd.DataFrame(
            np.rint(np.asarray(flat).reshape(-1, NUM_PIXELS) * 255).astype(np.int64), columns=list(PIXEL_COLUMNS)
        )
        proba = np.asarray(self.pipeline.predict_proba(frame), dtype=np.float32)
        full = np.zeros((len(frame), NUM_CLASSES), dtype=np.float32)
        full[:, self._columns] = proba
        return full

    def predict(self, flat: np.ndarray) -> np.ndarray:
        return np.argmax(self.predict_proba(flat), axis=1)


def find_model_file(folder: Path, prefer_onnx: bool) -> Path:
    """The model file a download left anywhere under ``folder``."""
    names = MODEL_FILES if prefer_onnx else tuple(n for n in MODEL_FILES if n != "model.onnx") + ("model.onnx",)
    found = {p.name: p for p in sorted(folder.rglob("model.*")) if p.is_file()}
    for name in names:
        if name in found:
            return found[name]
    raise ModelFileError(f"{folder}: the downloaded outputs hold no model file (looked for {', '.join(names)})")


def load_model_file(path: Path) -> Model:
    """Load a downloaded model into our types: OnnxModel, KerasModel, SklearnModel."""
    if path.suffix == ".pkl":
        try:
            pipeline = joblib.load(path)
        except ImportError as exc:
            raise ModelFileError(
                f"{path}: Azure's pickled AutoML pipeline needs Azure's runtime to load ({exc}). Train with "
                "enable_onnx_compatible_models=True (the default) to get an ONNX model instead, or "
                "pip install azureml-automl-runtime"
            ) from exc
        return SklearnModel(AzurePipelineEstimator(pipeline))
    return Model.load(path)


def make_result(
    trials: list[Trial],
    best: Trial,
    model: Model,
    *,
    metric: str,
    goal: PrimaryMetricGoal,
    backend: str,
    run_dir: Path | None,
    extras: dict[str, Any],
) -> TrainingResult:
    """Assemble the TrainingResult and record the facts on the model."""
    score = float(best.score(goal))  # type: ignore[arg-type]
    model.params = {**model.params, **best.params}
    model.info.update(
        validation_score=score,
        primary_metric=metric,
        algorithm=best.model or model.info.get("algorithm"),
        azure_trial=best.trial,
        backend=backend,
    )
    rejected = {t.trial: t.error for t in trials if t.error}
    if rejected:  # also in the leaderboard's error column
        extras = {**extras, "rejected_for_size": rejected}
    return TrainingResult(
        best_model=model,
        best_params=dict(best.params),
        best_score=score,
        primary_metric=metric,
        leaderboard=leaderboard(trials, metric, goal),
        run_dir=run_dir,
        backend=backend,
        extras={"best_trial": best.trial, **extras},
        best_trial=best.trial,
    )
