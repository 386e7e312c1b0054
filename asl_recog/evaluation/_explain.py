"""Why a model answered what it did for one image: occlusion sensitivity.

A grey square is slid over the 28x28 image; every occluded copy is scored with the model's
``predict_proba`` (in batches), and each pixel gets the mean drop in the answered letter's
probability over the squares that covered it (``models._occlusion``, which the scoring
service's ``POST /explain`` runs too). Only ``predict_proba`` is used, so this works for
every model (scikit-learn, Keras, ONNX) without gradients, at the cost of one batch of
``((28 - patch) / stride + 1) ** 2`` predictions (169 for the defaults).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from asl_recog._errors import ConfigurationError, DataFormatError
from asl_recog.data._labels import LETTERS
from asl_recog.models._base import Model, to_model_input
from asl_recog.models._occlusion import check_occlusion, occlusion_map


@dataclass
class Explanation:
    """Occlusion sensitivity of one prediction.

    Attributes:
        image: the 28x28 image explained, floats in 0..1 (a photo already cropped and shrunk).
        heatmap: 28x28: the mean drop in ``letter``'s probability when a square covering the
            pixel was greyed out. Positive: the pixel supports the answer; negative: hiding it
            makes the answer likelier.
        letter: the letter explained (the model's answer unless another was asked for).
        probability: the model's probability of ``letter`` on the whole image.
        patch: the occluding square's side, in pixels.
        stride: the step between squares, in pixels.

    Example:
        >>> model = Model.load("runs/best.onnx")
        >>> explanation = explain(model, test.images[0])
        >>> explanation.heatmap.shape, explanation.letter == model.predict_letters(test.images[:1])[0]
        ((28, 28), True)
        >>> explanation.plot()  # a matplotlib Figure: the image, and the map over it
        <Figure size 650x330 with 3 Axes>
    """

    image: np.ndarray
    heatmap: np.ndarray
    letter: str
    probability: float
    patch: int
    stride: int

    def plot(self) -> Any:
        """The image beside the sensitivity map drawn over it, as a matplotlib ``Figure`` (not shown or saved)."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6.5, 3.3))
        left, right = fig.subplots(1, 2)
        left.imshow(self.image, cmap="gray", vmin=0, vmax=1)
        left.set_title(f"answer {self.letter} ({self.probability:.2f})")
        right.imshow(self.image, cmap="gray", vmin=0, vmax=1)
        # A symmetric scale: red where covering the pixel lowers the answer's probability, blue where it raises it.
        limit = max(float(np.abs(self.heatmap).max()), 1e-6)
        overlay = right.imshow(self.heatmap, cmap="RdBu_r", vmin=-limit, vmax=limit, alpha=0.6)
        right.set_title(f"what {self.letter} rests on ({self.patch}px squares)")
        for ax in (left, right):
            ax.set_axis_off()
        fig.colorbar(overlay, ax=right, fraction=0.046, label="probability drop when covered")
        fig.tight_layout()
        return fig

    def __repr__(self) -> str:
        return (
            f"Explanation(letter={self.letter!r}, probability={self.probability:.4f}, "
            f"patch={self.patch}, stride={self.stride})"
        )


def explain(
    model: Model,
    image: Any,
    *,
    letter: str | None = None,
    patch: int = 4,
    stride: int = 2,
    fill: float = 0.5,
    batch_size: int = 256,
) -> Explanation:
    """Explain ``model``'s answer for one image by occlusion sensitivity.

    Args:
        model: any model (``Model.load`` of a ``.keras``, ``.aslskl`` or ``.onnx`` file).
        image: one image: 28x28 pixels (0..255 integers or 0..1 floats), or a photo (a path,
            PIL image or colour array), read as the scoring service reads an upload.
        letter: the letter whose probability is explained (default: the model's answer).
        patch: side of the grey square, in pixels (2-14).
        stride: step between squares, in pixels (1 to ``patch``).
        fill: the square's grey level, 0..1 (0.5: mid grey).
        batch_size: occluded copies scored per ``predict_proba`` call.

    Raises:
        ConfigurationError: an unknown letter, or a patch/stride/fill out of range.
        DataFormatError: ``image`` is not one image.

    Example:
        >>> explain(Model.load("runs/best.onnx"), test.images[0], patch=6, stride=3)
        Explanation(letter=..., probability=..., patch=6, stride=3)
    """
    check_occlusion(patch, stride, fill)
    if letter is not None and letter.upper() not in LETTERS:
        raise ConfigurationError(f"letter {letter!r}: give one of {''.join(LETTERS)}")
    pixels = to_model_input(image)
    if pixels.shape[0] != 1:
        raise DataFormatError(f"explain takes one image, got {pixels.shape[0]}", source="image")
    base = pixels[0, :, :, 0]
    target = None if letter is None else LETTERS.index(letter.upper())
    heatmap, target, probability = occlusion_map(
        model.predict_proba, base, target, patch=patch, stride=stride, fill=fill, batch_size=batch_size
    )
    return Explanation(
        image=base.copy(),
        heatmap=heatmap,
        letter=LETTERS[target],
        probability=probability,
        patch=patch,
        stride=stride,
    )


__all__ = ["Explanation", "explain"]
