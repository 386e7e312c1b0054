"""fine_tune and ``asl-recog fine-tune``: a trained CNN adapted to a person's own photos (issue 32, part 4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import asl_recog as asl
from asl_recog.cli._main import main
from asl_recog.data._labels import labels_to_indices, labels_to_letters
from asl_recog.routes.hyperdrive._builders import build_seed
from asl_recog.routes.hyperdrive._fine_tune import LEARNING_RATE
from asl_recog.routes.hyperdrive._training import train_network


@pytest.fixture(scope="module")
def small_cnn(small_split, tmp_path_factory) -> Path:
    train, validation = small_split
    x, y = train.float_images, labels_to_indices(train.labels)
    network, _, _ = train_network(build_seed, {"epochs": 2, "hidden": 32}, (x, y), None)
    return asl.KerasModel(network, {"hidden": 32}).save(tmp_path_factory.mktemp("cnn") / "cnn.keras")


@pytest.fixture(scope="module")
def photo_folder(small_split, tmp_path_factory) -> Path:
    """Someone else's 'photos': real training hands, inverted (a dark hand on a light ground) and
    enlarged to 96 px, five per letter for six letters, as PNG files in letter sub-folders."""
    _, validation = small_split
    folder = tmp_path_factory.mktemp("photos")
    letters = labels_to_letters(validation.labels)
    for letter in ("A", "B", "C", "D", "E", "F"):
        (folder / letter).mkdir()
        for i, image in enumerate(validation.images[letters == letter][:5]):
            Image.fromarray(255 - image).resize((96, 96)).save(folder / letter / f"{letter}{i}.png")
    return folder


def _weights(model: asl.KerasModel) -> list[np.ndarray]:
    return [np.asarray(w) for w in model.network.get_weights()]


def test_fine_tune_changes_a_copy_repeats_for_a_seed_and_exports_with_parity(
    small_cnn, photo_folder, small_split, tmp_path
) -> None:
    start = asl.KerasModel.load(small_cnn)
    original = _weights(start)
    photos = asl.load_sign_mnist("test", path=photo_folder)
    rehearsal = small_split[0]
    tuned = asl.fine_tune(start, photos, epochs=1, seed=3, progress=False, rehearsal=rehearsal)
    again = asl.fine_tune(small_cnn, photos, epochs=1, seed=3, progress=False, rehearsal=rehearsal, check_test=False)
    assert all(np.array_equal(a, b) for a, b in zip(original, _weights(start), strict=True))  # the start is untouched
    assert any(not np.array_equal(a, b) for a, b in zip(original, _weights(tuned), strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(_weights(tuned), _weights(again), strict=True))
    facts = tuned.info["fine_tuned"]
    assert facts["images"] == 30 and facts["letters"] == ["A", "B", "C", "D", "E", "F"] and facts["seed"] == 3
    assert facts["learning_rate"] == LEARNING_RATE
    assert facts["source"] == str(photo_folder) and facts["started_from"] == "a KerasModel in memory"
    assert 0 <= facts["test_accuracy_after"] <= 1 and facts["kept_within"] == (
        facts["test_accuracy_before"] - facts["test_accuracy_after"] <= 0.005
    )
    assert again.info["fine_tuned"]["started_from"] == str(small_cnn)
    assert again.info["fine_tuned"]["kept_within"] is None  # check_test=False: the test file is not read
    assert 0 < facts["unknown_threshold"] < 1 and "asl_recog.unknown_threshold" in tuned.info["unknown"]
    exported = asl.export_onnx(tuned, tmp_path / "tuned.onnx", parity_data=photos)  # raises if ONNX disagrees
    assert exported.predict_proba(photos.images).shape == (30, 24)


def test_fine_tune_refuses_what_it_cannot_tune(small_cnn, photo_folder, small_split, tmp_path) -> None:
    photos = asl.load_sign_mnist("test", path=photo_folder)
    train, _ = small_split
    from sklearn.linear_model import LogisticRegression

    logistic = LogisticRegression(max_iter=20).fit(train.flat, labels_to_indices(train.labels))
    saved = asl.SklearnModel(logistic).save(tmp_path / "logistic")
    with pytest.raises(asl.ConfigurationError, match=r"only a CNN \(a .keras file.*can be fine-tuned"):
        asl.fine_tune(saved, photos)
    with pytest.raises(asl.ConfigurationError, match="needs labelled photos"):
        asl.fine_tune(small_cnn, photos[:0])
    with pytest.raises(asl.ConfigurationError, match="epochs and batch_size must be >= 1"):
        asl.fine_tune(small_cnn, photos, epochs=0)
    with pytest.raises(asl.ConfigurationError, match=r"learning_rate must be in \(0, 1\]; got 0"):
        asl.fine_tune(small_cnn, photos, learning_rate=0)


def test_the_fine_tune_command_writes_the_model_and_says_what_it_kept(
    small_cnn, photo_folder, tmp_path, capsys
) -> None:
    out = tmp_path / "mine.onnx"
    flags = ["--epochs", "1", "--learning-rate", "0.0003", "--no-progress"]
    code = main(["fine-tune", str(small_cnn), str(photo_folder), "--out", str(out), *flags])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "fine-tuned on 30 photos of 6 letters" in printed and "test-file accuracy" in printed
    assert out.is_file() and out.with_suffix(".keras").is_file()
    assert asl.KerasModel.load(out.with_suffix(".keras")).info["fine_tuned"]["learning_rate"] == 0.0003
    assert "asl_recog.unknown_threshold" in asl.OnnxModel.load(out).metadata
    assert main(["fine-tune", str(small_cnn), str(photo_folder), "--out", str(tmp_path / "x.txt")]) == 2
    assert "give a path ending in .onnx or .keras" in capsys.readouterr().err
    assert main(["fine-tune", str(small_cnn), str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert "no such folder" in capsys.readouterr().err
