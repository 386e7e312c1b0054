"""The "unknown" threshold: the rule, the out-of-distribution images, the choice at export and its ONNX metadata."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import asl_recog as asl
from asl_recog._errors import ConfigurationError
from asl_recog.models._unknown import (
    OOD_KINDS,
    UNKNOWN_STATS_KEY,
    UNKNOWN_THRESHOLD_KEY,
    choose_unknown_threshold,
    ood_images,
    threshold_rule,
)


def test_rule_separates_and_respects_the_bound_on_refused_correct_answers() -> None:
    known = np.array([0.9, 0.95, 0.99, 1.0, 0.6])
    unknown = np.array([0.3, 0.4, 0.5, 0.7])
    # 0.6 is one correct answer in five: refusing it (20%) is allowed only with max_refused >= 0.2
    assert threshold_rule(known, unknown, max_refused=0.2) == pytest.approx((0.7 + 0.9) / 2)
    assert threshold_rule(known, unknown, max_refused=0.05) == pytest.approx((0.5 + 0.6) / 2)
    # nothing to gain: the lowest threshold, which refuses nothing
    assert threshold_rule(np.array([0.5, 0.6]), np.array([0.9, 1.0])) == 0.0
    # probabilities of exactly 0 or 1 (KNN-style): a threshold between the two levels
    assert threshold_rule(np.ones(50), np.array([1.0, 0.5, 0.5, 0.5])) == 0.75
    with pytest.raises(ConfigurationError, match="max_refused"):
        threshold_rule(known, unknown, max_refused=1.5)
    with pytest.raises(ConfigurationError, match="both"):
        threshold_rule(known, np.array([]))


def test_ood_images_are_reproducible_uint8_of_every_kind() -> None:
    first, again, other = ood_images(per_kind=8), ood_images(per_kind=8), ood_images(per_kind=8, seed=1)
    assert tuple(first) == OOD_KINDS
    for kind in OOD_KINDS:
        assert first[kind].shape == (8, 28, 28) and first[kind].dtype == np.uint8
        np.testing.assert_array_equal(first[kind], again[kind])
    assert not np.array_equal(first["scribbles"], other["scribbles"])
    blank = first["blank"].reshape(8, -1)
    assert (blank.min(axis=1) == blank.max(axis=1)).all()  # uniform images
    assert first["noise"].reshape(8, -1).std(axis=1).min() > 20


def test_threshold_chosen_at_export_is_stored_in_the_onnx_metadata(
    serving_model_path: Path, small_split: tuple[asl.SignMnistDataset, asl.SignMnistDataset], tmp_path: Path
) -> None:
    import onnx

    model = asl.OnnxModel.load(serving_model_path)
    _, validation = small_split
    unknown = choose_unknown_threshold(model, validation, per_kind=50)
    assert 0 < unknown.threshold < 1  # a probabilistic model separates some OOD images
    assert unknown.refused_correct <= 0.05 + 1e-9
    assert unknown.refused_ood["all"] > unknown.refused_correct  # the point of the threshold
    # no-hand photos: fitted on the training half of the photo pool, measured on the benchmark half
    assert 0 <= unknown.refused_held_out_photos <= 1 and "photos" in unknown.refused_ood
    assert unknown.as_metadata()[UNKNOWN_STATS_KEY]["refused_held_out_photos"] == round(
        unknown.refused_held_out_photos, 4
    )
    exported = asl.export_onnx(model, tmp_path / "with_threshold.onnx", metadata=unknown.as_metadata())
    assert exported.metadata[UNKNOWN_THRESHOLD_KEY] == unknown.threshold
    assert exported.metadata[UNKNOWN_STATS_KEY]["refused_ood"]["all"] == round(unknown.refused_ood["all"], 4)
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "with_threshold.onnx")).metadata_props}
    assert float(props[UNKNOWN_THRESHOLD_KEY]) == unknown.threshold  # a plain decimal string, e.g. "0.4123"
    assert json.loads(props[UNKNOWN_THRESHOLD_KEY]) == unknown.threshold


def test_export_chooses_the_threshold_from_validation_data_and_says_when_it_cannot(
    serving_model_path: Path,
    small_split: tuple[asl.SignMnistDataset, asl.SignMnistDataset],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    model = asl.OnnxModel.load(serving_model_path)
    _, validation = small_split
    exported = asl.export_onnx(model, tmp_path / "m.onnx", validation_data=validation)
    assert exported.metadata[UNKNOWN_THRESHOLD_KEY] == choose_unknown_threshold(model, validation).threshold
    with caplog.at_level("INFO", logger="asl_recog"):
        plain = asl.export_onnx(model, tmp_path / "plain.onnx")
    assert UNKNOWN_THRESHOLD_KEY not in plain.metadata
    assert "no 'unknown' threshold" in caplog.text and "validation_data=" in caplog.text
    model.info["refit_images"] = 27_455  # a refit model has seen its validation images
    with pytest.raises(asl.ConfigurationError, match="choose_unknown_threshold.result.trial_model"):
        asl.export_onnx(model, tmp_path / "refit.onnx", validation_data=validation)
    with pytest.raises(asl.ConfigurationError, match="not both"):
        asl.export_onnx(model, tmp_path / "both.onnx", validation_data=validation, metadata=exported.metadata)


def test_refit_keeps_the_trial_model_for_the_threshold(
    small_split: tuple[asl.SignMnistDataset, asl.SignMnistDataset], tmp_path: Path
) -> None:
    fit_part, validation = small_split
    trainer = asl.AutoMLTrainer(
        allowed_models=["KNN"], max_iterations=1, augment=False, progress=False, run_dir=tmp_path / "run", seed=0
    )
    result = trainer.fit(fit_part[::4], validation[::4])
    assert result.refit and result.trial_model is not None and result.trial_model is not result.best_model
    # the trial's model never saw the validation images; the refit one did
    assert result.trial_model.score(validation[::4]) == pytest.approx(result.best_score)
    unknown = choose_unknown_threshold(result.trial_model, validation[::4], per_kind=20)
    assert unknown.validation_accuracy == pytest.approx(result.best_score)
