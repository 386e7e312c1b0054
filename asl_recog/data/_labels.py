"""The one place where dataset labels, class indices and letters are mapped.

Sign Language MNIST labels are the alphabet positions 0-24 of the letters A-Y.
J (9) and Z (25) need motion and never occur, so there are 24 classes.
Models work internally with contiguous class indices 0-23; everything public
speaks dataset labels (0-24 without 9) and letters.
"""

from __future__ import annotations

import string
from collections.abc import Iterable

import numpy as np

#: The 24 static letters, in class-index order.
LETTERS: tuple[str, ...] = tuple(c for c in string.ascii_uppercase[:25] if c != "J")
#: Dataset label of each class index (alphabet position of the letter).
LABELS: tuple[int, ...] = tuple(string.ascii_uppercase.index(c) for c in LETTERS)
NUM_CLASSES: int = len(LETTERS)
IMAGE_SIZE: int = 28
NUM_PIXELS: int = IMAGE_SIZE * IMAGE_SIZE

_LABEL_TO_INDEX = np.full(26, -1, dtype=np.int64)
_LABEL_TO_INDEX[list(LABELS)] = np.arange(NUM_CLASSES)
_LABELS_ARRAY = np.asarray(LABELS, dtype=np.int64)
_LETTERS_ARRAY = np.asarray(LETTERS)


def _why_invalid(label: object) -> str:
    if label == 9:
        return "label 9 is J, which needs motion and is not in Sign Language MNIST"
    if label == 25:
        return "label 25 is Z, which needs motion and is not in Sign Language MNIST"
    return f"label {label!r} is not one of the 24 valid labels {list(LABELS)}"


def is_valid_label(label: object) -> bool:
    """Return True when ``label`` is one of the 24 dataset labels."""
    try:
        value = int(label)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False
    return value == label and value in LABELS


def labels_to_indices(labels: Iterable[int] | np.ndarray) -> np.ndarray:
    """Map dataset labels (0-24 without 9) to class indices 0-23.

    Raises:
        ValueError: naming the first invalid label and its position.
    """
    arr = np.asarray(labels)
    if arr.size == 0:
        return arr.astype(np.int64).reshape(arr.shape)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    bad = (arr < 0) | (arr > 25)
    idx = np.where(bad, -1, _LABEL_TO_INDEX[np.clip(arr, 0, 25)])
    invalid = np.flatnonzero(idx < 0)
    if invalid.size:
        pos = int(invalid[0])
        raise ValueError(f"position {pos}: {_why_invalid(int(arr.flat[pos]))}")
    return idx


def indices_to_labels(indices: Iterable[int] | np.ndarray) -> np.ndarray:
    """Map class indices 0-23 to dataset labels."""
    arr = np.asarray(indices, dtype=np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= NUM_CLASSES):
        raise ValueError(f"class indices must be in 0..{NUM_CLASSES - 1}")
    return _LABELS_ARRAY[arr]


def labels_to_letters(labels: Iterable[int] | np.ndarray) -> np.ndarray:
    """Map dataset labels to letters ("A".."Y" without "J")."""
    return _LETTERS_ARRAY[labels_to_indices(labels)]


def letters_to_labels(letters: Iterable[str]) -> np.ndarray:
    """Map letters to dataset labels; raises ValueError on J, Z or non-letters."""
    out = []
    for pos, letter in enumerate(letters):
        key = str(letter).strip().upper()
        if key not in LETTERS:
            hint = " (J and Z need motion and are not static signs)" if key in {"J", "Z"} else ""
            raise ValueError(f"position {pos}: {letter!r} is not one of the 24 letters {''.join(LETTERS)}{hint}")
        out.append(LABELS[LETTERS.index(key)])
    return np.asarray(out, dtype=np.int64)
