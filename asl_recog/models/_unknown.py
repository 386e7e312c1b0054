"""The "unknown" threshold: below it, the service answers "unknown" instead of a letter.

A classifier of 24 letters names a letter for anything it is shown: a blank wall, a
face, a digit. Its highest probability is the only signal it has that the image is
unlike its training data. The threshold on that probability is chosen **at export**,
from two samples the exported model's training never saw:

* **in-distribution**: the selected trial's predictions on the grouped validation
  split, made *before* the refit (the refit model trained on those images, so its
  own validation probabilities would be in-sample and overconfident);
* **out-of-distribution** (:func:`ood_images`): blank and uniform images, pixel
  noise and smoothed noise, random scribbles, and scikit-learn's bundled
  ``load_digits`` upscaled to 28x28, all made offline and reproducibly.

The rule (:func:`threshold_rule`): among thresholds that refuse at most ``max_refused``
(default 5 %) of the validation images the model answers *correctly*, take the one
that maximises Youden's J = (share of correct validation answers kept) - (share of
out-of-distribution images kept); ties go to the lowest threshold. The threshold is
placed halfway between the chosen probability and the next lower one seen, so it
does not sit on a sample. It is stored in the ONNX metadata under
:data:`UNKNOWN_THRESHOLD_KEY` (``asl_recog.unknown_threshold``) as a decimal.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from asl_recog._errors import ConfigurationError
from asl_recog.data._dataset import SignMnistDataset
from asl_recog.data._labels import IMAGE_SIZE, labels_to_indices
from asl_recog.data._photos import background_crops
from asl_recog.models._base import Model

logger = logging.getLogger("asl_recog")

#: The ONNX metadata key the service reads its default "unknown" threshold from.
UNKNOWN_THRESHOLD_KEY = "asl_recog.unknown_threshold"
#: Where the figures behind the threshold are stored beside it (JSON).
UNKNOWN_STATS_KEY = "asl_recog.unknown_threshold_stats"
OOD_KINDS = ("blank", "noise", "scribbles", "digits", "photos")


def ood_images(per_kind: int = 200, seed: int = 0) -> dict[str, np.ndarray]:
    """Out-of-distribution 28x28 uint8 images, ``per_kind`` of each kind, made offline.

    * ``blank``: uniform images, black to white;
    * ``noise``: pixel noise, half of it smoothed into blobs (closer to a blurred background);
    * ``scribbles``: 1-6 random strokes on a uniform background;
    * ``digits``: scikit-learn's bundled handwritten digits (8x8) upscaled, half of them inverted;
    * ``photos``: crops of real photos with no hand, from the *training* half of the photo pool
      (:mod:`asl_recog.data._photos`); the benchmark half measures the threshold instead.

    Example:
        >>> images = ood_images(per_kind=4)
        >>> {kind: batch.shape for kind, batch in images.items()}["digits"]
        (4, 28, 28)
    """
    from PIL import Image, ImageDraw, ImageFilter
    from sklearn.datasets import load_digits

    rng = np.random.default_rng(seed)
    size = (per_kind, IMAGE_SIZE, IMAGE_SIZE)
    blank = np.broadcast_to(rng.integers(0, 256, (per_kind, 1, 1)), size).astype(np.uint8)
    noise = rng.integers(0, 256, size).astype(np.uint8)
    for i in range(0, per_kind, 2):
        blurred = Image.fromarray(noise[i]).filter(ImageFilter.GaussianBlur(float(rng.uniform(1.0, 3.0))))
        noise[i] = np.asarray(_stretch(np.asarray(blurred)))
    scribbles = np.empty(size, dtype=np.uint8)
    for i in range(per_kind):
        canvas = Image.new("L", (IMAGE_SIZE, IMAGE_SIZE), int(rng.integers(0, 256)))
        draw = ImageDraw.Draw(canvas)
        for _ in range(int(rng.integers(1, 7))):
            points = [tuple(int(v) for v in rng.integers(0, IMAGE_SIZE, 2)) for _ in range(int(rng.integers(2, 6)))]
            draw.line(points, fill=int(rng.integers(0, 256)), width=int(rng.integers(1, 4)))
        scribbles[i] = np.asarray(canvas)
    digits_8x8 = load_digits().images  # values 0-16, bright strokes on black
    chosen = rng.choice(len(digits_8x8), per_kind, replace=False)
    digits = np.empty(size, dtype=np.uint8)
    for k, i in enumerate(chosen):
        small = Image.fromarray((digits_8x8[i] * (255 / 16)).astype(np.uint8))
        big = np.asarray(small.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR))
        digits[k] = 255 - big if k % 2 else big
    photos = background_crops("train", per_kind, seed)
    return {"blank": blank, "noise": noise, "scribbles": scribbles, "digits": digits, "photos": photos}


def _stretch(image: np.ndarray) -> np.ndarray:
    low, high = float(image.min()), float(image.max())
    return ((image - low) * (255 / max(high - low, 1.0))).astype(np.uint8)


def threshold_rule(known: np.ndarray, unknown: np.ndarray, *, max_refused: float = 0.05) -> float:
    """The threshold on the highest probability that best separates ``known`` from ``unknown``.

    Args:
        known: highest probabilities of images that should be answered (correct validation answers).
        unknown: highest probabilities of images that should be refused (out-of-distribution).
        max_refused: the largest share of ``known`` the threshold may refuse.

    Returns:
        The threshold ``t`` (an image is answered when its highest probability is ``>= t``);
        0.0 when no threshold within ``max_refused`` refuses any out-of-distribution image.

    Example:
        >>> known, unknown = np.array([1.0, 1.0, 2 / 3, 1.0]), np.array([1 / 3, 2 / 3, 1 / 3])
        >>> threshold_rule(known, unknown)  # may refuse no correct answer at 5 %: between 1/3 and 2/3
        0.5
        >>> threshold_rule(known, unknown, max_refused=0.3)  # may refuse the 2/3 one: every OOD image refused
        0.8333
    """
    if not 0 <= max_refused < 1:
        raise ConfigurationError(f"max_refused must be in [0, 1), got {max_refused!r}")
    known, unknown = np.sort(np.asarray(known, dtype=np.float64)), np.sort(np.asarray(unknown, dtype=np.float64))
    if not len(known) or not len(unknown):
        raise ConfigurationError("the threshold needs both in-distribution and out-of-distribution probabilities")
    candidates = np.unique(np.concatenate([[0.0], known, unknown]))
    kept_known = 1 - np.searchsorted(known, candidates, side="left") / len(known)
    kept_unknown = 1 - np.searchsorted(unknown, candidates, side="left") / len(unknown)
    youden = np.where(kept_known >= 1 - max_refused - 1e-12, kept_known - kept_unknown, -np.inf)
    best = int(np.argmax(youden))  # the first maximum: the lowest threshold among ties
    if best == 0:
        return 0.0
    return float(round((candidates[best] + candidates[best - 1]) / 2, 4))


@dataclass(frozen=True)
class UnknownThreshold:
    """The chosen "unknown" threshold and the figures behind it.

    Attributes:
        threshold: answer "unknown" when an image's highest probability is below it.
        max_refused: the rule's bound on correct validation answers refused.
        validation_images: validation images predicted (by the model before refit).
        validation_accuracy: their accuracy.
        refused_correct: share of correctly answered validation images the threshold refuses.
        refused_wrong: share of wrongly answered validation images it refuses (good refusals).
        refused_ood: share of out-of-distribution images it refuses, by kind and ``"all"``.
        refused_held_out_photos: share of no-hand crops of the *benchmark* half of the photo
            pool it refuses: photos the threshold was not fitted on.

    Example:
        >>> unknown = choose_unknown_threshold(OnnxModel.load("runs/best.onnx"), validation)
        >>> 0 <= unknown.threshold <= 1, sorted(unknown.refused_ood)
        (True, ['all', 'blank', 'digits', 'noise', 'photos', 'scribbles'])
        >>> list(unknown.as_metadata())
        ['asl_recog.unknown_threshold', 'asl_recog.unknown_threshold_stats']
    """

    threshold: float
    max_refused: float
    validation_images: int
    validation_accuracy: float
    refused_correct: float
    refused_wrong: float
    refused_ood: dict[str, float] = field(default_factory=dict)
    refused_held_out_photos: float | None = None

    def as_metadata(self) -> dict[str, Any]:
        """Entries for ``export_onnx(metadata=...)``: the threshold and, beside it, how it was chosen."""
        stats = {
            "rule": "max Youden J (correct validation kept - OOD kept), refusing <= max_refused of correct answers",
            "max_refused": self.max_refused,
            "validation_images": self.validation_images,
            "validation_accuracy": round(self.validation_accuracy, 4),
            "refused_correct": round(self.refused_correct, 4),
            "refused_wrong": round(self.refused_wrong, 4),
            "refused_ood": {k: round(v, 4) for k, v in self.refused_ood.items()},
            "refused_held_out_photos": None
            if self.refused_held_out_photos is None
            else round(self.refused_held_out_photos, 4),
        }
        return {UNKNOWN_THRESHOLD_KEY: self.threshold, UNKNOWN_STATS_KEY: stats}


def choose_unknown_threshold(
    model: Model, validation: SignMnistDataset, *, max_refused: float = 0.05, per_kind: int = 200, seed: int = 0
) -> UnknownThreshold:
    """Choose the "unknown" threshold from ``model``'s validation predictions and :func:`ood_images`.

    Args:
        model: the model whose validation predictions are out-of-sample: the selected
            trial's, before any refit (``TrainingResult.trial_model``, else ``best_model``).
        validation: the labelled validation images that model was selected on.
        max_refused: the largest share of correct validation answers the threshold may refuse.
        per_kind: out-of-distribution images of each kind.
        seed: seed of the out-of-distribution images.
    """
    if len(validation) == 0:
        raise ConfigurationError("choose_unknown_threshold needs validation images; got an empty dataset")
    proba = np.asarray(model.predict_proba(validation.images), dtype=np.float64)
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == labels_to_indices(validation.labels)
    if not correct.any():
        raise ConfigurationError("the model answers no validation image correctly; no threshold can be chosen")
    ood = ood_images(per_kind, seed)
    ood_confidence = {kind: np.asarray(model.predict_proba(batch)).max(axis=1) for kind, batch in ood.items()}
    everything = np.concatenate(list(ood_confidence.values()))
    threshold = threshold_rule(confidence[correct], everything, max_refused=max_refused)
    refused = {kind: float(np.mean(c < threshold)) for kind, c in ood_confidence.items()}
    refused["all"] = float(np.mean(everything < threshold))
    held_out = np.asarray(model.predict_proba(background_crops("benchmark", per_kind, seed))).max(axis=1)
    return UnknownThreshold(
        threshold=threshold,
        max_refused=max_refused,
        validation_images=len(validation),
        validation_accuracy=float(correct.mean()),
        refused_correct=float(np.mean(confidence[correct] < threshold)),
        refused_wrong=float(np.mean(confidence[~correct] < threshold)) if (~correct).any() else 0.0,
        refused_ood=refused,
        refused_held_out_photos=float(np.mean(held_out < threshold)),
    )


def with_unknown_threshold(
    model: Model,
    metadata: dict[str, Any] | None,
    validation_data: SignMnistDataset | None,
    path: Any,
    *,
    scorer: Model | None = None,
) -> dict[str, Any] | None:
    """``metadata`` plus the "unknown" threshold chosen on ``validation_data``: what export embeds.

    ``scorer``: the model whose outputs the threshold is chosen on, when the file holds another
    graph than ``model`` (an int8 file: its own outputs); default ``model``.

    Raises:
        ConfigurationError: both ``metadata`` and ``validation_data`` give a threshold, or the
            model was refit on all images (its validation answers are in-sample).
    """
    given = dict(metadata or {})
    if validation_data is None:
        if UNKNOWN_THRESHOLD_KEY not in given:
            logger.info(
                "%s: no 'unknown' threshold (the service then answers every image); pass validation_data= "
                "(images the model was not trained on) to add one",
                path,
            )
        return metadata
    if UNKNOWN_THRESHOLD_KEY in given:
        raise ConfigurationError(
            f"export_onnx: metadata already holds {UNKNOWN_THRESHOLD_KEY}; pass it or validation_data, not both"
        )
    if model.info.get("refit_images"):
        raise ConfigurationError(
            f"export_onnx: this model was refit on all {model.info['refit_images']:,} images, validation "
            "included, so its validation answers are too sure to choose a threshold from; pass "
            "metadata=choose_unknown_threshold(result.trial_model, validation).as_metadata() instead"
        )
    unknown = choose_unknown_threshold(scorer or model, validation_data)
    logger.info(
        "%s: 'unknown' below %.3f (refuses %.1f%% of correct validation answers, %.1f%% of no-hand images)",
        path,
        unknown.threshold,
        100 * unknown.refused_correct,
        100 * unknown.refused_ood["all"],
    )
    return {**given, **unknown.as_metadata()}


__all__ = [
    "OOD_KINDS",
    "UNKNOWN_STATS_KEY",
    "UNKNOWN_THRESHOLD_KEY",
    "UnknownThreshold",
    "choose_unknown_threshold",
    "ood_images",
    "threshold_rule",
    "with_unknown_threshold",
]
