"""``asl-recog predict --model M PATH...``: letters for photo files, folders and globs, as a table, CSV or JSON.

Each photo is read as the scoring service reads an upload (the hand's square, else the centre
square), and answered as the service answers it: with the model's "unknown" threshold in force
(stored at export; ``--threshold`` sets another, ``--threshold none`` answers every photo), a
photo whose highest probability is below it, or in which no hand was found, answers "unknown",
and the ``reason`` column says which (``not_sure``, ``no_hand``). The service's own functions
decide it, so the command line and the service never disagree about a photo. A file that
cannot be read is reported on stderr, by name and with the fix, and the others are still
scored: one broken file among hundreds costs one line, not the batch. The exit code is then 1,
so a script notices.
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np

from asl_recog._errors import ConfigurationError, DataFormatError
from asl_recog.data._hands import HandBox
from asl_recog.data._images import IMAGE_SUFFIXES, read_image
from asl_recog.data._labels import LABELS, LETTERS, NUM_CLASSES
from asl_recog.serving._answers import (
    NO_HAND,
    NOT_SURE,
    UNKNOWN,
    AnswerOptions,
    add_hands,
    extend_answer,
    model_threshold,
)

logger = logging.getLogger(__name__)

EXAMPLE = "asl-recog predict --model runs/demo/best.onnx my-photos/ --format csv --top-k 3"
FORMATS = ("table", "csv", "json")
_WILDCARDS = set("*?[")


def add_predict_arguments(p: argparse.ArgumentParser) -> None:
    """The ``predict`` command's flags."""
    p.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="PNG or JPEG files, folders (every .png/.jpg/.jpeg inside, sub-folders included) or quoted globs",
    )
    p.add_argument("--model", required=True, help=".onnx, .keras or .aslskl model")
    p.add_argument("--format", choices=FORMATS, default="table", help="table (aligned columns), csv or json")
    p.add_argument(
        "--top-k", type=int, default=1, metavar="K", help=f"also list the K likeliest letters (1-{NUM_CLASSES})"
    )
    p.add_argument(
        "--threshold",
        type=threshold_argument,
        default=None,
        metavar="T|none",
        help="answer 'unknown' below this highest probability (0-1), or where no hand is found, as the service "
        "does; default: the model's own threshold, stored at export; 'none' answers every photo",
    )
    p.add_argument(
        "--no-find-hand",
        action="store_true",
        help="read each photo's centre square instead of the square around the hand found in it",
    )


def threshold_argument(text: str) -> float | str:
    """``--threshold``'s value: a probability in 0..1, or ``"none"`` (answer every photo).

    Example:
        >>> threshold_argument("0.6"), threshold_argument("None")
        (0.6, 'none')
        >>> threshold_argument("60%")
        Traceback (most recent call last):
        ...
        argparse.ArgumentTypeError: '60%' is neither a probability from 0 to 1 (e.g. 0.6) nor 'none'
    """
    if text.strip().lower() == "none":
        return "none"
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:  # also refuses NaN
        raise argparse.ArgumentTypeError(f"{text[:20]!r} is neither a probability from 0 to 1 (e.g. 0.6) nor 'none'")
    return value


def expand_paths(paths: list[str]) -> list[Path]:
    """Files in the order given: folders walked in name order, globs expanded, duplicates kept once.

    Raises:
        ConfigurationError: a path that does not exist, a glob that matches nothing, or a folder
            without images.

    Example:
        >>> import pathlib, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> (folder / "B").mkdir()
        >>> for name in ("b2.jpg", "b1.png", "notes.txt"):
        ...     _ = (folder / "B" / name).write_bytes(b"")  # only the names matter here
        >>> [p.name for p in expand_paths([str(folder), str(folder / "B" / "b1.png")])]
        ['b1.png', 'b2.jpg']
        >>> expand_paths([str(folder / "*.gif")])
        Traceback (most recent call last):
        ...
        asl_recog._errors.ConfigurationError: ...: the pattern matches no .png, .jpg or .jpeg file
    """
    found: dict[Path, None] = {}
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            images = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not images:
                raise ConfigurationError(f"{raw}: the folder holds no .png, .jpg or .jpeg file")
            found.update(dict.fromkeys(images))
        elif path.is_file():
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                raise ConfigurationError(f"{raw} is not a PNG or JPEG file (.png, .jpg, .jpeg)")
            found[path] = None
        elif _WILDCARDS & set(raw):
            matches = sorted(Path(m) for m in glob.glob(raw, recursive=True))
            images = [m for m in matches if m.is_file() and m.suffix.lower() in IMAGE_SUFFIXES]
            if not images:
                raise ConfigurationError(f"{raw}: the pattern matches no .png, .jpg or .jpeg file")
            found.update(dict.fromkeys(images))
        else:
            raise ConfigurationError(f"{raw}: no such file or folder")
    return list(found)


def cmd_predict(args: argparse.Namespace) -> int:
    """Score every readable photo; report the others; print the answers in the chosen format."""
    from asl_recog.models._base import Model

    if not 1 <= args.top_k <= NUM_CLASSES:
        raise ConfigurationError(f"--top-k {args.top_k}: give a whole number from 1 to {NUM_CLASSES}")
    files = expand_paths(args.paths)
    model = Model.load(args.model)  # after the paths: a typo in a path fails before the model loads
    threshold = _threshold_in_force(args.threshold, model, args.model)
    readable: list[Path] = []
    images: list[np.ndarray] = []
    hands: list[HandBox | None] = []
    searched: list[bool] = []
    for path in files:
        try:
            array, hand, looked = read_image(path, find_hand=not args.no_find_hand)
        except DataFormatError as exc:
            print(f"asl-recog predict: skipped {exc}", file=sys.stderr)
            continue
        readable.append(path)
        images.append(array)
        hands.append(hand)
        searched.append(looked)
    if images:
        pixels = np.stack(images)
        proba = model.predict_proba(pixels)
        reasons = _reasons(proba, pixels, hands, searched, threshold)
        rows = _rows(readable, proba, hands, searched, reasons, args.top_k)
        {"table": _table, "csv": _csv, "json": _json}[args.format](rows, args.top_k)
        if threshold is not None:
            _say_refusals(reasons, threshold, args.threshold is None)
    skipped = len(files) - len(readable)
    if skipped:
        print(f"asl-recog predict: {skipped} of {len(files)} file(s) could not be read (above)", file=sys.stderr)
    return 1 if skipped else 0


def _threshold_in_force(given: float | str | None, model: Any, source: str) -> float | None:
    """``--threshold``'s value, else the model's stored one (None: every photo is answered)."""
    if given == "none":
        return None
    if given is not None:
        return float(given)
    return model_threshold(getattr(model, "metadata", None), source)


def _reasons(
    proba: np.ndarray,
    images: np.ndarray,
    hands: list[HandBox | None],
    searched: list[bool],
    threshold: float | None,
) -> list[str | None]:
    """Per photo why it answers "unknown" (None: a letter), by the service's own rule."""
    if threshold is None:
        return [None] * len(proba)
    top = proba.argmax(axis=1)
    answer: dict[str, Any] = {"result": [LABELS[int(k)] for k in top], "letters": [LETTERS[int(k)] for k in top]}
    extend_answer(answer, proba, images, AnswerOptions(threshold=threshold))
    add_hands(answer, hands, refuse_missing=True, searched=searched)
    return list(answer["reasons"])


def _say_refusals(reasons: list[str | None], threshold: float, stored: bool) -> None:
    counts = {reason: reasons.count(reason) for reason in (NOT_SURE, NO_HAND)}
    origin = "the model's threshold, stored at export" if stored else "--threshold"
    logger.info(
        "'unknown' for %d of %d photo(s): %d below %.3f (%s), %d with no hand found; "
        "--threshold none answers every photo",
        sum(counts.values()),
        len(reasons),
        counts[NOT_SURE],
        threshold,
        origin,
        counts[NO_HAND],
    )


def _rows(
    paths: list[Path],
    proba: np.ndarray,
    hands: list[HandBox | None],
    searched: list[bool],
    reasons: list[str | None],
    top_k: int,
) -> list[dict[str, Any]]:
    """One answer per photo; an "unknown" one keeps its likeliest letters in ``top``."""
    order = np.argsort(-proba, axis=1, kind="stable")[:, :top_k]
    return [
        {
            "path": str(path),
            "letter": LETTERS[int(ranked[0])] if reason is None else UNKNOWN,
            "probability": round(float(row[ranked[0]]), 4),
            "reason": reason,
            "hand_found": (hand is not None) if looked else None,
            "top": [{"letter": LETTERS[int(k)], "probability": round(float(row[k]), 4)} for k in ranked],
        }
        for path, row, ranked, hand, looked, reason in zip(paths, proba, order, hands, searched, reasons, strict=True)
    ]


def _flat(row: dict[str, Any], top_k: int) -> list[Any]:
    hand = "" if row["hand_found"] is None else ("yes" if row["hand_found"] else "no")
    extra = [v for entry in row["top"][1:top_k] for v in (entry["letter"], entry["probability"])]
    return [row["path"], row["letter"], row["probability"], row["reason"] or "", hand, *extra]


def _header(top_k: int) -> list[str]:
    extra = [name for k in range(2, top_k + 1) for name in (f"letter_{k}", f"probability_{k}")]
    return ["path", "letter", "probability", "reason", "hand_found", *extra]


def _csv(rows: list[dict[str, Any]], top_k: int) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(_header(top_k))
    writer.writerows(_flat(row, top_k) for row in rows)


def _json(rows: list[dict[str, Any]], top_k: int) -> None:
    print(json.dumps(rows, indent=2))


def _table(rows: list[dict[str, Any]], top_k: int) -> None:
    lines = [_header(top_k), *([str(v) for v in _flat(row, top_k)] for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    for line in lines:
        print("  ".join(value.ljust(width) for value, width in zip(line, widths, strict=True)).rstrip())


__all__ = ["EXAMPLE", "FORMATS", "add_predict_arguments", "cmd_predict", "expand_paths", "threshold_argument"]
