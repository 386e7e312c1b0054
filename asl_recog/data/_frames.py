"""Validating a table in the Kaggle layout (``label, pixel1..pixel784``) cell by cell.

Every bad cell becomes a :class:`DataFormatError` naming the file and line (or
the frame row) and the column, whatever the frame holds: integers, floats,
objects, pandas' nullable types with ``pd.NA``, infinities or numbers beyond
64 bits. Clean integer frames take a vectorised path; other columns are coerced
one by one, and whole-number floats are accepted.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import lzma
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from asl_recog._errors import DataFormatError
from asl_recog.data._labels import IMAGE_SIZE, NUM_PIXELS, _why_invalid

LABEL_COLUMN = "label"
PIXEL_COLUMNS: tuple[str, ...] = tuple(f"pixel{i}" for i in range(1, NUM_PIXELS + 1))
COLUMNS: tuple[str, ...] = (LABEL_COLUMN, *PIXEL_COLUMNS)
_OPENERS: dict[str, Callable[..., Any]] = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


def csv_lines(path: Path) -> Callable[[int], int]:
    """Map a data-row position of ``pd.read_csv(path)`` to its 1-based line in the file.

    pandas skips blank lines, so after one the row position and the line differ; the
    file is read again only when an error needs a line number.
    """
    lines: list[int] = []

    def line_of(pos: int) -> int:
        if not lines:
            opener = _OPENERS.get(path.suffix.lower(), open)
            try:
                with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
                    lines.extend(number for number, text in enumerate(handle, 1) if text.strip())
            except (OSError, EOFError, lzma.LZMAError):
                pass
        # lines[0] is the header; compressions read here are all those the loader accepts but zip and zstd
        return lines[pos + 1] if pos + 1 < len(lines) else pos + 2

    return line_of


def frame_to_arrays(
    frame: pd.DataFrame, *, source: str, row_kind: str = "row", line_of: Callable[[int], int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Validate a Kaggle-layout frame and return ``(images, labels)``; raise on the first bad cell.

    Args:
        frame: the table, columns in any order.
        source: the file or object it came from, for messages.
        row_kind: ``"line"`` for a file (``line_of`` maps positions to lines) or ``"row"`` for a frame.
        line_of: data-row position -> line number; default: the position itself.

    Raises:
        DataFormatError: naming the source, line or row, column, problem and fix.
    """
    where = line_of or (lambda pos: pos)
    _check_columns(frame, source, row_kind)
    if len(frame) == 0:
        raise DataFormatError("no data rows", source=source, fix="the file must hold at least one image row")
    if list(frame.columns) != list(COLUMNS):
        frame = frame.loc[:, list(COLUMNS)]
    values = _numeric(frame, source, where, row_kind)
    pixels = values[:, 1:]
    out_of_range = (pixels < 0) | (pixels > 255)
    if out_of_range.any():
        pos, col = (int(v) for v in np.argwhere(out_of_range)[0])
        raise DataFormatError(
            f"pixel value {_show(pixels[pos, col])} is outside 0-255",
            source=source,
            row=where(pos),
            column=PIXEL_COLUMNS[col],
            row_kind=row_kind,
            fix="pixels are 8-bit grayscale; rescale the image to 0-255",
        )
    labels = values[:, 0]
    valid = np.isin(labels, np.arange(26)) & (labels != 9) & (labels != 25)
    if not valid.all():
        pos = int(np.flatnonzero(~valid)[0])
        raise DataFormatError(
            _why_invalid(_plain(labels[pos])),
            source=source,
            row=where(pos),
            column=LABEL_COLUMN,
            row_kind=row_kind,
            fix="labels are alphabet positions of A-Y without J (0-24, never 9 or 25)",
        )
    return pixels.astype(np.uint8).reshape(-1, IMAGE_SIZE, IMAGE_SIZE), labels.astype(np.int64)


def _check_columns(frame: pd.DataFrame, source: str, row_kind: str) -> None:
    columns = [str(c) for c in frame.columns]
    missing = [c for c in COLUMNS if c not in set(columns)]
    extra = [c for c in columns if c not in set(COLUMNS)]
    duplicated = sorted({c for c in columns if columns.count(c) > 1}) if len(set(columns)) != len(columns) else []
    if missing or extra or duplicated:
        parts = []
        if missing:
            parts.append(f"missing column(s) {_short(missing)}")
        if extra:
            parts.append(f"unexpected column(s) {_short(extra)}")
        if duplicated:
            parts.append(f"repeated column(s) {_short(duplicated)}")
        pixels = sum(c.startswith("pixel") for c in columns)
        raise DataFormatError(
            "; ".join(parts) + f" ({pixels} pixel columns, expected {NUM_PIXELS})",
            source=source,
            row=1 if row_kind == "line" else None,
            fix=f"the header must be 'label,pixel1,...,pixel{NUM_PIXELS}' (one 28x28 image per row)",
        )


def _numeric(frame: pd.DataFrame, source: str, where: Callable[[int], int], row_kind: str) -> np.ndarray:
    """The cells as one numeric array: integers as they are, anything else checked column by column."""
    if all(isinstance(dtype, np.dtype) and dtype.kind in "iu" for dtype in frame.dtypes):
        return frame.to_numpy()
    columns = []
    for name in COLUMNS:
        column = frame[name]
        dtype = column.dtype
        if isinstance(dtype, np.dtype) and dtype.kind in "iu":
            columns.append(column.to_numpy(np.float64))
            continue
        if pd.api.types.is_bool_dtype(dtype):
            raise DataFormatError(
                f"value {column.iloc[0]!r} is a boolean, not a number",
                source=source,
                row=where(0),
                column=name,
                row_kind=row_kind,
                fix="every cell must be an integer (label 0-24, pixels 0-255)",
            )
        # Objects, floats and nullable types (Int64 with pd.NA) alike: anything not a number becomes NaN.
        numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(numbers)
        bad[~bad] = numbers[~bad] != np.round(numbers[~bad])
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise DataFormatError(
                _why_not_whole(column.iloc[pos], numbers[pos]),
                source=source,
                row=where(pos),
                column=name,
                row_kind=row_kind,
                fix="every cell must be an integer (label 0-24, pixels 0-255)",
            )
        columns.append(numbers)
    return np.column_stack(columns)


def _why_not_whole(value: Any, number: float) -> str:
    """Why a cell is refused: ``value`` as read, ``number`` as parsed (NaN when it is no number)."""
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return "empty or NaN cell"
    if isinstance(value, str):  # text pandas did not parse: '1e400', too large for a float, stays text in pandas 2
        with contextlib.suppress(ValueError):
            number = float(value)
    if math.isinf(number):
        return f"value {_show(value)} is not a finite number"
    return f"value {_show(value)} is not a whole number"


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python number it holds; whole floats as ints (for messages)."""
    value = value.item() if isinstance(value, np.generic) else value
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _show(value: Any) -> str:
    text = repr(_plain(value))
    return text if len(text) <= 40 else text[:37] + "..."


def _short(names: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
