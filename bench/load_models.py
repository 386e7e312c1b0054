"""The two fixed models of the batch-load benchmark (bench_hardening_load.py --batch-load), built with the
library's own functions, as the AutoML and HyperDrive routes build them.

* ``knn``: HOG features, PCA(80) and 5 nearest neighbours over every augmented training row
  (27,455 images and one shifted and rotated copy of each: 54,910 stored rows). Among the
  KNNs the AutoML search can produce (n_components 30-80) this is the largest, and it stores
  the most rows, which is what its memory per image grows with (one float32 distance per
  stored row, in a few tensors); its ONNX graph is 18 MB, within the 100 MB model budget.
* ``cnn``: the default HyperDrive CNN (builder ``"default"`` with its default layer sizes,
  32 filters and 128 hidden units), trained for one epoch on 6,000 training images: its
  memory per image depends on its layers, not on how well it was trained.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import asl_recog as asl
from asl_recog.data._augment import augment
from asl_recog.data._labels import labels_to_indices
from asl_recog.models._export import export_onnx
from asl_recog.routes.automl._portfolio import build_pipeline


def build_knn(folder: Path) -> Path:
    """HOG + PCA(80) + KNN(5) on all 54,910 augmented training rows, exported to ONNX (about 20 s)."""
    train = asl.load_sign_mnist("train")
    images, labels = augment(train.images, train.labels, copies=1, seed=0)  # as the AutoML refit does
    x = images.reshape(len(images), -1).astype(np.float32) / 255.0
    params = {"n_components": 80, "n_neighbors": 5, "featurizer": "hog"}
    estimator = build_pipeline("KNN", params).fit(x, labels_to_indices(labels))
    path = folder / "knn.onnx"
    export_onnx(asl.SklearnModel(estimator, params, {"algorithm": "KNN", "stored_rows": len(x)}), path)
    return path


def build_cnn(folder: Path) -> Path:
    """The default HyperDrive CNN, one trial of one epoch on 6,000 training images, exported to ONNX."""
    trainer = asl.HyperDriveTrainer(
        builder="default", max_total_runs=1, fixed_params={"filters": 32, "hidden": 128, "epochs": 1},
        refit=False, progress=False,
        run_dir=folder / "hyperdrive",
    )  # fmt: skip
    result = trainer.fit(asl.load_sign_mnist("train")[:6000])
    path = folder / "cnn.onnx"
    export_onnx(result.best_model, path)
    return path


BUILDERS = {"knn": build_knn, "cnn": build_cnn}
