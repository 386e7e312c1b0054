"""The conformance checks' inputs: tiny real data, and a watch on the test file."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from asl_recog.data._dataset import SignMnistDataset, as_dataset, load_sign_mnist
from asl_recog.data._split import train_validation_split

#: Images per letter in the default training and validation parts: 240 + 96 images, enough for
#: every letter to be learnt a little and small enough for a whole check in seconds.
TRAIN_PER_LETTER = 10
VALIDATION_PER_LETTER = 4


def stratified(data: SignMnistDataset, per_letter: int, seed: int) -> SignMnistDataset:
    """``per_letter`` images of each letter of ``data`` (all of a rarer letter's), picked at random with ``seed``.

    Example:
        >>> part = stratified(train, 2, seed=0)
        >>> len(part) == 2 * len(set(train.labels))
        True
    """
    rng = np.random.default_rng(seed)
    picks = []
    for label in np.unique(data.labels):
        rows = np.flatnonzero(data.labels == label)
        picks.append(rng.choice(rows, min(per_letter, len(rows)), replace=False))
    return data[np.sort(np.concatenate(picks))]


def tiny_split(data: Any = None, *, seed: int = 0) -> tuple[SignMnistDataset, SignMnistDataset]:
    """A small (train, validation) pair of real images for the checks.

    Args:
        data: None for the bundled training file; a dataset (or anything
            :func:`~asl_recog.load_sign_mnist` accepts) to take the tiny parts from; or a
            ``(train, validation)`` pair, used as given.
        seed: which images are picked.

    Returns:
        The grouped split of ``data``, cut to 10 training and 4 validation images per letter
        (a pair passed in is returned unchanged).
    """
    if isinstance(data, tuple):
        if len(data) != 2:
            raise ValueError(f"data must be a dataset or a (train, validation) pair, got a tuple of {len(data)}")
        return as_dataset(data[0], split="train"), as_dataset(data[1], split="train")
    full = load_sign_mnist("train") if data is None else as_dataset(data, split="train")
    fit_part, validation = train_validation_split(full, seed=seed)
    return stratified(fit_part, TRAIN_PER_LETTER, seed), stratified(validation, VALIDATION_PER_LETTER, seed + 1)


# The test file must never be opened while a trainer fits: selecting on it makes the test
# score a lie. An audit hook sees every open() in this process, however deep in a library it
# happens; hooks cannot be removed, so one is installed on first use and records only while a
# watch is active (the check is a single `is None` test otherwise).
_OPENS: list[str] | None = None
_HOOKED = False
_TEST_FILE_MARK = "sign_mnist_test"


def _record_open(event: str, args: tuple[Any, ...]) -> None:
    if _OPENS is not None and event == "open" and args and _TEST_FILE_MARK in str(args[0]):
        _OPENS.append(str(args[0]))


@contextmanager
def watch_test_file() -> Iterator[list[str]]:
    """Within the block, the paths of the test file that this process opens (worker processes are not seen)."""
    global _OPENS, _HOOKED
    if not _HOOKED:
        sys.addaudithook(_record_open)
        _HOOKED = True
    opened: list[str] = []
    previous, _OPENS = _OPENS, opened
    try:
        yield opened
    finally:
        _OPENS = previous
