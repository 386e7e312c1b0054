"""What the model can and cannot do off the dataset: test accuracy under stated shifts.

Sign Language MNIST holds centred 28x28 crops of a hand filling the frame. A real
photo is rarely that: the hand sits off-centre, smaller or larger, tilted, in front
of another background, under other light. No real photo set exists offline, so this
script applies each of those changes to the real test images and measures, per
change: accuracy, the mean highest probability, and the share of images the model's
"unknown" threshold (ONNX metadata ``asl_recog.unknown_threshold``) would refuse,
with the accuracy on the images it still answers.

Changes (all on the 28x28 test images, edges filled with each image's border median):
shifts right by 2/4/6 px and diagonally by 4 px; scales 0.7/0.85/1.15/1.3 about the
centre; rotations 10/20/30 degrees; backgrounds: the image shrunk to 75 % on a frame
of pixel noise, of black and of white; light: brightness x0.6, contrast x0.5,
Gaussian pixel noise sigma 25, Gaussian blur radius 1.

Usage:
    python bench/bench_shift.py --model runs/<run>/best.onnx [--limit 7172] [--out bench/results/shift.md]
    python bench/bench_shift.py --tiny --limit 240      # a tiny model, a smoke run of a few seconds
Prints a Markdown table (and writes it to ``--out``). Deterministic (seeded); no timing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

import asl_recog as asl
from asl_recog.data._labels import labels_to_indices
from asl_recog.models._unknown import UNKNOWN_THRESHOLD_KEY

Change = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _per_image(function: Callable[[Image.Image, int], Image.Image]) -> Change:
    """Apply a PIL operation to each image, filling new edges with the image's border median."""

    def apply(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = np.empty_like(images)
        for i, image in enumerate(images):
            border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
            out[i] = np.asarray(function(Image.fromarray(image), int(np.median(border))))
        return out

    return apply


def _shift(dx: int, dy: int) -> Change:
    return _per_image(
        lambda im, fill: im.transform(im.size, Image.Transform.AFFINE, (1, 0, -dx, 0, 1, -dy), fillcolor=fill)
    )


def _scale(factor: float) -> Change:
    def scale(im: Image.Image, fill: int) -> Image.Image:
        size = max(1, round(28 * factor))
        resized = im.resize((size, size), Image.Resampling.BILINEAR)
        canvas = Image.new("L", (28, 28), fill)
        offset = (28 - size) // 2
        if size <= 28:
            canvas.paste(resized, (offset, offset))
            return canvas
        return resized.crop((-offset, -offset, -offset + 28, -offset + 28))

    return _per_image(scale)


def _rotate(degrees: float) -> Change:
    return _per_image(lambda im, fill: im.rotate(degrees, Image.Resampling.BILINEAR, fillcolor=fill))


def _framed(background: str) -> Change:
    def frame(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = np.empty_like(images)
        for i, image in enumerate(images):
            if background == "noise":
                canvas = Image.fromarray(rng.integers(0, 256, (28, 28)).astype(np.uint8))
            else:
                canvas = Image.new("L", (28, 28), 0 if background == "black" else 255)
            canvas.paste(Image.fromarray(image).resize((21, 21), Image.Resampling.BILINEAR), (4, 4))
            out[i] = np.asarray(canvas)
        return out

    return frame


def _light(kind: str, amount: float) -> Change:
    def light(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        x = images.astype(np.float64)
        if kind == "brightness":
            x = x * amount
        elif kind == "contrast":
            x = (x - x.mean(axis=(1, 2), keepdims=True)) * amount + x.mean(axis=(1, 2), keepdims=True)
        else:  # noise
            x = x + rng.normal(0, amount, x.shape)
        return np.clip(np.rint(x), 0, 255).astype(np.uint8)

    return light


CHANGES: dict[str, Change] = {
    "none (the test set as is)": lambda images, rng: images,
    "shift 2 px right": _shift(2, 0),
    "shift 4 px right": _shift(4, 0),
    "shift 6 px right": _shift(6, 0),
    "shift 4 px right and down": _shift(4, 4),
    "scale 0.70": _scale(0.70),
    "scale 0.85": _scale(0.85),
    "scale 1.15": _scale(1.15),
    "scale 1.30": _scale(1.30),
    "rotate 10 deg": _rotate(10),
    "rotate 20 deg": _rotate(20),
    "rotate 30 deg": _rotate(30),
    "background: noise frame (hand at 75 %)": _framed("noise"),
    "background: black frame (hand at 75 %)": _framed("black"),
    "background: white frame (hand at 75 %)": _framed("white"),
    "brightness x0.6": _light("brightness", 0.6),
    "contrast x0.5": _light("contrast", 0.5),
    "pixel noise sigma 25": _light("noise", 25),
    "blur radius 1": _per_image(lambda im, fill: im.filter(ImageFilter.GaussianBlur(1))),
}


def measure(
    model: asl.Model, test: asl.SignMnistDataset, threshold: float | None, seed: int = 0
) -> list[dict[str, Any]]:
    """One row per change: accuracy, mean highest probability, refused share and accuracy on the rest."""
    truth = labels_to_indices(test.labels)
    rows = []
    for name, change in CHANGES.items():
        images = change(test.images, np.random.default_rng(seed))
        proba = np.asarray(model.predict_proba(images))
        confidence, right = proba.max(axis=1), proba.argmax(axis=1) == truth
        row: dict[str, Any] = {"change": name, "accuracy": float(right.mean()), "confidence": float(confidence.mean())}
        if threshold is not None:
            answered = confidence >= threshold
            row["unknown"] = float(1 - answered.mean())
            row["accuracy_answered"] = float(right[answered].mean()) if answered.any() else float("nan")
        rows.append(row)
    return rows


def table(rows: list[dict[str, Any]], threshold: float | None) -> str:
    head = "| change | accuracy | mean top probability |"
    rule = "|---|---:|---:|"
    if threshold is not None:
        head += f" 'unknown' (< {threshold:g}) | accuracy when answered |"
        rule += "---:|---:|"
    lines = [head, rule]
    for r in rows:
        line = f"| {r['change']} | {r['accuracy']:.3f} | {r['confidence']:.3f} |"
        if threshold is not None:
            line += f" {r['unknown']:.1%} | {r['accuracy_answered']:.3f} |"
        lines.append(line)
    return "\n".join(lines)


def tiny_model() -> asl.Model:
    """A small real model (PCA + logistic regression on 2,400 grouped-split training images), for smoke runs."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    fit_part, _ = asl.train_validation_split(asl.load_sign_mnist("train"), seed=0)
    fit_part = fit_part[:: max(1, len(fit_part) // 2400)]
    estimator = make_pipeline(PCA(30, random_state=0), LogisticRegression(max_iter=300))
    return asl.SklearnModel(estimator.fit(fit_part.flat, labels_to_indices(fit_part.labels)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="an .onnx file (e.g. the best.onnx of 'asl-recog run')")
    source.add_argument("--tiny", action="store_true", help="train a tiny model first (a smoke run)")
    parser.add_argument("--limit", type=int, default=None, help="use the first N test images (default all 7,172)")
    parser.add_argument("--threshold", type=float, default=None, help="override the model's 'unknown' threshold")
    parser.add_argument("--out", default=None, help="also write the Markdown table here")
    args = parser.parse_args(argv)
    model = tiny_model() if args.tiny else asl.Model.load(args.model)
    threshold = args.threshold
    if threshold is None:
        threshold = getattr(model, "metadata", {}).get(UNKNOWN_THRESHOLD_KEY)
    test = asl.load_sign_mnist("test")
    if args.limit is not None:
        test = test[:: max(1, len(test) // args.limit)][: args.limit]
    text = (
        f"Model: {args.model or 'tiny (PCA + logistic regression, 2,400 images)'}; {len(test):,} test images.\n\n"
        + table(measure(model, test, threshold), threshold)
    )
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
