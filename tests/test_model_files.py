"""Model files never run code: .aslskl (skops with trusted types), .keras (safe mode), serving (ONNX only)."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import asl_recog as asl
from asl_recog._labels import labels_to_indices
from asl_recog.serve.__main__ import main as serve_main

#: The magic lines of the pickle format (asl_recog 0.1) and of the skops format.
_LEGACY_MAGIC, _SKLEARN_MAGIC = b"ASL-RECOG-SKLEARN\x00v1\n", b"ASL-RECOG-SKLEARN\x00v2\n"


class _Payload:
    """Unpickling this calls ``os.system``: what a hostile model file would carry."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return os.system, (f"touch {self.marker}",)


def _halve(x: np.ndarray) -> np.ndarray:
    """A user's own function inside an estimator: trusted only when named."""
    return x / 2


def _container(magic: bytes, payload: bytes) -> bytes:
    """An .aslskl file around ``payload`` with a correct, recomputed checksum: integrity proves no origin."""
    header = json.dumps({"sha256": hashlib.sha256(payload).hexdigest(), "params": {}, "info": {}}).encode()
    return magic + len(header).to_bytes(8, "big") + header + payload


@pytest.mark.parametrize("magic", [_LEGACY_MAGIC, _SKLEARN_MAGIC], ids=["v1_pickle_format", "v2_magic"])
def test_pickle_in_an_aslskl_file_never_runs(tmp_path: Path, magic: bytes) -> None:
    """Defect 1: a model file with the right magic, a valid checksum and a pickle payload ran the payload."""
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.aslskl"
    evil.write_bytes(_container(magic, pickle.dumps(_Payload(marker))))
    with pytest.raises(asl.ModelFileError, match="evil.aslskl") as info:
        asl.Model.load(evil)
    assert not marker.exists(), "loading the model file ran code from it"
    if magic == _LEGACY_MAGIC:
        assert "pickle" in str(info.value) and "Fix:" in str(info.value)


def test_untrusted_types_in_a_skops_payload_are_refused(tmp_path: Path) -> None:
    import skops.io
    from sklearn.preprocessing import FunctionTransformer

    marker = tmp_path / "pwned"
    evil = tmp_path / "func.aslskl"
    evil.write_bytes(_container(_SKLEARN_MAGIC, skops.io.dumps(FunctionTransformer(os.system))))
    with pytest.raises(asl.ModelFileError, match="does not trust.*system"):
        asl.SklearnModel.load(evil)
    assert not marker.exists()


def test_sklearn_models_round_trip_with_the_trusted_types(small_split: Any, tmp_path: Path) -> None:
    """The portfolio's private helper types (calibration, trees) load; predictions survive unchanged."""
    from asl_recog._model import TRUSTED_TYPES

    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    fit_part, validation = small_split
    x, y = fit_part.flat[::4], labels_to_indices(fit_part.labels[::4])
    estimators = [make_pipeline(StandardScaler(), CalibratedClassifierCV(LinearSVC(max_iter=200), cv=2)),
                  RandomForestClassifier(n_estimators=5, random_state=0)]
    for i, estimator in enumerate(estimators):
        model = asl.SklearnModel(estimator.fit(x, y), params={"i": i}, info={"validation_score": 0.5})
        path = model.save(tmp_path / f"model{i}")
        assert path.suffix == ".aslskl" and path.read_bytes().startswith(_SKLEARN_MAGIC)
        loaded = asl.Model.load(path)
        assert isinstance(loaded, asl.SklearnModel) and loaded.params == {"i": i}
        np.testing.assert_array_equal(loaded.predict_proba(validation[:50]), model.predict_proba(validation[:50]))
    assert all(name.startswith("sklearn.") for name in TRUSTED_TYPES)


def test_a_users_own_type_loads_only_when_named(tmp_path: Path) -> None:
    from sklearn.preprocessing import FunctionTransformer

    path = asl.SklearnModel(FunctionTransformer(_halve)).save(tmp_path / "custom.aslskl")
    with pytest.raises(asl.ModelFileError, match=r"_halve.*SklearnModel.load\(path, trusted="):
        asl.SklearnModel.load(path)
    assert asl.SklearnModel.load(path, trusted=[f"{__name__}._halve"]).estimator.func is _halve


def test_tampered_and_foreign_aslskl_files(tmp_path: Path) -> None:
    good = asl.SklearnModel({"not": "an estimator"}).save(tmp_path / "dict.aslskl")
    blob = bytearray(good.read_bytes())
    blob[-5] ^= 0xFF
    (tmp_path / "tampered.aslskl").write_bytes(bytes(blob))
    with pytest.raises(asl.ModelFileError, match="checksum mismatch"):
        asl.Model.load(tmp_path / "tampered.aslskl")
    (tmp_path / "foreign.aslskl").write_bytes(b"PK\x03\x04 something else")
    with pytest.raises(asl.ModelFileError, match="bad magic bytes"):
        asl.Model.load(tmp_path / "foreign.aslskl")
    (tmp_path / "badzip.aslskl").write_bytes(_container(_SKLEARN_MAGIC, b"not a zip"))
    with pytest.raises(asl.ModelFileError, match="skops payload is unreadable"):
        asl.Model.load(tmp_path / "badzip.aslskl")


def test_serve_refuses_model_files_other_than_onnx(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``asl-recog serve evil.aslskl`` ran the pickle inside; serving now takes ONNX files only."""
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.aslskl"
    evil.write_bytes(_container(_LEGACY_MAGIC, pickle.dumps(_Payload(marker))))
    for path in (evil, tmp_path / "net.keras"):
        path.touch()
        assert serve_main([str(path), "--no-auth"]) == 2
        err = capsys.readouterr().err
        assert path.name in err and "asl-recog export" in err and ".onnx" in err
    assert not marker.exists()


def test_keras_files_load_only_in_safe_mode_on_a_fixed_keras(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    from asl_recog._model import _version_tuple

    marker = tmp_path / "pwned"
    inputs = keras.Input((28, 28, 1))
    outputs = keras.layers.Lambda(lambda x: x * 2.0)(keras.layers.Flatten()(inputs))
    network = keras.Model(inputs, keras.layers.Dense(24, activation="softmax")(outputs))
    path = asl.KerasModel(network).save(tmp_path / "lambda.keras")
    with pytest.raises(asl.ModelFileError, match="lambda.keras: not a loadable .keras model.*safe_mode"):
        asl.Model.load(path)
    assert not marker.exists()

    monkeypatch.setattr(keras, "__version__", "3.10.0")
    with pytest.raises(asl.ModelFileError, match=r"Keras 3.10.0 cannot load .keras files safely.*keras>=3.11"):
        asl.Model.load(path)
    assert _version_tuple("3.11.2rc1") == (3, 11, 2) and _version_tuple("3.9") < (3, 11)
