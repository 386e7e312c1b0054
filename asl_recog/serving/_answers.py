"""What a /score answer may add on request: the top-k letters, "unknown" below a threshold, the 28x28 inputs.

Query parameters (all optional; without any of them, and without a threshold in the model's
metadata, /score answers exactly as before and this module is never called):

- ``top_k=K`` (1..24): ``"top"``, per image the K most probable letters with their probabilities;
- ``threshold=T`` (0..1), else the model's ``asl_recog.unknown_threshold`` metadata: ``"threshold"``,
  and each image whose highest probability is below T answers ``"unknown"`` (label ``null``);
- ``return_input=true``: ``"input"``, the 28x28 grayscale images the server scored, 784 values each;
- ``crop=x,y,w,h``: image uploads only, the box (upright image pixels) cut out before the conversion;
- ``find_hand=false``: image uploads only, take the centre square instead of the square around the
  hand that MediaPipe's palm detector finds (the default where no ``crop`` is given).

Photo uploads in which the hand was looked for also answer ``"hand"``: per image the box that
was cut out, or null where no hand was found and the centre square was used. With a threshold
in force, ``"reasons"`` says per image why the answer is "unknown": ``"no_hand"`` (a photo in
which no hand was found is refused, not read from its centre) or ``"not_sure"`` (the highest
probability is below the threshold); null where a letter was answered.

Any other query parameter is refused (422), so a misspelt option is never silently dropped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import numpy as np

from asl_recog._errors import ModelFileError
from asl_recog.data._hands import HandBox
from asl_recog.data._labels import LABELS, LETTERS, NUM_CLASSES
from asl_recog.serving._requests import RequestError

#: The ONNX metadata key holding the confidence below which the answer is "unknown" (set at export).
THRESHOLD_KEY = "asl_recog.unknown_threshold"
UNKNOWN = "unknown"
#: Why an answer is "unknown" (the ``reasons`` field).
NO_HAND, NOT_SURE = "no_hand", "not_sure"
#: The query parameters /score reads; every other name is refused.
QUERY_PARAMETERS = ("proba", "top_k", "threshold", "return_input", "crop", "find_hand")
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off", "")


@dataclass(frozen=True)
class AnswerOptions:
    """The answer options of one /score request, parsed from its query string.

    Attributes:
        proba: also return the 24 probabilities.
        top_k: how many of the most probable letters to list per image, or None.
        threshold: the confidence in force (query, else the model's), or None.
        return_input: also return the 28x28 images that were scored.
        crop: ``(x, y, w, h)`` cut out of uploaded images before the conversion, or None.
        find_hand: crop uploaded photos to the hand found in them (when no ``crop`` is given).

    Example:
        >>> options = parse_options(b"top_k=3&crop=0,0,50,50&return_input=true", default_threshold=0.5)
        >>> options.top_k, options.threshold, options.crop, options.return_input, options.proba
        (3, 0.5, (0, 0, 50, 50), True, False)
        >>> parse_options(b"find_hand=false", default_threshold=None).find_hand
        False
    """

    proba: bool = False
    top_k: int | None = None
    threshold: float | None = None
    return_input: bool = False
    crop: tuple[int, int, int, int] | None = None
    find_hand: bool = True


def model_threshold(metadata: Mapping[str, Any] | None, source: str) -> float | None:
    """The model's "unknown" threshold from its metadata, or None when it has none.

    Raises:
        ModelFileError: the value is not a number in 0..1 (read at start-up, so the service never starts with it).
    """
    if not metadata or THRESHOLD_KEY not in metadata:
        return None
    raw = metadata[THRESHOLD_KEY]
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = math.nan
    if not 0.0 <= value <= 1.0:  # also refuses NaN
        raise ModelFileError(
            f"{source}: metadata {THRESHOLD_KEY}={str(raw)[:40]!r} is not a decimal number in 0..1. "
            "Fix: re-export the model with asl_recog.export_onnx, or write a value such as '0.62'"
        )
    return value


def _flag(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise RequestError(
        f"{name} must be true or false, got {value[:20]!r}", where=f"query.{name}", code="invalid_parameter"
    )


def _top_k(value: str) -> int:
    text = value.strip()
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= NUM_CLASSES):
        raise RequestError(
            f"top_k must be a whole number from 1 to {NUM_CLASSES}, got {value[:20]!r}",
            where="query.top_k",
            code="invalid_parameter",
        )
    return int(text)


def _threshold(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not 0.0 <= number <= 1.0:
        raise RequestError(
            f"threshold must be a number from 0 to 1 (a probability), got {value[:20]!r}",
            where="query.threshold",
            code="invalid_parameter",
        )
    return number


def _crop(value: str) -> tuple[int, int, int, int]:
    parts = [p.strip() for p in value.split(",")]
    if len(parts) != 4 or not all(p.isascii() and p.lstrip("-").isdigit() for p in parts):
        raise RequestError(
            f"crop must be four whole numbers x,y,w,h (pixels of the upright image), got {value[:40]!r}",
            where="query.crop",
            code="invalid_parameter",
        )
    x, y, w, h = (int(p) for p in parts)
    if w <= 0 or h <= 0 or x < 0 or y < 0:
        raise RequestError(
            f"crop needs x,y >= 0 and w,h > 0, got {value[:40]!r}", where="query.crop", code="invalid_parameter"
        )
    return x, y, w, h


def query_values(query: bytes, allowed: Sequence[str], endpoint: str) -> dict[str, str]:
    """The parameters of a query string (the last value of a repeated name wins), all among ``allowed``.

    Raises:
        RequestError: 422 ``invalid_parameter`` naming the first unknown parameter and what ``endpoint`` reads.

    Example:
        >>> query_values(b"top_k=3&proba=true", QUERY_PARAMETERS, "/score")
        {'top_k': '3', 'proba': 'true'}
    """
    values = dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True))
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise RequestError(
            f"unknown query parameter {unknown[0][:40]!r}; {endpoint} reads {', '.join(allowed)}",
            where=f"query.{unknown[0][:40]}",
            code="invalid_parameter",
        )
    return values


def parse_options(query: bytes, default_threshold: float | None) -> AnswerOptions:
    """The answer options in a query string (the last value of a repeated name wins).

    Raises:
        RequestError: 422 ``invalid_parameter``, naming the parameter as ``query.<name>``, for a bad
            value or a name that is not one of :data:`QUERY_PARAMETERS`.
    """
    values = query_values(query, QUERY_PARAMETERS, "/score")
    threshold = _threshold(values["threshold"]) if "threshold" in values else default_threshold
    return AnswerOptions(
        proba=_flag("proba", values["proba"]) if "proba" in values else False,
        top_k=_top_k(values["top_k"]) if "top_k" in values else None,
        threshold=threshold,
        return_input=_flag("return_input", values["return_input"]) if "return_input" in values else False,
        crop=_crop(values["crop"]) if "crop" in values else None,
        find_hand=_flag("find_hand", values["find_hand"]) if "find_hand" in values else True,
    )


def extend_answer(
    answer: dict[str, Any], probabilities: np.ndarray, images: np.ndarray, options: AnswerOptions
) -> dict[str, Any]:
    """Add what ``options`` asks for to a /score answer (``{"result", "letters", ...}``), in place.

    Example:
        >>> proba = np.full((2, 24), 0.01)
        >>> proba[0, 3], proba[1, 0] = 0.77, 0.3
        >>> answer = {"result": [3, 0], "letters": ["D", "A"]}
        >>> options = AnswerOptions(top_k=2, threshold=0.5)
        >>> extend_answer(answer, proba, np.zeros((2, 28, 28), np.uint8), options)["letters"]
        ['D', 'unknown']
        >>> answer["result"], answer["reasons"], answer["top"][0][0]
        ([3, None], [None, 'not_sure'], {'letter': 'D', 'label': 3, 'probability': 0.77})
    """
    if options.top_k is not None:
        order = np.argsort(-probabilities, axis=1, kind="stable")[:, : options.top_k]
        answer["top"] = [
            [
                {"letter": LETTERS[k], "label": LABELS[k], "probability": round(float(row[k]), 6)}
                for k in ranked.tolist()
            ]
            for row, ranked in zip(probabilities, order, strict=True)
        ]
    if options.threshold is not None:
        answer["threshold"] = options.threshold
        below = (np.max(probabilities, axis=1) < options.threshold).tolist()
        answer["letters"] = [UNKNOWN if low else letter for letter, low in zip(answer["letters"], below, strict=True)]
        answer["result"] = [None if low else label for label, low in zip(answer["result"], below, strict=True)]
        answer["reasons"] = [NOT_SURE if low else None for low in below]
    if options.return_input:
        answer["input"] = np.asarray(images, dtype=np.uint8).reshape(len(images), -1).tolist()
    return answer


def hand_entry(box: HandBox | None) -> dict[str, Any] | None:
    """A hand found in a photo as answers give it (``HandEntry`` in the OpenAPI document), or None.

    Example:
        >>> from asl_recog.data._hands import HandBox
        >>> hand_entry(HandBox(40, 10, 120, 120, 0.97123)), hand_entry(None)
        ({'x': 40, 'y': 10, 'width': 120, 'height': 120, 'score': 0.9712}, None)
    """
    if box is None:
        return None
    return {"x": box.x, "y": box.y, "width": box.width, "height": box.height, "score": round(box.score, 4)}


def add_hands(
    answer: dict[str, Any],
    hands: Sequence[HandBox | None],
    refuse_missing: bool,
    searched: Sequence[bool] | None = None,
) -> dict[str, Any]:
    """Add ``"hand"`` (per photo, the box cut out, or null) to a /score answer, in place.

    Args:
        answer: the answer, already extended (its ``"reasons"`` exist when a threshold is in force).
        hands: per image, the hand found, or None where none was found (or looked for).
        refuse_missing: answer "unknown" (reason ``"no_hand"``) where no hand was found; the
            service does so when a threshold is in force, the mode in which it refuses to guess.
        searched: per image, whether the hand was looked for (default: all were). An image too
            small to search (under 64 pixels, already a crop) is never refused for it.

    Example:
        >>> from asl_recog.data._hands import HandBox
        >>> answer = {"result": [3, 0], "letters": ["D", "A"], "reasons": [None, None]}
        >>> add_hands(answer, [HandBox(40, 10, 120, 120, 0.97), None], refuse_missing=True)["hand"]
        [{'x': 40, 'y': 10, 'width': 120, 'height': 120, 'score': 0.97}, None]
        >>> answer["letters"], answer["result"], answer["reasons"]
        (['D', 'unknown'], [3, None], [None, 'no_hand'])
    """
    answer["hand"] = [hand_entry(box) for box in hands]
    if refuse_missing:
        reasons = answer.setdefault("reasons", [None] * len(hands))
        for i, box in enumerate(hands):
            if box is None and (searched is None or searched[i]):
                answer["letters"][i], answer["result"][i], reasons[i] = UNKNOWN, None, NO_HAND
    return answer
