"""The one metric table: Azure's definitions checked by hand, and the AutoML search and the
Comparator giving the same value for the same predictions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import asl_recog as asl
from asl_recog.data._labels import LABELS, NUM_CLASSES
from asl_recog.evaluation._compare import Comparator
from asl_recog.evaluation._metrics import AUTOML_PRIMARY_METRICS, METRIC_NAMES, METRICS, get_metric
from asl_recog.routes.automl import _search
from asl_recog.routes.automl._trainer import METRICS as AUTOML_METRICS


class ProbaModel(asl.Model):
    """Answers fixed probabilities, row by row, for the one dataset it was made for."""

    kind = "proba"

    def __init__(self, proba: np.ndarray) -> None:
        super().__init__({}, {})
        self.proba = proba

    def predict_proba(self, images: Any) -> np.ndarray:
        assert len(images) == len(self.proba), "this model answers only its own dataset"
        return self.proba

    def save(self, path: Any) -> Path:
        path = Path(path).with_suffix(".proba")
        path.write_bytes(b"\0" * 10)
        return path


def _case(classes: np.ndarray, seed: int) -> tuple[asl.SignMnistDataset, np.ndarray, np.ndarray]:
    """Images of the given class indices (pixels only tell rows apart) and soft, partly wrong probabilities."""
    rng = np.random.default_rng(seed)
    targets = np.repeat(classes, 3)
    images = rng.integers(0, 256, (len(targets), 28, 28), dtype=np.uint8)
    data = asl.SignMnistDataset(images, np.asarray(LABELS)[targets])
    proba = rng.dirichlet(np.ones(NUM_CLASSES), len(targets)).astype(np.float32)
    proba[np.arange(len(targets)), targets] += rng.uniform(0.0, 1.5, len(targets)).astype(np.float32)
    return data, targets, proba / proba.sum(axis=1, keepdims=True)


def test_norm_macro_recall_is_azures_definition_by_hand() -> None:
    targets = np.array([0, 0, 1, 2])
    proba = np.eye(NUM_CLASSES)[[0, 1, 1, 2]]  # the second image is wrong
    # recall of the present classes 0, 1, 2: 1/2, 1, 1 -> macro 5/6; R = 1/C with C = 24 classes.
    expected = (5 / 6 - 1 / 24) / (1 - 1 / 24)
    assert expected == pytest.approx(19 / 23)
    assert METRICS["norm_macro_recall"](targets, proba) == pytest.approx(expected)
    assert METRICS["balanced_accuracy"](targets, proba) == pytest.approx(5 / 6)
    everything = np.arange(NUM_CLASSES)
    assert METRICS["norm_macro_recall"](everything, np.eye(NUM_CLASSES)) == 1.0  # perfect
    always_a = np.eye(NUM_CLASSES)[np.zeros(NUM_CLASSES, dtype=int)]
    assert METRICS["norm_macro_recall"](everything, always_a) == pytest.approx(0.0)  # chance level


def test_the_search_and_the_comparator_agree_on_every_shared_metric() -> None:
    # Every letter present, and then a validation-like set with only 5 letters.
    for classes, seed in ((np.arange(NUM_CLASSES), 0), (np.array([0, 3, 7, 8, 20]), 1)):
        data, targets, proba = _case(classes, seed)
        model = ProbaModel(proba)
        for name in METRIC_NAMES:
            summary = Comparator({"m": model}, name, measure_speed=False).evaluate(data).summary
            assert summary.at["m", name] == _search.score(name, targets, proba), (name, classes)
        hand = np.mean([np.mean(proba[targets == c].argmax(1) == c) for c in classes])
        assert _search.score("norm_macro_recall", targets, proba) == pytest.approx((hand - 1 / 24) / (23 / 24))


def test_each_metric_knows_its_direction_and_the_trainers_read_the_table() -> None:
    assert not METRICS["log_loss"].higher_is_better and METRICS["log_loss"].better(0.1, 0.2)
    assert METRICS["accuracy"].higher_is_better and METRICS["accuracy"].better(0.9, 0.8)
    assert (
        set(AUTOML_METRICS)
        == set(AUTOML_PRIMARY_METRICS)
        == {
            "accuracy",
            "AUC_weighted",
            "norm_macro_recall",
            "precision_score_weighted",
            "average_precision_score_weighted",
        }
    )
    # The search maximises: every metric AutoML may select by must be higher-is-better.
    assert all(METRICS[name].higher_is_better for name in AUTOML_PRIMARY_METRICS)
    assert get_metric("loss") is METRICS["log_loss"] and get_metric("f1_score_macro") is METRICS["macro_f1"]
    with pytest.raises(asl.ConfigurationError, match="unknown metric 'acuracy'.*'accuracy'"):
        get_metric("acuracy")
