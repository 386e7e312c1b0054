"""Loaders: the real files, every source kind, and a clear error for every kind of bad input."""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import asl_recog as asl
from asl_recog.data._dataset import COLUMNS

DATA_DIR = Path(__file__).resolve().parents[1] / "datasets" / "sign-language-mnist"
CSV_SHA256 = {
    "train": "b7ff39ad5f1210fa765ce11aa5f20c2e97fe467ffc22231aac923c863eef75c4",
    "test": "178c0dd21c4b0e86d58df12f14ea1e9efa795ad19d146802b3b28094a16d56ae",
}
GZ_SHA256 = {
    "train": "be7a610565cfb0a558aa2625d554674629aa03f94e6061376b128114dd5acf6a",
    "test": "6421b0f6bfb368d698d9afc66892e004430ab5fe6d3f340663eb4b78567c273a",
}


@pytest.mark.parametrize("split", ["train", "test"])
def test_bundled_files_match_published_checksums(split: str) -> None:
    blob = (DATA_DIR / f"sign_mnist_{split}.csv.gz").read_bytes()
    assert hashlib.sha256(blob).hexdigest() == GZ_SHA256[split]
    assert hashlib.sha256(gzip.decompress(blob)).hexdigest() == CSV_SHA256[split]


def test_real_files_have_expected_shape(train_data: asl.SignMnistDataset, test_data: asl.SignMnistDataset) -> None:
    assert len(train_data) == 27_455 and len(test_data) == 7_172
    assert train_data.images.shape == (27_455, 28, 28) and train_data.images.dtype == np.uint8
    for data in (train_data, test_data):
        assert sorted(np.unique(data.labels)) == list(asl.LABELS)
        assert len(np.unique(data.labels)) == 24
        assert not np.isin(data.labels, [9, 25]).any()
    assert train_data.letters[0] == asl.LETTERS[asl.LABELS.index(int(train_data.labels[0]))]
    assert train_data.classes == asl.LETTERS and len(asl.LETTERS) == 24 and "J" not in asl.LETTERS


def test_dataset_views(train_data: asl.SignMnistDataset) -> None:
    part = train_data[10:20]
    assert len(part) == 10
    assert np.array_equal(part.images, train_data.images[10:20])
    floats = part.float_images
    assert floats.shape == (10, 28, 28, 1) and floats.dtype == np.float32
    assert floats.min() >= 0.0 and floats.max() <= 1.0
    np.testing.assert_allclose(floats[..., 0] * 255, part.images, atol=1e-3)
    assert part.flat.shape == (10, 784)
    assert len(train_data[5]) == 1
    assert train_data.class_counts().sum() == len(train_data)


def test_frame_round_trip(train_data: asl.SignMnistDataset) -> None:
    part = train_data[:50]
    frame = part.to_frame()
    assert list(frame.columns) == list(COLUMNS)
    back = asl.load_sign_mnist("train", frame)
    assert np.array_equal(back.images, part.images) and np.array_equal(back.labels, part.labels)
    shuffled_columns = frame[list(reversed(frame.columns))]
    assert np.array_equal(asl.load_sign_mnist("train", shuffled_columns).images, part.images)


def test_tabular_dataset_like_source(train_data: asl.SignMnistDataset) -> None:
    class FakeTabularDataset:  # the interface of azureml.data.TabularDataset that the loader uses
        name = "sign-language-mnist"

        def to_pandas_dataframe(self) -> pd.DataFrame:
            return train_data[:7].to_frame()

    loaded = asl.load_sign_mnist("train", FakeTabularDataset())
    assert len(loaded) == 7 and "sign-language-mnist" in loaded.source


def test_csv_and_gz_paths_and_folder(tmp_path: Path, test_data: asl.SignMnistDataset) -> None:
    part = test_data[:30]
    plain = tmp_path / "sign_mnist_test.csv"
    part.to_frame().to_csv(plain, index=False)
    assert np.array_equal(asl.load_sign_mnist("test", plain).images, part.images)
    zipped = tmp_path / "other.csv.gz"
    part.to_frame().to_csv(zipped, index=False, compression="gzip")
    assert np.array_equal(asl.load_sign_mnist("test", zipped).labels, part.labels)
    assert len(asl.load_sign_mnist("test", tmp_path)) == 30  # folder holding sign_mnist_test.csv


def test_image_folder_source(tmp_path: Path, test_data: asl.SignMnistDataset) -> None:
    for i in range(6):
        letter = str(test_data.letters[i])
        (tmp_path / letter).mkdir(exist_ok=True)
        Image.fromarray(test_data.images[i]).save(tmp_path / letter / f"{i}.png")
    loaded = asl.load_sign_mnist("train", tmp_path)
    assert len(loaded) == 6
    assert sorted(loaded.letters) == sorted(test_data.letters[:6])
    # a 28x28 PNG survives crop+resize unchanged
    assert any(np.array_equal(img, test_data.images[0]) for img in loaded.images)


def test_env_var_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, test_data: asl.SignMnistDataset) -> None:
    test_data[:12].to_frame().to_csv(tmp_path / "sign_mnist_test.csv", index=False)
    monkeypatch.setenv("ASL_RECOG_DATA", str(tmp_path))
    assert len(asl.load_sign_mnist("test")) == 12


def test_missing_data_says_where_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(asl.DataNotFoundError, match="kaggle.com"):
        asl.load_sign_mnist("train", tmp_path / "nowhere")
    with pytest.raises(asl.DataNotFoundError, match="letter sub-folders"):
        asl.load_sign_mnist("train", tmp_path)


def test_cache_is_used_and_can_be_disabled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, test_data: asl.SignMnistDataset
) -> None:
    csv = tmp_path / "sign_mnist_test.csv"
    test_data[:5].to_frame().to_csv(csv, index=False)
    monkeypatch.setenv("ASL_RECOG_CACHE", str(tmp_path / "cache"))
    first = asl.load_sign_mnist("test", csv)
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1
    assert np.array_equal(asl.load_sign_mnist("test", csv).images, first.images)
    monkeypatch.setenv("ASL_RECOG_CACHE", "0")
    assert len(asl.load_sign_mnist("test", csv)) == 5


def _write_rows(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def _good_row(label: int = 3) -> list[object]:
    return [label] + [128] * 784


@pytest.mark.parametrize(
    ("mutate", "pattern"),
    [
        (lambda rows: rows[1].__setitem__(5, "abc"), r"line 3, column 'pixel5': value 'abc' is not a whole number"),
        (lambda rows: rows[2].__setitem__(10, ""), r"line 4, column 'pixel10': empty or NaN cell"),
        (lambda rows: rows[0].__setitem__(784, 256), r"line 2, column 'pixel784': pixel value 256 is outside 0-255"),
        (lambda rows: rows[1].__setitem__(1, -1), r"line 3, column 'pixel1': pixel value -1 is outside 0-255"),
        (lambda rows: rows[2].__setitem__(0, 9), r"line 4, column 'label': label 9 is J"),
        (lambda rows: rows[0].__setitem__(0, 25), r"line 2, column 'label': label 25 is Z"),
        (lambda rows: rows[0].__setitem__(0, 40), r"line 2, column 'label': label 40 is not one of"),
        (lambda rows: rows[1].__setitem__(3, 1.5), r"line 3, column 'pixel3': value 1.5 is not a whole number"),
    ],
)
def test_bad_cells_are_named(tmp_path: Path, mutate, pattern: str) -> None:
    rows = [_good_row() for _ in range(3)]
    mutate(rows)
    path = _write_rows(tmp_path / "bad.csv", list(COLUMNS), rows)
    with pytest.raises(asl.DataFormatError, match=pattern) as info:
        asl.load_sign_mnist("train", path)
    assert str(path) in str(info.value) and "Fix:" in str(info.value)


def test_missing_and_extra_columns(tmp_path: Path) -> None:
    header = list(COLUMNS[:-1])  # 783 pixels
    path = _write_rows(tmp_path / "short.csv", header, [[3] + [1] * 783])
    with pytest.raises(
        asl.DataFormatError, match=r"line 1: missing column\(s\) 'pixel784' \(783 pixel columns, expected 784\)"
    ):
        asl.load_sign_mnist("train", path)
    path = _write_rows(tmp_path / "extra.csv", list(COLUMNS) + ["pixel785"], [_good_row() + [0]])
    with pytest.raises(asl.DataFormatError, match=r"unexpected column\(s\) 'pixel785'"):
        asl.load_sign_mnist("train", path)


def test_row_with_too_many_fields(tmp_path: Path) -> None:
    path = _write_rows(tmp_path / "wide.csv", list(COLUMNS), [_good_row(), _good_row() + [7]])
    with pytest.raises(asl.DataFormatError, match=r"not a well-formed CSV.*line 3"):
        asl.load_sign_mnist("train", path)


def test_row_with_too_few_fields(tmp_path: Path) -> None:
    path = _write_rows(tmp_path / "narrow.csv", list(COLUMNS), [_good_row(), _good_row()[:-2]])
    with pytest.raises(asl.DataFormatError, match=r"line 3, column 'pixel783': empty or NaN cell"):
        asl.load_sign_mnist("train", path)


def test_empty_and_header_only_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(asl.DataFormatError, match="the file is empty"):
        asl.load_sign_mnist("train", empty)
    header_only = _write_rows(tmp_path / "header.csv", list(COLUMNS), [])
    with pytest.raises(asl.DataFormatError, match="no data rows"):
        asl.load_sign_mnist("train", header_only)


def test_truncated_gzip(tmp_path: Path) -> None:
    blob = (DATA_DIR / "sign_mnist_test.csv.gz").read_bytes()
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(blob[: len(blob) // 3])
    with pytest.raises(asl.DataFormatError, match="gzip stream is truncated or corrupt"):
        asl.load_sign_mnist("test", path)


def test_dataframe_errors_name_the_row(train_data: asl.SignMnistDataset) -> None:
    frame = train_data[:4].to_frame()
    frame.loc[2, "pixel100"] = 999
    with pytest.raises(asl.DataFormatError, match=r"DataFrame, row 2, column 'pixel100': pixel value 999"):
        asl.load_sign_mnist("train", frame)


def test_image_folder_errors(tmp_path: Path) -> None:
    (tmp_path / "A").mkdir()
    (tmp_path / "A" / "notes.txt").write_text("hi")
    with pytest.raises(asl.DataFormatError, match="notes.txt.*not a .png"):
        asl.load_sign_mnist("train", tmp_path)
    (tmp_path / "A" / "notes.txt").unlink()
    (tmp_path / "A" / "broken.png").write_bytes(b"not an image")
    with pytest.raises(asl.DataFormatError, match="broken.png: not a readable PNG or JPEG"):
        asl.load_sign_mnist("train", tmp_path)
    (tmp_path / "A" / "broken.png").unlink()
    (tmp_path / "J").mkdir()
    with pytest.raises(asl.DataFormatError, match="sub-folder 'J'"):
        asl.load_sign_mnist("train", tmp_path)


def test_label_mapping_is_single_and_strict() -> None:
    assert asl.LETTERS[:10] == ("A", "B", "C", "D", "E", "F", "G", "H", "I", "K")
    assert list(asl.labels_to_letters([0, 10, 24])) == ["A", "K", "Y"]
    assert list(asl.letters_to_labels(["a", "K", "y"])) == [0, 10, 24]
    for bad in (9, 25, -1, 26):
        with pytest.raises(ValueError):
            asl.labels_to_letters([bad])
    with pytest.raises(ValueError, match="need motion"):
        asl.letters_to_labels(["Z"])
    with pytest.raises(ValueError, match="label 9 is J"):
        asl.SignMnistDataset(np.zeros((1, 28, 28), np.uint8), np.array([9]))


def test_import_is_fast_and_light() -> None:
    code = (
        "import sys, time; t = time.perf_counter(); import asl_recog; dt = time.perf_counter() - t; "
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras', 'azure', 'azureml', 'optuna', 'onnxruntime', 'fastapi', 'sklearn')]; "
        "print(dt, heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    ).stdout.split(" ", 1)
    assert float(out[0]) < 1.0
    assert out[1].strip() == "[]"
