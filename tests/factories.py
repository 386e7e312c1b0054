"""Small real models the tests build in more than one place, built one way.

Each is trained on real images (the callers pass a slice of the real data) and is as small
as its test allows, so that building it costs a second or two.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import asl_recog as asl
from asl_recog.data._labels import labels_to_indices


def small_keras_bytes(folder: Path, data: asl.SignMnistDataset, *, hidden: int | None = None, seed: int = 0) -> bytes:
    """A small Keras network trained one epoch on ``data``, saved as ``folder/model.keras`` (what
    train_cnn leaves in a job's ``outputs/``); ``hidden`` adds a hidden layer of that width (and size)."""
    import keras

    keras.utils.set_random_seed(seed)
    layers = [keras.Input((28, 28, 1)), keras.layers.Flatten()]
    layers += [keras.layers.Dense(hidden, "relu")] if hidden else []
    net = keras.Sequential([*layers, keras.layers.Dense(24, "softmax")])
    net.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    net.fit(data.float_images, labels_to_indices(data.labels), epochs=1, verbose=0)
    folder.mkdir(parents=True, exist_ok=True)
    net.save(folder / "model.keras")
    return (folder / "model.keras").read_bytes()


def azure_automl_onnx(estimator: Any, data: asl.SignMnistDataset) -> tuple[bytes, Any]:
    """``estimator`` fitted on ``data`` and converted as Azure AutoML's models come: raw 0-255
    pixels in, the dataset's labels out, producer ``AutoML``. Returns the graph's bytes and the
    fitted estimator."""
    from skl2onnx import to_onnx

    x = data.flat * 255.0
    fitted = estimator.fit(x, data.labels)
    proto = to_onnx(fitted, x[:1].astype(np.float32), target_opset={"": 17, "ai.onnx.ml": 3})
    proto.producer_name = "AutoML"
    return proto.SerializeToString(), fitted


__all__ = ["azure_automl_onnx", "small_keras_bytes"]
