"""int8 ONNX export on real data: a small trained CNN quantized by ONNX Runtime, its agreement with
the float graph, the refusal below the threshold, the metadata it keeps, and the CLI flag."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import asl_recog as asl
from asl_recog.cli._main import main
from asl_recog.data._labels import labels_to_indices
from asl_recog.models import _quantize
from asl_recog.models._export import OnnxExportError, export_onnx
from asl_recog.models._model_card import model_card
from asl_recog.models._onnx import OnnxModel
from asl_recog.models._quantize import QUANTIZATION_KEY, agreement
from asl_recog.models._unknown import UNKNOWN_STATS_KEY, UNKNOWN_THRESHOLD_KEY, choose_unknown_threshold

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
keras = pytest.importorskip("keras")

#: The agreement the passing tests require of the tiny CNN below (trained for seconds, about 0.7
#: validation accuracy): its many near-tied answers flip under 8-bit rounding on about 1 % of the
#: validation images, so it measures 0.98-0.99. The default CNN measures 0.9996 against the real
#: threshold (docs/benchmarks.md); here the threshold is lowered, the mechanics are the same.
TINY_MODEL_THRESHOLD = 0.95


@pytest.fixture(scope="module")
def cnn(small_split: Any) -> asl.KerasModel:
    """A small real CNN: two convolutions, trained for a few seconds on 2,400 training images."""
    keras.utils.set_random_seed(0)
    layers = keras.layers
    network = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(8, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(16, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(24, activation="softmax"),
        ]
    )
    network.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    train = small_split[0]
    network.fit(train.float_images, labels_to_indices(train.labels), epochs=6, batch_size=64, verbose=0)
    return asl.KerasModel(network, params={"filters": 8}, info={"validation_score": 0.7})


@pytest.fixture(scope="module")
def int8_file(
    cnn: asl.KerasModel, small_split: Any, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, OnnxModel, OnnxModel]:
    """(path, int8 model, float model) of ``cnn``, both exported; the int8 one with its threshold."""
    folder = tmp_path_factory.mktemp("int8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_quantize, "INT8_MIN_AGREEMENT", TINY_MODEL_THRESHOLD)
        int8 = export_onnx(
            cnn,
            folder / "cnn-int8.onnx",
            parity_data=small_split[1][:64],
            quantize="int8",
            validation_data=small_split[1],
        )
    floating = export_onnx(cnn, folder / "cnn.onnx", parity_data=small_split[1][:64])
    return folder / "cnn-int8.onnx", int8, floating


def test_int8_file_loads_and_reports_its_agreement(int8_file: Any, small_split: Any) -> None:
    path, int8, floating = int8_file
    reloaded = OnnxModel.load(path)  # checksum verified, a session of the int8 graph opened
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)  # as for every exported file (docs/model-card.md)
    ops = {node.op_type for node in proto.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    info = reloaded.metadata[QUANTIZATION_KEY]
    validation = small_split[1]
    assert info["type"] == "int8" and info["agreement_images"] == len(validation)
    assert info["calibration_images"] == min(len(validation), _quantize.CALIBRATION_ROWS)
    # The recorded agreement is the one measured between the two files, and it met the threshold.
    assert info["agreement"] == pytest.approx(agreement(floating, reloaded, validation.images), abs=1e-4)
    assert info["agreement"] >= info["min_agreement"] == TINY_MODEL_THRESHOLD
    assert path.stat().st_size < Path(floating.source).stat().st_size
    accuracy = np.mean(reloaded.predict(validation) == validation.labels)
    assert accuracy > 0.3  # still a sign classifier (24 letters: chance is 0.04)


def test_int8_file_keeps_the_metadata_and_gets_its_own_threshold(int8_file: Any, small_split: Any) -> None:
    path, int8, floating = int8_file
    meta = int8.metadata
    for key in ("labels", "letters", "input_layout", "input_scaling", "input_shape", "classes", "params"):
        assert meta[key] == floating.metadata[key], key
    assert meta["source_kind"] == "keras" and meta["validation_score"] == 0.7
    assert asl.RunRecord.from_onnx(path).name == "cnn-int8"
    assert (
        asl.RunRecord.from_onnx(path).weights == "int8"
        and floating.metadata["asl_recog.record"]["weights"] == "float32"
    )
    # Its threshold is chosen on its own int8 outputs, as the float export chooses it on the float graph's.
    own = choose_unknown_threshold(OnnxModel.load(path), small_split[1])
    assert meta[UNKNOWN_THRESHOLD_KEY] == own.threshold
    assert meta[UNKNOWN_STATS_KEY]["validation_images"] == len(small_split[1])
    assert meta[UNKNOWN_STATS_KEY]["outputs"] == "int8"


def test_a_refit_models_int8_file_takes_the_trial_models_int8_threshold(
    cnn: asl.KerasModel, int8_file: Any, small_split: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_quantize, "INT8_MIN_AGREEMENT", TINY_MODEL_THRESHOLD)
    # As a float export takes choose_unknown_threshold(result.trial_model, validation): here the
    # trial model's int8 file (int8_file) gives its int8 threshold to the refit model's int8 file.
    refit = asl.KerasModel(cnn.network, info={"refit_images": 27455})
    keys = (UNKNOWN_THRESHOLD_KEY, UNKNOWN_STATS_KEY)
    given = {key: int8_file[1].metadata[key] for key in keys}
    exported = export_onnx(
        refit, tmp_path / "refit-int8.onnx", quantize="int8", calibration_data=small_split[1], metadata=given
    )
    assert {key: exported.metadata[key] for key in keys} == given
    with pytest.raises(asl.ConfigurationError, match="refit"):  # its own validation answers are in-sample
        export_onnx(refit, tmp_path / "no.onnx", quantize="int8", validation_data=small_split[1])


def test_int8_below_the_agreement_threshold_is_refused_and_writes_nothing(
    cnn: asl.KerasModel, small_split: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_quantize, "INT8_MIN_AGREEMENT", 1.01)  # no real file can reach it
    target = tmp_path / "refused.onnx"
    with pytest.raises(OnnxExportError, match=r"on 0\.\d{4} of 720 validation images, below the 1\.01 required") as err:
        export_onnx(cnn, target, parity_data=small_split[1][:32], quantize="int8", calibration_data=small_split[1])
    assert "keep quantize=None" in str(err.value) and "calibration images" in str(err.value)
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_the_main_jobs_int8_file_of_a_refit_cnn(
    cnn: asl.KerasModel, small_split: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """export_int8, as `asl-recog run` calls it: the refit network's int8 file takes the int8 threshold of
    the trial model's (made in a temporary file), bounded to refuse no more correct validation answers than
    the float threshold does; its record's name and the route's metadata."""
    from types import SimpleNamespace

    from asl_recog.cli._served import export_int8

    monkeypatch.setattr(_quantize, "INT8_MIN_AGREEMENT", TINY_MODEL_THRESHOLD)
    validation = small_split[1]
    result = SimpleNamespace(
        refit=True, trial_model=cnn, best_model=asl.KerasModel(cnn.network, info={"refit_images": 27455})
    )
    record = dataclasses.replace(asl.RunRecord.from_model(cnn), name="hyperdrive-int8")
    path = tmp_path / "hyperdrive" / "int8" / "model.onnx"
    floating = choose_unknown_threshold(cnn, validation)
    written = export_int8(
        result, path, validation, record=record, metadata={"route": "hyperdrive"}, float_unknown=floating
    )
    assert isinstance(written, OnnxModel) and path.is_file()
    trial = export_onnx(cnn, tmp_path / "trial.onnx", quantize="int8", calibration_data=validation)
    bound = min(0.05, floating.refused_correct)
    expected = choose_unknown_threshold(trial, validation, max_refused=bound)  # on the trial model's int8 outputs
    stats = written.metadata[UNKNOWN_STATS_KEY]
    assert written.metadata[UNKNOWN_THRESHOLD_KEY] == expected.threshold and stats["max_refused"] == pytest.approx(
        bound
    )
    assert stats["refused_correct"] <= floating.refused_correct + 1e-9
    assert stats["outputs"] == "int8" and written.metadata["route"] == "hyperdrive"
    assert asl.RunRecord.from_onnx(path).name == "hyperdrive-int8"
    # Re-exported with its test figures, as the main job does after the comparison, it stays int8, and says so.
    again = export_onnx(
        OnnxModel.load(path), path, parity_data=small_split[1][:64], record=asl.RunRecord.from_onnx(path)
    )
    assert QUANTIZATION_KEY in again.metadata and asl.RunRecord.from_onnx(path).weights == "int8"
    assert "exported from keras as int8" in onnx.load(str(path)).doc_string
    card = model_card(asl.RunRecord.from_onnx(path), "model.onnx")
    assert "(keras, int8 weights and activations)" in card and "- int8\n" in card  # a tag of its front matter
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.onnx", "model_test_data"]  # no trial file left
    # Below the agreement threshold: the reason, for the log, and nothing written; the float file is served.
    monkeypatch.setattr(_quantize, "INT8_MIN_AGREEMENT", 1.01)
    refused = tmp_path / "refused" / "model.onnx"
    reason = export_int8(result, refused, validation, record=record, metadata={}, float_unknown=floating)
    assert isinstance(reason, str) and "below the 1.01 required" in reason and not refused.exists()


def test_int8_requests_that_cannot_work_are_refused_before_converting(
    cnn: asl.KerasModel, int8_file: Any, small_split: Any, test_data: asl.SignMnistDataset, tmp_path: Path
) -> None:
    from sklearn.linear_model import LogisticRegression

    validation = small_split[1]
    target = tmp_path / "x.onnx"
    with pytest.raises(asl.ConfigurationError, match="quantize='int4' is not supported"):
        export_onnx(cnn, target, quantize="int4", calibration_data=validation)
    with pytest.raises(asl.ConfigurationError, match="needs validation images to calibrate on"):
        export_onnx(cnn, target, quantize="int8")
    with pytest.raises(asl.ConfigurationError, match="calibration_data is the test file"):
        export_onnx(cnn, target, quantize="int8", calibration_data=test_data[:100])
    with pytest.raises(asl.ConfigurationError, match="chosen on float outputs"):
        export_onnx(cnn, target, quantize="int8", calibration_data=validation, metadata={UNKNOWN_THRESHOLD_KEY: 0.5})
    with pytest.raises(asl.ConfigurationError, match="already quantized"):
        export_onnx(int8_file[1], target, quantize="int8", calibration_data=validation)
    train = small_split[0]
    with warnings.catch_warnings():  # a few iterations make a convertible model; convergence is not the point
        warnings.simplefilter("ignore")
        linear = LogisticRegression(max_iter=20).fit(train.flat[::4], labels_to_indices(train.labels[::4]))
    linear = asl.SklearnModel(linear)
    with pytest.raises(asl.ConfigurationError, match="Keras networks only.*ai.onnx.ml"):
        export_onnx(linear, target, quantize="int8", calibration_data=validation)
    assert not target.exists()


def test_cli_export_quantize_int8(
    cnn: asl.KerasModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_quantize, "INT8_MIN_AGREEMENT", TINY_MODEL_THRESHOLD)
    saved = cnn.save(tmp_path / "cnn.keras")
    out = tmp_path / "cnn-int8.onnx"
    assert main(["export", str(saved), str(out), "--parity-rows", "32", "--quantize", "int8"]) == 0
    printed = capsys.readouterr().out
    info = OnnxModel.load(out).metadata[QUANTIZATION_KEY]
    # The CLI calibrates on the grouped validation split of the training file (5,713 images).
    assert info["agreement_images"] == len(asl.train_validation_split(asl.load_sign_mnist("train"), seed=0)[1])
    assert f"int8: names the float graph's letter on {info['agreement']:.4f} of {info['agreement_images']}" in printed
    # Its Model Zoo test data set holds the int8 graph's own outputs, so `asl-recog check` passes.
    assert main(["check", str(out)]) == 0
    assert "ok: onnx.checker passed, checksum ok" in capsys.readouterr().out


@pytest.mark.slow
def test_default_network_meets_the_real_agreement_threshold(train_data: asl.SignMnistDataset, tmp_path: Path) -> None:
    """The default network, trained three epochs on the grouped split's training part, quantizes
    within INT8_MIN_AGREEMENT as it stands.

    Three epochs, not one: a one-epoch network sits near the threshold, where the machine's own
    arithmetic decides (seeds 0-5 measured 0.9933-0.9967 here, and CI's machine trained seed 0 to
    0.9879); three epochs measured 0.9961-0.9995 over the same seeds, like the trained CNN's
    0.998-1.0 (docs/benchmarks.md)."""
    from asl_recog.routes.hyperdrive._builders import DEFAULTS, build_default

    keras.utils.set_random_seed(0)
    fit_part, validation = asl.train_validation_split(train_data, seed=0)
    network = build_default(DEFAULTS["default"])
    network.fit(fit_part.float_images, labels_to_indices(fit_part.labels), epochs=3, batch_size=128, verbose=0)
    model = asl.KerasModel(network, params=DEFAULTS["default"])
    int8 = export_onnx(model, tmp_path / "default-int8.onnx", quantize="int8", calibration_data=validation)
    info = int8.metadata[QUANTIZATION_KEY]
    assert info["min_agreement"] == _quantize.INT8_MIN_AGREEMENT == 0.99
    assert info["agreement"] >= 0.99 and info["agreement_images"] == len(validation)
    assert UNKNOWN_THRESHOLD_KEY not in int8.metadata  # no validation_data=: no threshold, as for a float file
