"""``asl-recog predict`` on real photos: files, folders, globs, formats, and "unknown" as the service answers it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import asl_recog as asl
from asl_recog.cli._main import main
from asl_recog.data._labels import LETTERS


def test_export_then_predict_photos(
    tmp_path: Path, saved_model: Path, test_data: asl.SignMnistDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    onnx_path = tmp_path / "lr.onnx"
    assert main(["export", str(saved_model), str(onnx_path), "--parity-rows", "64"]) == 0
    assert "parity checked on 64 images" in capsys.readouterr().out
    photos = []
    for i in range(3):
        photos.append(tmp_path / f"hand{i}.png")
        Image.fromarray(test_data.images[i]).resize((112, 112)).save(photos[-1])
    assert main(["predict", "--model", str(onnx_path), *map(str, photos)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == ["path", "letter", "probability", "reason", "hand_found"] and len(lines) == 4
    model = asl.Model.load(onnx_path)
    expected = model.predict_letters(np.stack([asl.image_to_array(p) for p in photos]))
    assert [line.split()[1] for line in lines[1:]] == list(expected)
    # The API takes the same paths and reads them the same way.
    assert list(model.predict_letters([str(p) for p in photos])) == list(expected)
    assert list(model.predict_letters(photos[0])) == list(expected[:1])


def test_predict_reads_folders_and_globs_skips_unreadable_files_and_writes_csv_or_json(
    tmp_path: Path, saved_model: Path, test_data: asl.SignMnistDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    import csv
    import io
    import json

    folder = tmp_path / "photos"
    (folder / "more").mkdir(parents=True)
    for i in range(4):
        Image.fromarray(test_data.images[i]).resize((96, 96)).save(folder / ("more" if i == 3 else ".") / f"h{i}.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    Image.new("RGB", (80, 80)).save(folder / "anim.gif")  # not an image suffix: not picked up from a folder
    code = main(["predict", "--model", str(saved_model), str(folder), "--format", "csv", "--top-k", "3"])
    captured = capsys.readouterr()
    assert code == 1  # the others were scored, and the exit code says one was not
    assert "skipped" in captured.err and "broken.jpg" in captured.err and "1 of 5 file(s)" in captured.err
    rows = list(csv.DictReader(io.StringIO(captured.out)))
    assert [Path(r["path"]).name for r in rows] == ["h0.png", "h1.png", "h2.png", "h3.png"]
    assert set(rows[0]) == {
        "path",
        "letter",
        "probability",
        "reason",
        "hand_found",
        "letter_2",
        "probability_2",
        "letter_3",
        "probability_3",
    }
    model = asl.Model.load(saved_model)
    paths = [Path(r["path"]) for r in rows]
    assert [r["letter"] for r in rows] == list(model.predict_letters([str(p) for p in paths]))
    # A quoted glob, as JSON.
    assert main(["predict", "--model", str(saved_model), str(folder / "h*.png"), "--format", "json"]) == 0
    answers = json.loads(capsys.readouterr().out)
    assert [Path(a["path"]).name for a in answers] == ["h0.png", "h1.png", "h2.png"]
    assert len(answers[0]["top"]) == 1 and answers[0]["top"][0]["letter"] == answers[0]["letter"]
    # Paths that name nothing are usage errors, before the model is loaded.
    assert main(["predict", "--model", str(saved_model), str(tmp_path / "nope*.png")]) == 2
    assert "matches no .png" in capsys.readouterr().err
    assert main(["predict", "--model", str(saved_model), str(folder / "anim.gif")]) == 2
    assert "is not a PNG or JPEG file" in capsys.readouterr().err


def test_predict_answers_unknown_as_the_service_does(
    tmp_path: Path, saved_model: Path, test_data: asl.SignMnistDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    import skimage.data

    from asl_recog.models._unknown import UNKNOWN_THRESHOLD_KEY

    onnx_path = tmp_path / "lr.onnx"
    asl.export_onnx(asl.Model.load(saved_model), onnx_path, metadata={UNKNOWN_THRESHOLD_KEY: 0.6})
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(12):
        Image.fromarray(test_data.images[i]).resize((96, 96)).save(folder / f"h{i:02d}.png")
    model = asl.Model.load(onnx_path)
    photos = sorted(folder.glob("*.png"))
    proba = model.predict_proba(np.stack([asl.image_to_array(p, find_hand=False) for p in photos]))
    sure = proba.max(axis=1) >= 0.6
    assert sure.any() and not sure.all()  # both kinds of answer are checked

    # The model's stored threshold is in force by default: below it, "unknown" and why.
    assert main(["predict", "--model", str(onnx_path), str(folder), "--no-find-hand", "--format", "json"]) == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    letters = [LETTERS[k] for k in proba.argmax(axis=1)]
    assert [r["letter"] for r in rows] == [
        letter if ok else "unknown" for letter, ok in zip(letters, sure, strict=True)
    ]
    assert [r["reason"] for r in rows] == [None if ok else "not_sure" for ok in sure]
    assert [r["top"][0]["letter"] for r in rows] == list(letters)  # the best guess is still given
    assert f"'unknown' for {(~sure).sum()} of 12 photo(s)" in captured.err and "stored at export" in captured.err

    # --threshold none answers every photo; --threshold T replaces the stored one.
    assert main(["predict", "--model", str(onnx_path), str(folder), "--no-find-hand", "--threshold", "none"]) == 0
    table = capsys.readouterr().out.strip().splitlines()[1:]
    assert [line.split()[1] for line in table] == list(letters)
    assert (
        main(
            ["predict", "--model", str(onnx_path), str(folder), "--no-find-hand", "--threshold", "0", "--format", "csv"]
        )
        == 0
    )
    assert [line.split(",")[1] for line in capsys.readouterr().out.splitlines()[1:]] == list(letters)

    # A photo in which no hand is found is refused while a threshold is in force, as the service refuses it.
    photo = tmp_path / "coffee.png"
    Image.fromarray(skimage.data.coffee()).save(photo)
    assert main(["predict", "--model", str(onnx_path), str(photo), "--threshold", "0", "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["letter"], row["reason"], row["hand_found"]) == ("unknown", "no_hand", False)

    # A threshold that is no probability is a usage error naming the flag.
    with pytest.raises(SystemExit) as info:
        main(["predict", "--model", str(onnx_path), str(photo), "--threshold", "60%"])
    assert info.value.code == 2
    assert "--threshold: '60%' is neither a probability from 0 to 1" in capsys.readouterr().err


def test_predict_takes_pil_images_and_colour_photo_arrays(saved_model: Path, test_data: asl.SignMnistDataset) -> None:
    import skimage.data

    model = asl.Model.load(saved_model)
    photo = skimage.data.coffee()  # a 400x600 colour photo, as the service's upload route reads it
    data = io_png(photo)
    expected = model.predict_letters(asl.image_to_array(data)[None])
    assert list(model.predict_letters(photo)) == list(expected)
    assert list(model.predict_letters(Image.fromarray(photo))) == list(expected)
    assert list(model.predict_letters([Image.fromarray(photo), photo])) == list(expected) * 2
    pixels = test_data.images[:4]  # 28x28 pixels are read as pixels, as before, not as photos
    assert list(model.predict_letters(pixels)) == list(model.predict_letters(test_data[:4]))
    with pytest.raises(asl.DataFormatError, match="item 1 is a int, among photos"):
        model.predict_letters([photo, 3])


def io_png(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()
