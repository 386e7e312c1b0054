"""The HOG + SVM anchor: the published, untuned baseline the AutoML route must beat.

HOG features (9 orientations, 4x4-pixel cells, 2x2-cell blocks, L2-Hys) and a default
RBF ``SVC``, trained on the whole training file and scored on ``sign_mnist_test.csv``.
The published figure is 0.9518 with scikit-image's ``hog``. Two rows are printed:

- ``skimage``: scikit-image's HOG, exactly as published (skipped when scikit-image
  is not installed: ``pip install scikit-image``; it is not a dependency of asl_recog);
- ``asl_recog``: :class:`asl_recog.models._hog.HogFeaturizer`, the ONNX-exportable HOG
  (orientation binning by projection instead of hard bins), with the same default SVC.

Usage: python bench/bench_anchor.py [--featurizer both|asl_recog|skimage]
Takes about 90 s per row on 2 cores (16 s of features, 71 s of fitting for skimage's).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np

import asl_recog as asl
from asl_recog.data._labels import labels_to_indices
from asl_recog.models._hog import HogFeaturizer

ANCHOR = 0.9518


def skimage_hog() -> Callable[[np.ndarray], np.ndarray] | None:
    try:
        from skimage.feature import hog
    except ImportError:
        return None

    def features(flat: np.ndarray) -> np.ndarray:
        images = flat.reshape(-1, 28, 28)
        options = {"orientations": 9, "pixels_per_cell": (4, 4), "cells_per_block": (2, 2), "block_norm": "L2-Hys"}
        return np.stack([hog(image, **options) for image in images])

    return features


def run(name: str, featurize: Callable[[np.ndarray], np.ndarray]) -> None:
    from sklearn.svm import SVC

    train, test = asl.load_sign_mnist("train"), asl.load_sign_mnist("test")  # the test file: scored once, below
    start = time.perf_counter()
    x, x_test = featurize(train.flat), featurize(test.flat)
    feature_s = time.perf_counter() - start
    start = time.perf_counter()
    model = SVC().fit(x, labels_to_indices(train.labels))  # default RBF SVC, as published
    fit_s = time.perf_counter() - start
    accuracy = float((model.predict(x_test) == labels_to_indices(test.labels)).mean())
    print(
        f"| HOG ({name}) + SVC() | {accuracy:.4f} | {ANCHOR} | {feature_s:.0f} s | {fit_s:.0f} s "
        f"| {len(model.support_)} | {os.cpu_count()} |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--featurizer", choices=["both", "asl_recog", "skimage"], default="both")
    args = parser.parse_args()
    print("| pipeline | test accuracy | published | features | fit | support vectors | cores |")
    print("|---|---|---|---|---|---|---|")
    if args.featurizer in ("both", "skimage"):
        features = skimage_hog()
        if features is None:
            print("| HOG (skimage) + SVC() | not run: scikit-image is not installed | | | | | |")
        else:
            run("skimage", features)
    if args.featurizer in ("both", "asl_recog"):
        run("asl_recog", HogFeaturizer().transform)


if __name__ == "__main__":
    main()
