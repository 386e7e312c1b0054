"""Model files never run code: .aslskl (skops with trusted types), .keras (safe mode), serving (ONNX only)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import asl_recog as asl
from asl_recog.data._labels import labels_to_indices
from asl_recog.serving.__main__ import main as serve_main

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
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    from asl_recog.models._base import TRUSTED_TYPES
    from asl_recog.routes.automl._portfolio import build_pipeline

    fit_part, validation = small_split
    x, y = fit_part.flat[::4], labels_to_indices(fit_part.labels[::4])
    estimators = [
        make_pipeline(StandardScaler(), CalibratedClassifierCV(LinearSVC(max_iter=200), cv=2)),
        RandomForestClassifier(n_estimators=5, random_state=0),
        build_pipeline("NystroemSVM", {"n_components": 20, "n_landmarks": 60, "featurizer": "hog"}),
    ]
    for i, estimator in enumerate(estimators):
        model = asl.SklearnModel(estimator.fit(x, y), params={"i": i}, info={"validation_score": 0.5})
        path = model.save(tmp_path / f"model{i}")
        assert path.suffix == ".aslskl" and path.read_bytes().startswith(_SKLEARN_MAGIC)
        loaded = asl.Model.load(path)
        assert isinstance(loaded, asl.SklearnModel) and loaded.params == {"i": i}
        # Equal up to float32 rounding: the Nystroem map's matrix products may sum in another order
        # on a restored array (its memory layout), 1e-6 apart; anything else would be a real change.
        np.testing.assert_allclose(
            loaded.predict_proba(validation[:50]), model.predict_proba(validation[:50]), rtol=0, atol=1e-5
        )
    # scikit-learn's own types, and this package's featurizer and ensembles: nothing else is trusted by default.
    assert all(name.startswith(("sklearn.", "asl_recog.")) for name in TRUSTED_TYPES)


def test_an_ensemble_file_holds_each_member_once(small_split: Any, tmp_path: Path) -> None:
    """skops writes a fitted forest again for every reference; an ensemble references each member three times."""
    from sklearn.base import clone
    from sklearn.ensemble import ExtraTreesClassifier

    from asl_recog.routes.automl._voting import soft_voting

    fit_part, validation = small_split
    x, y = fit_part.flat[::4], labels_to_indices(fit_part.labels[::4])
    trees = ExtraTreesClassifier(n_estimators=20, random_state=0).fit(x, y)
    alone = asl.SklearnModel(trees).save(tmp_path / "trees").stat().st_size
    ensemble = soft_voting([trees], [1])
    path = asl.SklearnModel(ensemble).save(tmp_path / "ensemble")
    assert path.stat().st_size < 1.2 * alone  # was 3x: estimators, estimators_ and named_estimators_
    assert ensemble.named_estimators_["model0"] is trees  # the live model is not changed by saving
    loaded = asl.Model.load(path).estimator
    assert loaded.named_estimators_["model0"] is loaded.estimators_[0]
    assert not hasattr(loaded.estimators[0][1], "estimators_")  # the parameter is an unfitted clone
    assert clone(loaded).get_params()["model0"].get_params() == trees.get_params()
    np.testing.assert_array_equal(
        loaded.predict_proba(validation.flat[:50]), ensemble.predict_proba(validation.flat[:50])
    )


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
    """``asl-recog serve evil.aslskl`` ran the pickle inside; the service and the deployers take ONNX files only."""
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.aslskl"
    evil.write_bytes(_container(_LEGACY_MAGIC, pickle.dumps(_Payload(marker))))
    for path in (evil, tmp_path / "net.keras"):
        path.touch()
        assert serve_main([str(path), "--no-auth"]) == 2
        err = capsys.readouterr().err
        assert path.name in err and "asl-recog export" in err and ".onnx" in err
        with pytest.raises(asl.ModelFileError, match=r"deployers load .onnx files only.*asl-recog export"):
            asl.LocalDeployer(run_dir=tmp_path / "deployments").deploy(path)
    assert not marker.exists()


def test_keras_files_load_only_in_safe_mode_on_a_fixed_keras(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    from asl_recog.models._base import _version_tuple

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


# -- ONNX files: self-contained, standard operators, an output that fits the metadata ---------------------


def _graph(columns: int, domain: str = "", classes: int | None = None) -> Any:
    """A tiny softmax classifier over (N, 784) rows whose output width (``columns``) shape inference cannot see.

    The softmax over 24 scores is sliced to a width computed from the input at run time, as a
    hand-edited or mis-exported graph may do. ``domain`` puts the softmax in that operator domain;
    ``classes`` writes that many class indices into the metadata, as asl_recog's exports do.
    """
    from onnx import TensorProto, helper, numpy_helper

    constants = [
        numpy_helper.from_array(np.full((784, 24), 0.01, np.float32), "weights"),
        numpy_helper.from_array(np.zeros(1, np.float32), "zero"),
        numpy_helper.from_array(np.array([columns], np.int64), "width"),
        numpy_helper.from_array(np.array([0], np.int64), "start"),
        numpy_helper.from_array(np.array([1], np.int64), "axis"),
        numpy_helper.from_array(np.array([1], np.int64), "one"),
    ]
    nodes = [
        helper.make_node("MatMul", ["pixels", "weights"], ["scores"]),
        helper.make_node("Softmax", ["scores"], ["all"], domain=domain, axis=-1),
        helper.make_node("Mul", ["pixels", "zero"], ["nothing"]),
        helper.make_node("ReduceSum", ["nothing"], ["total"], keepdims=0),
        helper.make_node("Cast", ["total"], ["offset"], to=TensorProto.INT64),
        helper.make_node("Reshape", ["offset", "one"], ["offset1"]),
        helper.make_node("Add", ["offset1", "width"], ["end"]),
        helper.make_node("Slice", ["all", "start", "end", "axis"], ["probabilities"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["N", 784])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", "C"])],
        constants,
    )
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    model = helper.make_model(graph, opset_imports=opsets, ir_version=8)
    if classes is not None:
        helper.set_model_props(model, {"classes": json.dumps(list(range(classes)))})
    return model


def test_an_onnx_output_that_does_not_fit_its_metadata_is_refused_at_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Defect 7: ten output columns while the metadata lists 24 classes passed the start-up check;
    /ready said ready and every /score answered 500."""
    from asl_recog.serving import create_app

    for name, model in (("ten.onnx", _graph(10)), ("ten_of_24.onnx", _graph(10, classes=24))):
        path = tmp_path / name
        path.write_bytes(model.SerializeToString())
        with pytest.raises(asl.ModelFileError, match=rf"{name}: output 'probabilities' has shape \(1, 10\).*24"):
            asl.OnnxModel.load(path)
        with pytest.raises(asl.ModelFileError, match=name):
            create_app(path, auth=False)
        assert serve_main([str(path), "--no-auth"]) == 2
        assert "has shape (1, 10)" in capsys.readouterr().err
    good = tmp_path / "good.onnx"
    good.write_bytes(_graph(24).SerializeToString())
    assert asl.OnnxModel.load(good).predict_proba(np.zeros((2, 784), np.uint8)).shape == (2, 24)


def test_a_model_object_with_the_wrong_output_is_refused_by_the_service() -> None:
    from asl_recog.serving import create_app

    class Ten(asl.Model):
        def predict_proba(self, images: Any) -> np.ndarray:
            return np.full((len(images), 10), 0.1, np.float32)

        def save(self, path: Any) -> Path:
            raise NotImplementedError

    with pytest.raises(asl.ModelFileError, match=r"start-up prediction has shape \(1, 10\); the service needs"):
        create_app(Ten(), auth=False)


def test_onnx_files_with_external_data_or_custom_operators_are_refused(tmp_path: Path) -> None:
    """Item 8: external data names a file onnxruntime would read; a custom domain needs native code."""
    from onnx.external_data_helper import set_external_data

    outside = _graph(24)
    weights = outside.graph.initializer[0]
    set_external_data(weights, location="../../../etc/passwd")
    weights.ClearField("raw_data")
    weights.ClearField("float_data")
    weights.data_location = weights.EXTERNAL
    (tmp_path / "outside.onnx").write_bytes(outside.SerializeToString())
    with pytest.raises(
        asl.ModelFileError,
        match=r"outside.onnx: tensor 'weights' keeps its data in an external "
        r"file \('../../../etc/passwd'\)",
    ):
        asl.Model.load(tmp_path / "outside.onnx")
    (tmp_path / "custom.onnx").write_bytes(_graph(24, domain="com.example.native").SerializeToString())
    with pytest.raises(
        asl.ModelFileError,
        match=r"custom.onnx: node 'Softmax' uses operator "
        r"com.example.native.Softmax from a custom domain",
    ):
        asl.Model.load(tmp_path / "custom.onnx")


def test_scoring_several_keras_models_prints_no_tensorflow_retracing_warning(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    # Keras's predict() traced a tf.function per network and again for each last, shorter batch;
    # TensorFlow counts those traces across networks and warned about "retracing" after a few
    # models were scored in a row (a notebook comparing saved models). predict_proba calls the
    # network directly, in batches: no trace, the same numbers.
    import keras

    images = asl.load_sign_mnist("test").images[:1100]  # more than one batch of 1,024
    outputs = []
    with caplog.at_level(logging.WARNING):
        for seed in range(6):
            keras.utils.set_random_seed(seed)
            inputs = keras.Input((28, 28, 1))
            hidden = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
            network = keras.Model(inputs, keras.layers.Dense(24, "softmax")(keras.layers.Flatten()(hidden)))
            outputs.append(asl.KerasModel(network).predict_proba(images))
            reference = np.asarray(network(images[..., None] / np.float32(255), training=False))  # one call
            np.testing.assert_allclose(outputs[-1], reference, rtol=1e-5, atol=1e-7)
    assert all(out.shape == (1100, 24) and out.dtype == np.float32 for out in outputs)
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]
    assert "retracing" not in capfd.readouterr().err
