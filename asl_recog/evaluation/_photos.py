"""Real photos beside the test file: top-1 and top-3, per letter, and what "unknown" refused.

A photo set is a :class:`~asl_recog.data.SignMnistDataset` read from a folder of images in
letter sub-folders (``load_sign_mnist("test", path=folder)``), e.g. the Massey photos of five
people in ``../shared/datasets/massey-asl-photos``. Such a set measures how a model trained on
Sign Language MNIST transfers to other people's hands; it is for evaluation only, never for
training, tuning or selection.

A refused answer counts as wrong in top-1, as in the corruption suite. With a threshold, a
photo is refused as the scoring service refuses it: "no hand found" where the palm detector
found no hand in it (the folder's loader records which), else "not sure" where the top
probability is below the threshold. Top-3 ranks the 24 probabilities whatever the threshold
says, so it shows how close the model came.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from asl_recog._errors import DataFormatError
from asl_recog.data._dataset import SignMnistDataset
from asl_recog.data._labels import LETTERS, NUM_CLASSES, labels_to_indices
from asl_recog.models._base import Model


@dataclass(frozen=True)
class PhotoResult:
    """One model on one photo set.

    Attributes:
        name: the set's name (``"massey"``).
        source: where its images came from.
        n_images: how many photos.
        top1: share whose top answer is right and was given (a refusal is wrong).
        top3: share whose true letter is among the three most probable.
        answered: share not refused (1.0 without a threshold).
        no_hand: share in which no hand was found (read from the centre square; refused, and so
            counted wrong, when a threshold applies). 0.0 for data that was never searched.
        accuracy_answered: top-1 among the answered photos (NaN when none was answered).
        threshold: the "unknown" threshold applied, or None.
        per_letter: top-1 per true letter (letters present in the set only).
        confusion: 24 x 24 counts of (true letter, top answer), refusals included as their top answer.

    Example:
        >>> from asl_recog.evaluation._photos import evaluate_photos
        >>> result = evaluate_photos(asl.Model.load("runs/best.onnx"), test[:40], "sample")
        >>> 0 <= result.top1 <= result.top3 <= 1, result.n_images
        (True, 40)
    """

    name: str
    source: str
    n_images: int
    top1: float
    top3: float
    answered: float
    no_hand: float
    accuracy_answered: float
    threshold: float | None
    per_letter: pd.Series
    confusion: np.ndarray

    @property
    def top1_every_photo(self) -> float:
        """Top-1 had every photo been answered (no threshold): the confusion matrix's diagonal share.

        Equal to ``top1`` without a threshold; with one, it says what the refusals cost.
        """
        return float(np.trace(self.confusion) / self.n_images)

    def as_dict(self) -> dict[str, Any]:
        """The figures as plain JSON-ready values (``per_letter`` as letter -> top-1)."""
        return {
            "name": self.name,
            "source": self.source,
            "n_images": self.n_images,
            "top1": round(self.top1, 4),
            "top3": round(self.top3, 4),
            "top1_every_photo": round(self.top1_every_photo, 4),
            "answered": round(self.answered, 4),
            "no_hand": round(self.no_hand, 4),
            "accuracy_answered": None if math.isnan(self.accuracy_answered) else round(self.accuracy_answered, 4),
            "threshold": self.threshold,
            "per_letter": {k: round(float(v), 4) for k, v in self.per_letter.items()},
        }

    def __repr__(self) -> str:
        return (
            f"PhotoResult({self.name!r}, n_images={self.n_images}, top1={self.top1:.4f}, "
            f"top3={self.top3:.4f}, answered={self.answered:.4f})"
        )


def evaluate_photos(model: Model, data: SignMnistDataset, name: str, threshold: float | None = None) -> PhotoResult:
    """Score ``model`` on the photo set ``data``; answers below ``threshold`` are "unknown".

    Raises:
        DataFormatError: ``data`` is not a dataset, or it is empty.
    """
    if not isinstance(data, SignMnistDataset):
        raise DataFormatError(
            f"photo set {name!r} must be a SignMnistDataset, got {type(data).__name__}",
            source=name,
            fix="read the folder with load_sign_mnist('test', path=FOLDER) (letter sub-folders A/, B/, ...)",
        )
    if len(data) == 0:
        raise DataFormatError(f"photo set {name!r} is empty", source=data.source, fix="point at a folder with photos")
    from sklearn.metrics import confusion_matrix

    truth = labels_to_indices(data.labels)
    proba = np.asarray(model.predict_proba(data), dtype=np.float64)
    top = proba.argmax(axis=1)
    no_hand = data.no_hand if data.no_hand is not None else np.zeros(len(data), dtype=bool)
    answered = proba.max(axis=1) >= (threshold if threshold is not None else -math.inf)
    if threshold is not None:
        answered &= ~no_hand  # refused as the service refuses it: no hand, no guess
    right = (top == truth) & answered
    top3 = (np.argsort(-proba, axis=1)[:, :3] == truth[:, None]).any(axis=1)
    present = np.unique(truth)
    per_letter = pd.Series(
        [float(right[truth == k].mean()) for k in present], index=[LETTERS[k] for k in present], name=name
    )
    return PhotoResult(
        name=name,
        source=data.source,
        n_images=len(data),
        top1=float(right.mean()),
        top3=float(top3.mean()),
        answered=float(answered.mean()),
        no_hand=float(no_hand.mean()),
        accuracy_answered=float(right[answered].mean()) if answered.any() else math.nan,
        threshold=None if threshold is None else float(threshold),
        per_letter=per_letter,
        confusion=confusion_matrix(truth, top, labels=list(range(NUM_CLASSES))),
    )


def photos_frame(photos: dict[str, dict[str, PhotoResult]]) -> pd.DataFrame:
    """One row per (photo set, model): top-1, top-3, answered and accuracy on what was answered.

    Example:
        >>> from asl_recog.evaluation._photos import evaluate_photos
        >>> result = evaluate_photos(asl.Model.load("runs/best.onnx"), test[:40], "sample")
        >>> frame = photos_frame({"knn": {"sample": result}})
        >>> list(frame.columns)
        ['set', 'model', 'images', 'top1', 'top3', 'answered', 'no_hand', 'accuracy_answered']
    """
    rows = [
        {
            "set": r.name,
            "model": model,
            "images": r.n_images,
            "top1": r.top1,
            "top3": r.top3,
            "answered": r.answered,
            "no_hand": r.no_hand,
            "accuracy_answered": r.accuracy_answered,
        }
        for model, sets in photos.items()
        for r in sets.values()
    ]
    columns = ["set", "model", "images", "top1", "top3", "answered", "no_hand", "accuracy_answered"]
    return pd.DataFrame(rows, columns=columns)


__all__ = ["PhotoResult", "evaluate_photos", "photos_frame"]
