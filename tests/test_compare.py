"""The Comparator: figures checked by hand on a small known case of real test images, McNemar on
known tables, and a real comparison (scikit-learn, ONNX file) with its Markdown/HTML/PNG report."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import asl_recog as asl
from asl_recog.data._labels import LETTERS, labels_to_indices
from asl_recog.evaluation._compare import Comparator
from asl_recog.evaluation._comparison import TIE_BREAK
from asl_recog.evaluation._stats import accuracy_ci, mcnemar_exact, mcnemar_from_counts
from asl_recog.models._base import to_model_input


class FixedModel(asl.Model):
    """Answers a fixed letter for each known real image (looked up by its pixels); saves ``size`` bytes."""

    kind = "fixed"

    def __init__(
        self, known: asl.SignMnistDataset, predicted_indices: np.ndarray, size: int, info: dict[str, Any] | None = None
    ) -> None:
        super().__init__({}, info)
        self._answer = {image.tobytes(): int(i) for image, i in zip(known.images, predicted_indices, strict=False)}
        self.size = size

    def predict_proba(self, images: Any) -> np.ndarray:
        pixels = np.rint(to_model_input(images)[..., 0] * 255).astype(np.uint8)
        return np.eye(24, dtype=np.float32)[[self._answer.get(p.tobytes(), 0) for p in pixels]]

    def save(self, path: Any) -> Path:
        path = Path(path).with_suffix(".fixed")
        path.write_bytes(b"\0" * self.size)
        return path


@pytest.fixture(scope="module")
def known(test_data: asl.SignMnistDataset) -> asl.SignMnistDataset:
    """48 real test images, two per letter, in letter order (images 2k and 2k+1 show letter k)."""
    picks = [np.flatnonzero(test_data.labels == label)[:2] for label in asl.LABELS]
    data = test_data[np.concatenate(picks)]
    assert len({image.tobytes() for image in data.images}) == 48  # lookups by pixels are unambiguous
    return data


def _wrong(known: asl.SignMnistDataset, rows: dict[int, int]) -> np.ndarray:
    """Correct class indices, except ``row -> predicted class index``."""
    predicted = labels_to_indices(known.labels).copy()
    for row, index in rows.items():
        predicted[row] = index
    return predicted


@pytest.fixture(scope="module")
def alpha_beta(known: asl.SignMnistDataset) -> dict[str, FixedModel]:
    # alpha: both A images called B, one B image called C -> 45/48.
    alpha = FixedModel(
        known, _wrong(known, {0: 1, 1: 1, 2: 2}), 1000, info={"validation_score": 0.99, "training_seconds": 12.5}
    )
    # beta: image 0 and images 10..19 shifted to the next letter -> 37/48.
    beta_rows = {0: 1, **{r: (r // 2 + 1) % 24 for r in range(10, 20)}}
    beta = FixedModel(known, _wrong(known, beta_rows), 500, info={"validation_score": 0.80})
    return {"alpha": alpha, "beta": beta}


def _wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def test_known_case_by_hand(
    alpha_beta: dict[str, FixedModel], known: asl.SignMnistDataset, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="asl_recog"):
        result = Comparator(alpha_beta, latency_repeats=5, batch_size=64).evaluate(known)
    s = result.summary
    assert list(s.index) == ["alpha", "beta"] and result.best == "alpha" and result.best_model is alpha_beta["alpha"]
    assert s.at["alpha", "accuracy"] == 45 / 48 and s.at["beta", "accuracy"] == 37 / 48
    assert s.at["alpha", "accuracy_ci_low"] == pytest.approx(_wilson(45, 48)[0], abs=1e-9)
    assert s.at["alpha", "accuracy_ci_high"] == pytest.approx(_wilson(45, 48)[1], abs=1e-9)
    # macro-F1 by hand: A has F1 0; B precision 1/3, recall 1/2 -> 0.4; C precision 2/3, recall 1 -> 0.8; 21 x 1.
    assert s.at["alpha", "macro_f1"] == pytest.approx((0 + 0.4 + 0.8 + 21) / 24)
    recall = result.per_letter_recall["alpha"]
    assert recall["A"] == 0 and recall["B"] == 0.5 and (recall.drop(["A", "B"]) == 1).all()
    cm = result.confusion["alpha"]
    assert cm[0, 1] == 2 and cm[0, 0] == 0 and cm[1, 2] == 1 and cm[1, 1] == 1 and cm.sum() == 48
    assert np.trace(cm) == 45 and cm.shape == (24, 24)
    assert s.at["alpha", "size_bytes"] == 1000 and s.at["beta", "size_bytes"] == 500
    assert s.at["alpha", "training_seconds"] == 12.5 and math.isnan(s.at["beta", "training_seconds"])
    # validation 0.99 vs test 0.9375 differ by 0.0525 > 0.05: flagged and logged; beta's 0.029 is not.
    assert bool(s.at["alpha", "gap_flag"]) and not bool(s.at["beta", "gap_flag"])
    assert s.at["alpha", "val_test_gap"] == pytest.approx(45 / 48 - 0.99)
    assert any(
        "alpha: validation accuracy 0.9900 vs test 0.9375" in r.getMessage() and "leakage" in r.getMessage()
        for r in caplog.records
    )
    # b = 10 (beta's extra errors), c = 2: exact two-sided p = 2 * (1 + 12 + 66) / 4096.
    m = result.mcnemar
    assert (m.model_a, m.model_b, m.b, m.c) == ("alpha", "beta", 10, 2)
    assert m.p_value == pytest.approx(158 / 4096) and m.significant
    assert "significant at the 0.05 level (alpha is better)" in result.verdict
    assert result.verdict.count("accuracy") == 2 and "1e-300 <" not in result.verdict  # said once each
    # FixedModel has no ONNX form: latency falls back to native predict_proba and says so.
    assert (s["latency_runtime"] == "native FixedModel").all() and (s["latency_p50_ms"] > 0).all()
    assert (s["latency_p95_ms"] >= s["latency_p50_ms"]).all() and (s["throughput_ips"] > 0).all()
    assert any("ONNX export failed" in note for note in result.notes)


def test_tie_goes_to_the_smaller_model(alpha_beta: dict[str, FixedModel], known: asl.SignMnistDataset) -> None:
    alpha = alpha_beta["alpha"]
    twin = FixedModel(known, alpha.predict_proba(known).argmax(1), 5000)  # same answers, 5x the bytes
    result = Comparator({"twin": twin, **alpha_beta}, measure_speed=False).evaluate(known)
    assert list(result.summary.index) == ["alpha", "twin", "beta"] and list(result.summary["rank"]) == [1, 2, 3]
    assert result.tie_break == TIE_BREAK and "smaller model" in TIE_BREAK
    m = result.mcnemar
    assert (m.b, m.c, m.p_value, m.significant) == (0, 0, 1.0, False)
    assert "NOT significant at the 0.05 level" in result.verdict
    assert (result.summary["latency_runtime"] == "not measured").all()


def test_minimised_metric_and_macro_f1(alpha_beta: dict[str, FixedModel], known: asl.SignMnistDataset) -> None:
    by_loss = Comparator(alpha_beta, "log_loss", measure_speed=False).evaluate(known)
    assert by_loss.best == "alpha" and by_loss.summary.at["alpha", "log_loss"] < by_loss.summary.at["beta", "log_loss"]
    by_f1 = Comparator(alpha_beta, "f1_score_macro", measure_speed=False).evaluate(known)
    assert by_f1.primary_metric == "macro_f1" and by_f1.best == "alpha"


def test_mcnemar_known_tables() -> None:
    result = mcnemar_from_counts(1, 9, "x", "y")
    assert result.p_value == pytest.approx(0.021484375, abs=1e-9)  # 2 * (1 + 10) / 1024
    assert result.significant and "significant at the 0.05 level (y is better)" in result.statement
    assert mcnemar_from_counts(5, 5).p_value == 1.0 and not mcnemar_from_counts(5, 5).significant
    assert mcnemar_from_counts(0, 0).p_value == 1.0
    truth = np.array([0, 1, 2, 3, 4, 5])
    from_preds = mcnemar_exact(truth, np.array([0, 1, 2, 3, 0, 0]), np.array([0, 1, 0, 0, 4, 0]))
    assert (from_preds.b, from_preds.c) == (2, 1)
    with pytest.raises(ValueError, match="shapes differ"):
        mcnemar_exact(truth, truth[:3], truth)


def test_accuracy_interval() -> None:
    assert accuracy_ci(95, 100) == pytest.approx(_wilson(95, 100), abs=1e-9)
    low, high = accuracy_ci(100, 100)
    assert high == pytest.approx(1.0) and 0.95 < low < 1.0  # Wilson stays informative at 100%
    with pytest.raises(ValueError):
        accuracy_ci(1, 0)


def test_bad_configuration(known: asl.SignMnistDataset, alpha_beta: dict[str, FixedModel], tmp_path: Path) -> None:
    with pytest.raises(asl.ConfigurationError, match="non-empty"):
        Comparator({})
    with pytest.raises(asl.ConfigurationError, match="primary_metric"):
        Comparator(alpha_beta, "precision")
    with pytest.raises(asl.ConfigurationError, match="'x' is a int"):
        Comparator({"x": 42})  # type: ignore[dict-item]
    with pytest.raises(asl.ModelFileError, match="no such"):
        Comparator({"x": tmp_path / "missing.onnx"})
    with pytest.raises(asl.DataFormatError, match="SignMnistDataset"):
        Comparator(alpha_beta).evaluate(known.images)  # type: ignore[arg-type]


# -- a real comparison and its report ----------------------------------------------------------------


def test_real_models_and_report(small_split: Any, small_test: asl.SignMnistDataset, tmp_path: Path) -> None:
    from PIL import Image
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train, validation = small_split
    y = labels_to_indices(train.labels)
    sgd = asl.SklearnModel(
        make_pipeline(
            StandardScaler(), SGDClassifier(loss="log_loss", alpha=1e-2, max_iter=10, tol=None, random_state=0)
        ).fit(train.flat, y),
        info={"validation_score": 0.55, "training_seconds": 1.0, "primary_metric": "accuracy"},
    )
    onnx_path = tmp_path / "sgd.onnx"
    asl.export_onnx(sgd, onnx_path, parity_data=validation[:128])
    majority = FixedModel(small_test, np.zeros(len(small_test), dtype=int), 10)  # always "A"
    result = Comparator(
        {"sgd": sgd, "sgd_onnx": onnx_path, "always_a": majority}, latency_repeats=30, batch_size=256
    ).evaluate(small_test)
    s = result.summary
    assert s.at["sgd", "accuracy"] == s.at["sgd_onnx", "accuracy"] > 0.3  # same model, same answers
    assert s.at["always_a", "accuracy"] == pytest.approx(1 / 24) and result.best in {"sgd", "sgd_onnx"}
    assert s.at["sgd", "latency_runtime"] == "onnxruntime (exported)"
    assert s.at["sgd_onnx", "latency_runtime"] == "onnxruntime"
    assert s.at["sgd_onnx", "size_bytes"] == onnx_path.stat().st_size
    assert s.at["sgd", "size_format"] == "aslskl"
    np.testing.assert_array_equal(result.predictions["sgd"], labels_to_indices(sgd.predict(small_test)))
    # Same predictions from both sgd rows: the tie goes to the smaller file.
    smaller = "sgd" if s.at["sgd", "size_bytes"] < s.at["sgd_onnx", "size_bytes"] else "sgd_onnx"
    assert result.best == smaller and not result.mcnemar.significant

    folder = result.report(tmp_path / "report")
    md, html = (folder / "report.md").read_text(), (folder / "report.html").read_text()
    pngs = sorted(folder.glob("*.png"))
    assert {p.name for p in pngs} >= {"accuracy.png", "latency.png", "size.png"}
    assert len([p for p in pngs if p.name.startswith("confusion_")]) == 3
    for png in pngs:
        with Image.open(png) as image:
            image.verify()
            assert image.format == "PNG" and image.size[0] > 300 and image.size[1] > 200
    for text in (md, html):
        assert result.best in text and "McNemar" in text and "Wilson" in text and "confusion_1_" in text
        assert f"asl_recog version: {asl.__version__}" in text  # every report names the code that wrote it
    assert "| model | rank | accuracy |" in md and "<table" in html and '<img src="accuracy.png"' in html
    assert md.count("| ") > 24 and all(f"| {letter} |" in md for letter in LETTERS)


def test_photos_misread_counts_majorities() -> None:
    from asl_recog.evaluation._stats import photos_misread

    correct = np.array([False, False, True, True, True, False, True, False])
    groups = np.array([7, 7, 7, 3, 3, 9, 9, 1])  # photo 7: 2 of 3 wrong; 9: 1 of 2; 1: wholly wrong
    assert photos_misread(correct, groups) == (2, 4)
    with pytest.raises(ValueError, match="one length"):
        photos_misread(correct, groups[:-1])


def test_intervals_over_source_photos(test_data: asl.SignMnistDataset) -> None:
    """One real source photo misread in all its copies: one photo of about 380, the interval over
    photos the wider one, and McNemar's test decided over photos (the copies are not independent)."""
    from asl_recog.data._split import similarity_groups

    groups = similarity_groups(test_data)
    sizes = np.bincount(groups)
    photo = int(np.flatnonzero(sizes >= 15)[0])
    rows = np.flatnonzero(groups == photo)
    truth = labels_to_indices(test_data.labels)
    answers = truth.copy()
    answers[rows] = (truth[rows] + 1) % 24
    # Lookups by pixels: identical copies would share an answer, and all of this photo's copies are wrong.
    model = FixedModel(test_data, answers, 10)
    perfect = FixedModel(test_data, truth, 10)
    result = Comparator({"one-photo-wrong": model, "perfect": perfect}, measure_speed=False).evaluate(test_data)
    row = result.summary.loc["one-photo-wrong"]
    assert row["accuracy"] == pytest.approx(1 - len(rows) / len(test_data))
    assert (row["photos_misread"], row["photos"]) == (1, len(sizes))
    assert 350 <= row["photos"] <= 400  # the test file copies about 380 photos
    image_width = row["accuracy_ci_high"] - row["accuracy_ci_low"]
    photo_width = row["photo_accuracy_ci_high"] - row["photo_accuracy_ci_low"]
    assert photo_width > 3 * image_width
    assert (result.summary.at["perfect", "photos_misread"], result.best) == (0, "perfect")
    # McNemar over images calls one photo's copies a significant lead; over photos it is 1 against 0.
    m = result.mcnemar
    assert (m.b, m.c) == (len(rows), 0) and m.p_value < 0.05
    assert m.over_photos is not None and (m.over_photos.b, m.over_photos.c, m.over_photos.p_value) == (1, 0, 1.0)
    assert not m.significant and m.as_dict()["photos_b"] == 1
    assert "0 of" in result.verdict and "over the source photos the images copy, 1 source photos" in result.verdict
    assert "NOT significant" in result.verdict
