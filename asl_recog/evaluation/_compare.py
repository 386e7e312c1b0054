"""Compare fitted models on the held-out test set: accuracy with intervals, speed, size, significance.

This is the only part of asl_recog that reads the test set. Training and model
selection use the validation split; the test set only reports.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from asl_recog._errors import ConfigurationError, DataFormatError
from asl_recog.data._dataset import SignMnistDataset
from asl_recog.data._labels import LETTERS, NUM_CLASSES, labels_to_indices
from asl_recog.data._split import similarity_groups
from asl_recog.evaluation._comparison import ComparisonResult
from asl_recog.evaluation._latency import Latency, measure_latency
from asl_recog.evaluation._metrics import METRIC_NAMES, METRICS, canonical_name
from asl_recog.evaluation._photos import PhotoResult, evaluate_photos
from asl_recog.evaluation._robustness import (
    CorruptionSuite,
    RobustnessResult,
    mca_columns,
    suite_from,
    unknown_threshold,
)
from asl_recog.evaluation._stats import accuracy_ci, mcnemar_exact, photos_misread
from asl_recog.models._base import Model
from asl_recog.models._export import export_onnx
from asl_recog.models._onnx import OnnxModel

logger = logging.getLogger("asl_recog")

_ALL = list(range(NUM_CLASSES))


class Comparator:
    """Evaluate several models the same way on the held-out test set and pick a winner.

    Args:
        models: name -> fitted :class:`Model` or path to a saved model
            (``.keras``, ``.aslskl``, ``.onnx``).
        primary_metric: what the winner is chosen by; one of :data:`METRIC_NAMES`
            (``log_loss`` is minimised, the others maximised).
        gap_warning: flag a model (and log a warning) when its trainer-reported
            validation score and its test score differ by more than this: a sign
            of leakage or of a validation set unlike the test set.
        latency_repeats: single-image calls timed per model.
        batch_size: batch used for throughput.
        alpha: significance level of McNemar's test.
        measure_speed: set False to skip latency (and the ONNX export it needs).

    Latency is measured through onnxruntime for every model that has or can get
    an ONNX form (non-ONNX models are exported to a temporary file, with the
    parity check); a model whose export fails is timed with its native
    ``predict_proba``; the ``latency_runtime`` column says which.

    Example:
        >>> comparator = Comparator({"knn": "runs/best.onnx", "cnn": Model.load("runs/best.keras")}, latency_repeats=5)
        >>> result = comparator.evaluate(test)  # 50 test images here; load_sign_mnist("test") for all
        >>> result.summary[["accuracy"]]  # latency_p50_ms and more columns beside it
               accuracy
        model
        knn        0.42
        cnn        0.06
    """

    def __init__(
        self,
        models: Mapping[str, Model | str | os.PathLike[str]],
        primary_metric: str = "accuracy",
        *,
        gap_warning: float = 0.05,
        latency_repeats: int = 200,
        batch_size: int = 1024,
        alpha: float = 0.05,
        measure_speed: bool = True,
    ) -> None:
        if not isinstance(models, Mapping) or not models:
            raise ConfigurationError("models must be a non-empty dict of name -> Model or saved-model path")
        metric = canonical_name(primary_metric)
        if metric not in METRICS:
            raise ConfigurationError(f"primary_metric must be one of {METRIC_NAMES}, got {primary_metric!r}")
        if not 0 < alpha < 1 or gap_warning < 0 or latency_repeats < 1 or batch_size < 1:
            raise ConfigurationError("need 0 < alpha < 1, gap_warning >= 0, latency_repeats >= 1, batch_size >= 1")
        self.models: dict[str, Model] = {}
        self.paths: dict[str, Path] = {}
        for name, value in models.items():
            if isinstance(value, Model):
                self.models[str(name)] = value
            elif isinstance(value, (str, os.PathLike)):
                self.paths[str(name)] = Path(value)
                self.models[str(name)] = Model.load(value)
            else:
                raise ConfigurationError(
                    f"model {name!r} is a {type(value).__name__}; pass a fitted asl_recog "
                    "Model or the path of a saved model"
                )
        self.primary_metric = metric
        self.gap_warning, self.alpha = float(gap_warning), float(alpha)
        self.latency_repeats, self.batch_size, self.measure_speed = latency_repeats, batch_size, measure_speed

    def evaluate(
        self,
        test: SignMnistDataset,
        corruptions: CorruptionSuite | Sequence[str] | bool | None = None,
        photos: Mapping[str, SignMnistDataset] | None = None,
    ) -> ComparisonResult:
        """Score every model on ``test`` (the held-out test set) and rank them.

        Args:
            test: the held-out test set.
            corruptions: also measure accuracy off the dataset: ``True`` for the whole
                corruption suite on a fixed 1,000-image subsample, a list of corruption
                names, or a :class:`CorruptionSuite`. A model whose ONNX metadata holds an
                "unknown" threshold has its refusals counted as wrong. The ranking is
                still by ``primary_metric`` on the clean test set.
            photos: named photo sets beside the test file, e.g. ``{"massey": load_sign_mnist("test",
                path=folder)}`` for a folder of real photos in letter sub-folders: top-1 (a refusal
                counts as wrong), top-3, per letter and the share answered, in ``photos`` and the
                report; the summary gains ``<set>_top1`` and ``<set>_top3``. Not used for ranking.
        """
        if not isinstance(test, SignMnistDataset):
            raise DataFormatError(
                f"test must be a SignMnistDataset, got {type(test).__name__}",
                source="test",
                fix="pass load_sign_mnist('test')",
            )
        if len(test) == 0:
            raise DataFormatError("the test set is empty", source=test.source, fix="pass the real test set")
        y = labels_to_indices(test.labels)
        # The test file's images are copies of far fewer photos: each row also counts photos.
        groups = similarity_groups(test)
        rows: list[dict[str, Any]] = []
        recall: dict[str, np.ndarray] = {}
        confusion: dict[str, np.ndarray] = {}
        predictions: dict[str, np.ndarray] = {}
        notes: list[str] = []
        with tempfile.TemporaryDirectory(prefix="asl_recog_compare_") as tmp:
            for name, model in self.models.items():
                proba = np.asarray(model.predict_proba(test), dtype=np.float64)
                row, extra = self._score(name, model, y, proba, groups)
                row.update(self._size(name, model, Path(tmp)))
                row.update(
                    self._speed(name, model, test, Path(tmp), notes)
                    if self.measure_speed
                    else {
                        "onnx_size_bytes": math.nan,
                        "latency_p50_ms": math.nan,
                        "latency_p95_ms": math.nan,
                        "throughput_ips": math.nan,
                        "latency_runtime": "not measured",
                    }
                )
                rows.append(row)
                recall[name], confusion[name] = extra["recall"], extra["confusion"]
                predictions[name] = extra["pred"]
                notes.extend(extra["notes"])
        summary = pd.DataFrame(rows).set_index("model")
        robustness = self._robustness(test, corruptions)
        photo_results = self._photos(photos)
        for model_name, sets in photo_results.items():
            for set_name, r in sets.items():
                summary.loc[model_name, f"{set_name}_top1"] = r.top1
                summary.loc[model_name, f"{set_name}_top3"] = r.top3
        for column, values in mca_columns(robustness).items():
            summary[column] = pd.Series(values)
        higher = METRICS[self.primary_metric].higher_is_better

        primary, size = summary[self.primary_metric].astype(float), summary["size_bytes"].astype(float)
        latency = summary["latency_p50_ms"].astype(float)

        def rank(name: str) -> tuple[float, float, float, str]:
            value = float(primary[name])
            return (-value if higher else value, float(size[name]), _or_inf(float(latency[name])), name)

        order = sorted((str(n) for n in summary.index), key=rank)
        summary = summary.loc[order]
        summary.insert(0, "rank", range(1, len(order) + 1))
        mcnemar = None
        if len(order) >= 2:
            a, b = order[0], order[1]
            mcnemar = mcnemar_exact(y, predictions[a], predictions[b], a, b, self.alpha, groups)
            logger.info(mcnemar.statement)
        return ComparisonResult(
            summary=summary,
            best=order[0],
            best_model=self.models[order[0]],
            mcnemar=mcnemar,
            primary_metric=self.primary_metric,
            per_letter_recall=pd.DataFrame(recall, index=LETTERS)[order],
            confusion=confusion,
            predictions=predictions,
            n_test=len(test),
            test_source=test.source,
            notes=notes,
            robustness=robustness,
            photos=photo_results,
        )

    def _robustness(self, test: SignMnistDataset, corruptions: Any) -> dict[str, RobustnessResult]:
        suite = suite_from(corruptions)
        if suite is None:
            return {}
        out = {name: suite.evaluate(model, test, unknown_threshold(model)) for name, model in self.models.items()}
        for name, r in out.items():
            logger.info("%s: mean corruption accuracy %.4f (95%% CI %.4f-%.4f)", name, r.mca, *r.mca_ci)
        return out

    def _photos(self, photos: Mapping[str, SignMnistDataset] | None) -> dict[str, dict[str, PhotoResult]]:
        if photos is None:
            return {}
        if not isinstance(photos, Mapping) or not photos:
            raise ConfigurationError(
                "photos must be a non-empty dict of name -> SignMnistDataset, e.g. "
                "{'massey': load_sign_mnist('test', path='photos/')}"
            )
        out = {
            name: {str(k): evaluate_photos(model, data, str(k), unknown_threshold(model)) for k, data in photos.items()}
            for name, model in self.models.items()
        }
        for name, sets in out.items():
            for r in sets.values():
                logger.info("%s on %s: top-1 %.4f, top-3 %.4f (%d photos)", name, r.name, r.top1, r.top3, r.n_images)
        return out

    def _score(
        self,
        name: str,
        model: Model,
        y: np.ndarray,
        proba: np.ndarray,
        groups: np.ndarray,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        from sklearn.metrics import confusion_matrix, recall_score

        if proba.shape != (len(y), NUM_CLASSES):
            raise DataFormatError(
                f"model {name!r} returned probabilities of shape {proba.shape}",
                source=name,
                fix=f"predict_proba must return (N, {NUM_CLASSES})",
            )
        pred = proba.argmax(1)
        correct = int(np.sum(pred == y))
        low, high = accuracy_ci(correct, len(y))
        misread, photos = photos_misread(pred == y, groups)
        photo_low, photo_high = accuracy_ci(photos - misread, photos)
        row: dict[str, Any] = {
            "model": name,
            "accuracy": correct / len(y),
            "accuracy_ci_low": low,
            "accuracy_ci_high": high,
            "photos": photos,
            "photos_misread": misread,
            "photo_accuracy_ci_low": photo_low,
            "photo_accuracy_ci_high": photo_high,
            "macro_f1": METRICS["macro_f1"](y, proba),
        }
        if self.primary_metric not in row:
            row[self.primary_metric] = METRICS[self.primary_metric](y, proba)
        notes: list[str] = []
        row.update(self._gap(name, model, y, proba, row, notes))
        row["training_seconds"] = _number(model.info.get("training_seconds"))
        checks = model.info.get("guardrails") or []
        if checks:  # the AutoML route's data guardrails travel with its model (passed / done / alerted)
            notes.append(
                f"{name}: data guardrails: "
                + "; ".join(f"{c.get('name')} {c.get('status')} ({c.get('description')})" for c in checks)
            )
        extra = {
            "pred": pred,
            "notes": notes,
            "recall": recall_score(y, pred, labels=_ALL, average=None, zero_division=0),
            "confusion": confusion_matrix(y, pred, labels=_ALL),
        }
        return row, extra

    def _gap(
        self,
        name: str,
        model: Model,
        y: np.ndarray,
        proba: np.ndarray,
        row: dict[str, Any],
        notes: list[str],
    ) -> dict[str, Any]:
        """Validation score the trainer reported vs the test score on the same metric."""
        validation = _number(model.info.get("validation_score"))
        metric = canonical_name(str(model.info.get("primary_metric") or ""))
        metric = metric if metric in METRICS else self.primary_metric
        if math.isnan(validation):
            return {
                "validation_metric": metric,
                "validation_score": math.nan,
                "test_score": math.nan,
                "val_test_gap": math.nan,
                "gap_flag": False,
            }
        test_score = float(row[metric]) if metric in row else METRICS[metric](y, proba)
        gap = test_score - validation
        flag = abs(gap) > self.gap_warning
        if flag:
            why = (
                "validation overstates the test score: a sign of leakage (e.g. near-duplicate frames of "
                "one signer on both sides of the split) or of selecting on validation too often"
                if gap < 0
                else "the validation set is harder than, or differs from, the test set"
            )
            message = (
                f"{name}: validation {metric} {validation:.4f} vs test {test_score:.4f} differ by "
                f"{abs(gap):.4f} (> {self.gap_warning:g}); {why}"
            )
            logger.warning(message)
            notes.append(message)
        return {
            "validation_metric": metric,
            "validation_score": validation,
            "test_score": test_score,
            "val_test_gap": gap,
            "gap_flag": bool(flag),
        }

    def _size(self, name: str, model: Model, tmp: Path) -> dict[str, Any]:
        """Bytes of the model's saved file: the given path, or a fresh save in its native format."""
        path = self.paths.get(name)
        if path is None:
            path = model.save(tmp / f"{_safe(name)}_size")
        return {"size_bytes": int(os.path.getsize(path)), "size_format": path.suffix.lstrip(".")}

    def _speed(self, name: str, model: Model, test: SignMnistDataset, tmp: Path, notes: list[str]) -> dict[str, Any]:
        timed: Model = model
        runtime = "onnxruntime"
        onnx_size = math.nan
        if isinstance(model, OnnxModel):
            onnx_size = len(model.onnx_bytes)
        else:
            try:
                timed = export_onnx(model, tmp / f"{_safe(name)}_latency.onnx", parity_data=test[:256], test_data=False)
                runtime, onnx_size = "onnxruntime (exported)", len(timed.onnx_bytes)
            except Exception as exc:
                runtime = f"native {type(model).__name__}"
                message = f"{name}: ONNX export failed ({exc}); latency measured with native predict_proba"
                logger.warning(message)
                notes.append(message)
        speed: Latency = measure_latency(timed, test.images, repeats=self.latency_repeats, batch_size=self.batch_size)
        return {
            "onnx_size_bytes": onnx_size,
            "latency_p50_ms": speed.p50_ms,
            "latency_p95_ms": speed.p95_ms,
            "throughput_ips": speed.throughput,
            "latency_runtime": runtime,
        }


def _number(value: Any) -> float:
    try:
        return float(value) if value is not None else math.nan
    except (TypeError, ValueError):
        return math.nan


def _or_inf(value: float) -> float:
    return math.inf if value is None or math.isnan(value) else value


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "model"
