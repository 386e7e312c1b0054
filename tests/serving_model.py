"""A small real sign classifier for the serving and deployment tests, trained once per test session
(the ``serving_model_path`` fixture in conftest.py).

PCA(40) + logistic regression on the real ``small_split`` training images
(2,400 images, a few seconds), exported to ONNX with ``asl_recog.export_onnx``.
It is right on about 60% of the real test set and on most of the seed's rows 1..9.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import asl_recog as asl
from asl_recog.data._labels import labels_to_indices

PIXELS = [f"pixel{i}" for i in range(1, 785)]
#: The API key of the ``keyed_client`` fixture (conftest.py), and the header that sends it.
KEY = "test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}


def train_onnx(small_split: tuple[asl.SignMnistDataset, asl.SignMnistDataset], folder: Path) -> Path:
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from asl_recog.models._export import export_onnx

    fit_part, validation = small_split
    estimator = make_pipeline(PCA(40, random_state=0), StandardScaler(), LogisticRegression(max_iter=500))
    estimator.fit(fit_part.flat, labels_to_indices(fit_part.labels))
    model = asl.SklearnModel(estimator, params={"pca": 40}, info={"algorithm": "PCA+LogisticRegression"})
    path = folder / "model.onnx"
    export_onnx(model, path, parity_data=validation[:64])
    return path


def seed_request(test_data: asl.SignMnistDataset) -> dict:
    """The seed notebook's request: ``test_df.iloc[1:10]`` without the label, as pixel records."""
    frame = test_data.to_frame().iloc[1:10].drop(columns=["label"])
    return {"data": frame.to_dict(orient="records")}


def rows(images: np.ndarray) -> list[list[int]]:
    """Images as lists of 784 pixel values."""
    return np.asarray(images).reshape(len(images), 784).tolist()


def dumps(payload: object) -> bytes:
    return json.dumps(payload).encode()


def with_threshold(model_path: Path, value: str, folder: Path) -> Path:
    """A copy of the model re-exported with an "unknown" threshold in its metadata (as export sets it)."""
    from asl_recog.models._export import export_onnx

    path = folder / f"model-threshold-{value}.onnx"
    export_onnx(asl.OnnxModel.load(model_path), path, metadata={"asl_recog.unknown_threshold": value})
    return path
