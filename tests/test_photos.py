"""Real photos beside the test file (issue 32, part 1): evaluate_photos, Comparator(photos=...), the report and
``asl-recog evaluate --images``, on a folder of photos made from real test images, and on the Massey photos
of five people where that folder exists (it is an evaluation set kept outside the project)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import asl_recog as asl
from asl_recog.cli import main
from asl_recog.data._labels import labels_to_indices

MASSEY = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "massey-asl-photos"


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory: pytest.TempPathFactory, test_data: asl.SignMnistDataset) -> Path:
    """Six photos each of A, B, C and L: real test images, enlarged to 96x128 RGB JPEGs (the loader crops
    the centre square and shrinks it back, as it does a camera's photo)."""
    folder = tmp_path_factory.mktemp("photos")
    for letter in "ABCL":
        (folder / letter).mkdir()
        for i, image in enumerate(test_data.images[test_data.letters == letter][:6]):
            canvas = np.zeros((128, 96), np.uint8)
            canvas[16:112] = np.asarray(Image.fromarray(image).resize((96, 96), Image.Resampling.BILINEAR))
            Image.fromarray(canvas).convert("RGB").save(folder / letter / f"hand{i}.jpg", quality=95)
    return folder


def test_top1_top3_per_letter_and_refusals(photo_folder: Path, model: asl.OnnxModel) -> None:
    photos = asl.load_sign_mnist("test", photo_folder, find_hand=False)  # refusals by confidence alone here
    assert photos.no_hand is not None and not photos.no_hand.any()  # not looked for: none missing
    plain = asl.evaluate_photos(model, photos, "sample")
    proba = model.predict_proba(photos)
    truth = labels_to_indices(photos.labels)
    assert plain.n_images == 24 and plain.threshold is None and plain.answered == 1.0
    assert plain.top1 == pytest.approx(float((proba.argmax(1) == truth).mean()))
    top3 = np.argsort(-proba, axis=1)[:, :3]
    assert plain.top3 == pytest.approx(float((top3 == truth[:, None]).any(axis=1).mean()))
    assert plain.top1 <= plain.top3 and list(plain.per_letter.index) == ["A", "B", "C", "L"]
    assert plain.confusion.shape == (24, 24) and plain.confusion.sum() == 24
    assert plain.per_letter.mean() == pytest.approx(plain.top1)  # six photos per letter
    # A threshold refuses the unsure answers: they count as wrong in top-1, top-3 does not change.
    threshold = float(np.median(proba.max(axis=1)))
    strict = asl.evaluate_photos(model, photos, "sample", threshold=threshold)
    answered = proba.max(axis=1) >= threshold
    assert strict.answered == pytest.approx(float(answered.mean())) and 0 < strict.answered < 1
    assert strict.top1 == pytest.approx(float(((proba.argmax(1) == truth) & answered).mean()))
    assert strict.top3 == plain.top3 and strict.top1 <= plain.top1
    # What the refusals cost: top-1 had every photo been answered is the plain top-1.
    assert strict.top1_every_photo == pytest.approx(plain.top1) == plain.top1_every_photo
    figures = strict.as_dict()
    assert figures["top1_every_photo"] == round(plain.top1, 4)
    assert figures["threshold"] == threshold and set(figures["per_letter"]) == {"A", "B", "C", "L"}
    json.dumps(figures)  # plain JSON values only


def test_photos_without_a_hand_are_refused_under_a_threshold_as_the_service_refuses_them(
    photo_folder: Path, model: asl.OnnxModel, tmp_path: Path
) -> None:
    import shutil

    import skimage.data

    folder = tmp_path / "photos"
    shutil.copytree(photo_folder, folder)
    Image.fromarray(skimage.data.coffee()).save(folder / "A" / "cup.jpg", quality=90)  # no hand in it
    photos = asl.load_sign_mnist("test", folder)
    assert photos.no_hand is not None and photos.no_hand.dtype == bool and len(photos.no_hand) == 25
    cup = int(np.flatnonzero(photos.letters == "A")[0])  # cup.jpg sorts before hand0.jpg
    assert photos.no_hand[cup] and photos[cup : cup + 1].no_hand.tolist() == [True]
    plain = asl.evaluate_photos(model, photos, "sample")
    assert plain.answered == 1.0 and plain.no_hand == pytest.approx(photos.no_hand.mean())  # read, not refused
    strict = asl.evaluate_photos(model, photos, "sample", threshold=0.0)  # every answer is sure enough
    proba = model.predict_proba(photos)
    right = proba.argmax(1) == labels_to_indices(photos.labels)
    assert strict.answered == pytest.approx(1 - photos.no_hand.mean())
    assert strict.top1 == pytest.approx(float((right & ~photos.no_hand).mean()))
    assert strict.as_dict()["no_hand"] == round(float(photos.no_hand.mean()), 4)
    with pytest.raises(ValueError, match="no_hand must be a bool array of shape"):
        asl.SignMnistDataset(photos.images, photos.labels, no_hand=np.zeros(3, bool))


def test_bad_photo_sets_are_refused_with_the_fix(model: asl.OnnxModel, test_data: asl.SignMnistDataset) -> None:
    with pytest.raises(asl.DataFormatError, match=r"load_sign_mnist\('test', path=FOLDER\)"):
        asl.evaluate_photos(model, test_data.images[:5], "raw")  # type: ignore[arg-type]
    with pytest.raises(asl.DataFormatError, match="is empty"):
        asl.evaluate_photos(model, test_data[:0], "none")
    comparator = asl.Comparator({"small": model}, measure_speed=False)
    with pytest.raises(asl.ConfigurationError, match="photos must be a non-empty dict"):
        comparator.evaluate(test_data[:50], photos={})


def test_the_comparator_and_its_report_show_each_photo_set(
    photo_folder: Path, model: asl.OnnxModel, small_test: asl.SignMnistDataset, tmp_path: Path
) -> None:
    photos = asl.load_sign_mnist("test", photo_folder)
    result = asl.Comparator({"small": model}, measure_speed=False).evaluate(small_test, photos={"sample": photos})
    found = result.photos["small"]["sample"]
    assert found.top1 == asl.evaluate_photos(model, photos, "sample").top1
    assert result.summary.loc["small", "sample_top1"] == found.top1
    assert result.summary.loc["small", "sample_top3"] == found.top3
    assert result.summary.loc["small", "accuracy"] == model.score(small_test)  # ranking still on the test set
    folder = result.report(tmp_path / "report")
    markdown = (folder / "report.md").read_text()
    assert "## Real photos" in markdown and "| sample | small | 24 |" in markdown and "small / sample" in markdown
    assert (folder / "photos_sample_1_small.png").stat().st_size > 1000
    assert "photos_sample_1_small.png" in (folder / "report.html").read_text()
    assert asl.Comparator({"small": model}, measure_speed=False).evaluate(small_test).photos == {}


def test_cli_evaluate_images_prints_top1_top3_and_per_letter(
    photo_folder: Path, serving_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "figures.json"
    args = ["evaluate", str(serving_model_path), "--images", str(photo_folder), str(photo_folder)]
    assert main([*args, "--json", str(out)]) == 0
    text = capsys.readouterr().out
    name = photo_folder.name
    assert f"{name}: 24 photos" in text and "top-1" in text and "top-3" in text and "per letter (top-1): A " in text
    assert "add --report DIR for each photo set's confusion matrix" in text
    figures = json.loads(out.read_text())
    assert set(figures["photos"]) == {name, f"{name}-2"}  # the same folder twice: two names, not one overwritten
    assert figures["photos"][name]["n_images"] == 24 and figures["photos"][name]["answered"] == 1.0
    report = tmp_path / "report"
    assert main(["evaluate", str(serving_model_path), "--images", str(photo_folder), "--report", str(report)]) == 0
    assert (report / f"photos_{name}_1_model.png").exists()
    assert main(["evaluate", str(serving_model_path), "--images", str(tmp_path / "nowhere")]) == 2
    assert "letter sub-folders" in capsys.readouterr().err


@pytest.mark.skipif(not MASSEY.is_dir(), reason="the Massey photos live outside the project (../shared/datasets)")
def test_the_massey_photos_read_as_24_letters_of_five_people(model: asl.OnnxModel) -> None:
    photos = asl.load_sign_mnist("test", MASSEY)
    result = asl.evaluate_photos(model, photos, "massey")
    assert result.n_images == 1675 and len(result.per_letter) == 24
    assert 0 <= result.top1 <= result.top3 <= 1 and not math.isnan(result.accuracy_answered)
