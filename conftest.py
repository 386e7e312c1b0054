"""Doctests of the package's docstring examples (``make doctest``: ``pytest --doctest-modules asl_recog``).

Each example runs in a fresh temporary working folder, so ``runs/`` and the other relative paths
an example writes land there. Without importing them, an example sees ``asl``, the public names
of ``asl_recog`` it mentions, and three tiny real datasets: ``train`` (300 images of the
training file), ``validation`` (100 others) and ``test`` (50 of the test file). An example that
names ``runs/best.onnx`` or ``runs/best.keras`` finds a small real model there, trained on
``train`` (a 3-nearest-neighbours classifier, a one-layer Keras network). Everything resolves
only when an example uses it, so a doctest of the search space does not import TensorFlow.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's start-up chatter would pollute doctest output

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# The Azure scoring script template is not a module of the package: it runs inside Azure's container,
# beside a copy of the request parser, so importing it here for its doctests would fail.
collect_ignore = ["asl_recog/deploy/_templates"]


@functools.cache
def _datasets() -> dict[str, Any]:
    import asl_recog as asl

    full = asl.load_sign_mnist("train")
    return {"train": full[:300], "validation": full[300:400], "test": asl.load_sign_mnist("test")[:50]}


@functools.cache
def _model_bytes(suffix: str) -> bytes:
    """A small real model of ``train``: a 3-nearest-neighbours classifier as ONNX, or a one-layer Keras network."""
    import tempfile

    import asl_recog as asl
    from asl_recog.data._labels import labels_to_indices

    train = _datasets()["train"]
    folder = Path(tempfile.mkdtemp(prefix="doctest-model-"))
    if suffix == ".onnx":
        from sklearn.neighbors import KNeighborsClassifier

        estimator = KNeighborsClassifier(3).fit(train.flat, labels_to_indices(train.labels))
        path = folder / "best.onnx"
        asl.export_onnx(asl.SklearnModel(estimator), path, parity_data=train[:32])
    else:
        import keras

        keras.utils.set_random_seed(0)
        net = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(24, "softmax")])
        net.compile("adam", "sparse_categorical_crossentropy")
        net.fit(train.float_images, labels_to_indices(train.labels), epochs=1, verbose=0)
        path = asl.KerasModel(net).save(folder / "best.keras")
    return Path(path).read_bytes()


@pytest.fixture(autouse=True)
def _doctest_setup(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not isinstance(request.node, pytest.DoctestItem):
        return
    import asl_recog

    monkeypatch.chdir(tmp_path)
    globs: dict[str, Any] = request.node.dtest.globs
    source = "\n".join(example.source for example in request.node.dtest.examples)
    used = set(_IDENTIFIER.findall(source))
    globs.setdefault("asl", asl_recog)
    for name in used & set(asl_recog.__all__):
        globs.setdefault(name, getattr(asl_recog, name))
    for name in used & {"train", "validation", "test"}:
        globs.setdefault(name, _datasets()[name])
    for suffix in (".onnx", ".keras"):
        if f"runs/best{suffix}" in source:
            (tmp_path / "runs").mkdir(exist_ok=True)
            (tmp_path / "runs" / f"best{suffix}").write_bytes(_model_bytes(suffix))
