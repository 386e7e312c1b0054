"""The corruption suite (asl_recog.evaluation): deterministic, severity 0 the identity, severities ordered,
the photo pool split, mCA weighted as documented, and the Comparator, report and CLI carrying it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import asl_recog as asl
from asl_recog.cli._main import main
from asl_recog.data._photos import PHOTOS, background_crops, photos
from asl_recog.evaluation import CORRUPTIONS, FAMILIES, CorruptionSuite, corrupt

#: Corruptions whose result draws nothing at random (the same for every seed).
_FIXED = {"scale", "mirror", "contrast", "gaussian_blur", "defocus_blur", "jpeg", "pixelate"}


@pytest.fixture(scope="module")
def images(test_data: asl.SignMnistDataset) -> np.ndarray:
    return test_data.images[::300][:24]


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_each_corruption_is_deterministic_for_a_seed_and_severity_0_is_the_identity(
    name: str, images: np.ndarray
) -> None:
    before = images.copy()
    np.testing.assert_array_equal(corrupt(images, name, 0, seed=5), images)
    for severity in CORRUPTIONS[name].severities:
        first = corrupt(images, name, severity, seed=5)
        assert first.dtype == np.uint8 and first.shape == images.shape
        np.testing.assert_array_equal(first, corrupt(images, name, severity, seed=5))
        assert not np.array_equal(first, images), f"{name} {severity} changed nothing"
        if name not in _FIXED:
            assert not np.array_equal(first, corrupt(images, name, severity, seed=6)), f"{name} ignores the seed"
    np.testing.assert_array_equal(images, before)  # the input is never changed in place


@pytest.mark.parametrize("name", [n for n, c in CORRUPTIONS.items() if len(c.levels) > 1])
def test_each_severity_changes_the_images_more_than_the_one_below(name: str, images: np.ndarray) -> None:
    distance = [
        float(np.abs(corrupt(images, name, s, seed=0).astype(int) - images).mean())
        for s in (0, *CORRUPTIONS[name].severities)
    ]
    assert distance == sorted(distance) and len(set(distance)) == len(distance), distance


def test_accuracy_falls_as_severity_rises_on_a_fixed_small_model(
    small_split: tuple[asl.SignMnistDataset, asl.SignMnistDataset], test_data: asl.SignMnistDataset
) -> None:
    from sklearn.neighbors import KNeighborsClassifier

    from asl_recog.data._labels import labels_to_indices

    # 1-nearest neighbour on raw pixels of the small training split: no smoothing of its own (a PCA
    # model is helped by blur), so every corruption family can hurt it.
    fit_part, _ = small_split
    model = asl.SklearnModel(KNeighborsClassifier(1).fit(fit_part.flat, labels_to_indices(fit_part.labels)))
    result = CorruptionSuite(max_images=400, seed=0).evaluate(model, test_data)
    assert result.n_images == 400 and len(result.table) == sum(len(c.levels) for c in CORRUPTIONS.values())
    for name, rows in result.table.groupby("corruption", sort=False):
        accuracy = [result.clean_accuracy, *rows.sort_values("severity")["accuracy"]]
        # Non-increasing within the sampling noise of 400 images, and clearly lower at the top severity.
        assert all(b <= a + 0.03 for a, b in zip(accuracy, accuracy[1:], strict=False)), (name, accuracy)
        assert accuracy[-1] < accuracy[0], (name, accuracy)
    # mCA weighs each corruption the same, whatever its number of severities (mirror has one).
    assert result.mca == pytest.approx(result.per_corruption.mean(), abs=1e-9)
    assert result.mca_ci[0] <= result.mca <= result.mca_ci[1]
    assert list(result.per_family.index) == list(FAMILIES)
    assert set(result.middle.index) == set(CORRUPTIONS)
    assert result.middle["rotate"] == float(
        result.table.query("corruption == 'rotate' and severity == 2")["accuracy"].iloc[0]
    )


def test_an_unknown_answer_counts_as_wrong(serving_model_path: Path, test_data: asl.SignMnistDataset) -> None:
    model = asl.Model.load(serving_model_path)
    suite = CorruptionSuite(["mirror", "rotate"], max_images=50)
    refused = suite.evaluate(model, test_data, threshold=1.0)  # refuses every answer below certainty
    assert refused.mca == 0 and refused.clean_accuracy == 0 and (refused.table["answered"] < 0.2).all()
    answered = suite.evaluate(model, test_data, threshold=0.0)
    assert answered.mca > 0 and (answered.table["answered"] == 1).all()
    with pytest.raises(asl.ConfigurationError, match="threshold"):
        suite.evaluate(model, test_data, threshold=2)


def test_the_photo_pool_is_split_by_photo_and_each_photo_states_its_licence(images: np.ndarray) -> None:
    train, benchmark = {p.name for p in photos("train")}, {p.name for p in photos("benchmark")}
    assert train and benchmark and not train & benchmark and train | benchmark == {p.name for p in PHOTOS}
    assert all(p.licence and p.credit and p.package in ("scikit-image", "scikit-learn") for p in PHOTOS)
    crops = background_crops("benchmark", 8, seed=1)
    assert crops.shape == (8, 28, 28) and crops.dtype == np.uint8
    np.testing.assert_array_equal(crops, background_crops("benchmark", 8, seed=1))
    assert not np.array_equal(crops, background_crops("train", 8, seed=1))
    # backgrounds for training come from the other half: not the images the benchmark measures on
    assert not np.array_equal(corrupt(images, "background", 3), corrupt(images, "background", 3, photos="train"))


def test_bad_input_is_refused_with_what_to_do(images: np.ndarray) -> None:
    with pytest.raises(asl.ConfigurationError, match="unknown corruption 'fog'; the suite has: shift"):
        corrupt(images, "fog", 1)
    with pytest.raises(asl.ConfigurationError, match="severity 2 is not one of 0..1"):
        corrupt(images, "mirror", 2)
    with pytest.raises(asl.DataFormatError, match="uint8 images of shape"):
        corrupt(images.astype(np.float32), "shift", 1)
    with pytest.raises(asl.ConfigurationError, match=r"unknown corruption\(s\) \['fog'\]"):
        CorruptionSuite(["rotate", "fog"])
    with pytest.raises(asl.ConfigurationError, match="max_images"):
        CorruptionSuite(max_images=0)
    assert repr(CorruptionSuite()) == "CorruptionSuite(corruptions=None, max_images=1000, seed=0)"


def test_the_comparator_reports_mca_beside_accuracy(
    serving_model_path: Path, test_data: asl.SignMnistDataset, tmp_path: Path
) -> None:
    suite = CorruptionSuite(["mirror", "background", "gaussian_noise"], max_images=120)
    result = asl.Comparator({"small": serving_model_path}, measure_speed=False).evaluate(test_data, corruptions=suite)
    row = result.summary.loc["small"]
    robustness = result.robustness["small"]
    assert row["mca"] == robustness.mca and row["mca_ci_low"] <= row["mca"] <= row["mca_ci_high"]
    assert list(robustness.per_corruption.index) == ["mirror", "background", "gaussian_noise"]
    folder = result.report(tmp_path / "report")
    report = (folder / "report.md").read_text()
    assert "## Corruptions" in report and "| background |" in report and (folder / "robustness.png").is_file()
    assert "Corruptions" in (folder / "report.html").read_text()
    plain = asl.Comparator({"small": serving_model_path}, measure_speed=False).evaluate(test_data[:200])
    assert plain.robustness == {} and "mca" not in plain.summary.columns
    with pytest.raises(asl.ConfigurationError, match="corruptions must be"):
        asl.Comparator({"small": serving_model_path}, measure_speed=False).evaluate(test_data, corruptions="all")


def test_cli_evaluate_prints_the_table_and_writes_json(
    serving_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "figures.json"
    args = ["evaluate", str(serving_model_path), "--corruptions", "mirror", "rotate", "--max-images", "100"]
    assert main([*args, "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "test accuracy" in text and "mean corruption accuracy (mCA)" in text and "rotate" in text
    figures = json.loads(out.read_text())
    assert figures["corruptions"]["n_images"] == 100 and len(figures["table"]) == 4
    assert main(["evaluate", str(serving_model_path), "--corruptions", "fog"]) == 2
    assert "unknown corruption(s) ['fog']" in capsys.readouterr().err
