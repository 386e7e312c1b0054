"""Loaders never crash with a bare exception: every frame dtype, odd numbers, blank lines, stale caches, bombs."""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from image_cases import png_bomb

import asl_recog as asl
from asl_recog.data._dataset import COLUMNS


@pytest.fixture(scope="module")
def part(test_data: asl.SignMnistDataset) -> asl.SignMnistDataset:
    return test_data[:6]


@pytest.mark.parametrize("dtype", [float, object, "Int64", "float32", "UInt8"])
def test_frames_holding_whole_numbers_load_whatever_their_dtype(part: asl.SignMnistDataset, dtype: Any) -> None:
    """Defect 5: ``frame.astype(float)`` and object frames raised IndexError instead of loading."""
    loaded = asl.load_sign_mnist("train", part.to_frame().astype(dtype))
    np.testing.assert_array_equal(loaded.images, part.images)
    np.testing.assert_array_equal(loaded.labels, part.labels)


def _frame_with(part: asl.SignMnistDataset, dtype: Any, row: int, column: str, value: Any) -> pd.DataFrame:
    frame = part.to_frame().astype(dtype)
    frame.loc[row, column] = value
    return frame


@pytest.mark.parametrize(
    ("dtype", "column", "value", "problem"),
    [
        ("Int64", "pixel5", pd.NA, "empty or NaN cell"),  # was TypeError: boolean value of NA is ambiguous
        ("Float64", "label", pd.NA, "empty or NaN cell"),
        (float, "pixel9", np.inf, "value inf is not a finite number"),  # was IndexError
        (float, "label", -np.inf, "value -inf is not a finite number"),
        (float, "pixel9", 2.5, "value 2.5 is not a whole number"),
        (object, "pixel700", "abc", "value 'abc' is not a whole number"),
        (object, "pixel700", [1, 2], "value [1, 2] is not a whole number"),
        (object, "pixel3", 2**64, "pixel value 18446744073709551616 is outside 0-255"),  # was IndexError
        (object, "label", 2**64, "label 18446744073709551616 is not one of the 24 valid labels"),
        (object, "label", None, "empty or NaN cell"),
        (float, "pixel1", 256.0, "pixel value 256 is outside 0-255"),
        (float, "label", 9.0, "label 9 is J"),
    ],
)
def test_bad_cells_of_any_dtype_name_row_and_column(
    part: asl.SignMnistDataset, dtype: Any, column: str, value: Any, problem: str
) -> None:
    """Defect 5: each raises the library's DataFormatError naming the frame row and column."""
    frame = _frame_with(part, dtype, 3, column, value)
    with pytest.raises(asl.DataFormatError) as info:
        asl.load_sign_mnist("train", frame)
    assert str(info.value).startswith(f"DataFrame, row 3, column '{column}': {problem}"), str(info.value)
    assert "Fix:" in str(info.value)


def test_boolean_columns_and_repeated_columns_are_named(part: asl.SignMnistDataset) -> None:
    frame = part.to_frame()
    frame["pixel4"] = frame["pixel4"] > 100
    with pytest.raises(asl.DataFormatError, match=r"row 0, column 'pixel4': value .* is a boolean"):
        asl.load_sign_mnist("train", frame)
    twice = pd.concat([part.to_frame(), part.to_frame()[["pixel1"]]], axis=1)
    with pytest.raises(asl.DataFormatError, match=r"repeated column\(s\) 'pixel1'"):
        asl.load_sign_mnist("train", twice)


def _csv(path: Path, lines: list[str]) -> Path:
    text = "\n".join(lines) + "\n"
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def _line(label: Any = 3, last: Any = 128) -> str:
    return ",".join(str(v) for v in [label, *[128] * 783, last])


@pytest.mark.parametrize(
    ("cell", "problem"),
    [
        ("inf", "line 4, column 'pixel784': value inf is not a finite number"),
        ("-inf", "line 4, column 'pixel784': value -inf is not a finite number"),
        (str(2**64), "line 4, column 'pixel784': pixel value 18446744073709551616 is outside 0-255"),
        # pandas 3 parses it to inf; pandas 2 keeps the text, and the message quotes it as written
        ("1e400", r"line 4, column 'pixel784': value (inf|'1e400') is not a finite number"),
    ],
)
def test_infinite_and_huge_csv_cells_are_named(tmp_path: Path, cell: str, problem: str) -> None:
    """Defect 5: ``inf`` or 2^64 cells in a CSV raised ``IndexError: index 0 is out of bounds``."""
    path = _csv(tmp_path / "odd.csv", [",".join(COLUMNS), _line(), _line(), _line(last=cell)])
    with pytest.raises(asl.DataFormatError, match=problem):
        asl.load_sign_mnist("train", path)


@pytest.mark.parametrize("name", ["blank.csv", "blank.csv.gz"])
def test_line_numbers_count_blank_lines(tmp_path: Path, name: str) -> None:
    """Defect 5: after a blank line the reported line number was one too small."""
    lines = [",".join(COLUMNS), _line(), "", _line(), "   ", "", _line(label=9), _line()]
    path = _csv(tmp_path / name, lines)
    with pytest.raises(asl.DataFormatError, match=rf"{name}, line 7, column 'label': label 9 is J"):
        asl.load_sign_mnist("train", path)
    lines[6] = _line(last="x")
    _csv(path, lines)
    with pytest.raises(asl.DataFormatError, match=r"line 7, column 'pixel784': value 'x' is not a whole number"):
        asl.load_sign_mnist("train", path)


def test_cache_follows_content_not_size_and_mtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, part: asl.SignMnistDataset
) -> None:
    """Defect 5: a file rewritten with the same size and modification time returned stale cached data."""
    monkeypatch.setenv("ASL_RECOG_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "sign_mnist_test.csv"
    part.to_frame().to_csv(path, index=False)
    stat = path.stat()
    first = asl.load_sign_mnist("test", path)
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1
    lines = path.read_text().splitlines()
    cells = lines[1].split(",")
    digit = int(cells[1][-1])
    cells[1] = cells[1][:-1] + str(digit - 1 if digit > 0 else 1)  # another pixel value of the same width
    lines[1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns
    second = asl.load_sign_mnist("test", path)
    assert second.images[0, 0, 0] == int(cells[1]) != first.images[0, 0, 0]
    np.testing.assert_array_equal(second.images[1:], first.images[1:])


def test_a_bomb_in_an_image_folder_is_named(tmp_path: Path) -> None:
    """Defect 5: a bomb PNG in an image folder raised a raw DecompressionBombError."""
    (tmp_path / "A").mkdir()
    (tmp_path / "A" / "huge.png").write_bytes(png_bomb(20000, 20000, color_type=0))
    with pytest.raises(asl.DataFormatError, match=r"A/huge.png: the image is .*above the limit.*Fix: downscale"):
        asl.load_sign_mnist("train", tmp_path)
