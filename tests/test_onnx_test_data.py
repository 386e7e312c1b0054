"""A test data set with each exported model (issue 29, part 4), as the ONNX Model Zoo ships one,
and ``asl-recog check`` that runs it: the real serving model, its real parity rows."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import asl_recog as asl
from asl_recog.cli._main import main
from asl_recog.models import _zoo_data as zoo
from asl_recog.models._export import export_onnx


def test_each_export_ships_real_rows_and_the_graphs_outputs(
    serving_model_path: Path, small_split: tuple[asl.SignMnistDataset, asl.SignMnistDataset]
) -> None:
    folder = zoo.zoo_data_folder(serving_model_path) / "test_data_set_0"
    assert sorted(p.name for p in folder.iterdir()) == ["input_0.pb", "output_0.pb", "output_1.pb"]
    tensor = onnx.TensorProto()
    tensor.ParseFromString((folder / "input_0.pb").read_bytes())
    given = numpy_helper.to_array(tensor)
    proto = onnx.load(str(serving_model_path))
    assert tensor.name == proto.graph.input[0].name and given.shape == (zoo.ZOO_DATA_ROWS, 784)
    # The rows are validation images (the parity data serving_model.py gave), never the test file.
    validation = small_split[1].flat
    assert all((np.abs(validation - row).max(axis=1) < 1e-6).any() for row in given)
    probabilities = zoo.read_tensors(folder, "output")[1]
    model = asl.OnnxModel.load(serving_model_path)
    np.testing.assert_allclose(probabilities, model.predict_proba(given.reshape(-1, 28, 28)), atol=1e-6)


def test_check_passes_a_sound_file_and_names_what_differs(
    serving_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(serving_model_path)]) == 0
    out = capsys.readouterr().out.strip()
    assert out.count("\n") == 0 and "ok: onnx.checker passed, checksum ok" in out
    copy = tmp_path / "model.onnx"
    shutil.copyfile(serving_model_path, copy)
    shutil.copytree(zoo.zoo_data_folder(serving_model_path), zoo.zoo_data_folder(copy))
    # Another answer in output_1.pb: a letter differs beyond the parity rule.
    target = zoo.zoo_data_folder(copy) / "test_data_set_0" / "output_1.pb"
    wrong = zoo.read_tensors(target.parent, "output")[1][:, ::-1].copy()
    target.write_bytes(numpy_helper.from_array(wrong, "probabilities").SerializeToString())
    assert main(["check", str(copy)]) == 1
    err = capsys.readouterr().err
    assert "test_data_set_0/output_1.pb (probabilities): " in err and "predicted letters differ" in err
    # No test data set, and a tampered file: each is said.
    shutil.rmtree(zoo.zoo_data_folder(copy))
    assert main(["check", str(copy)]) == 1
    assert "no test data set" in capsys.readouterr().err
    proto = onnx.load(str(copy))
    proto.metadata_props[0].value = '"tampered"'
    onnx.save(proto, str(copy))
    assert main(["check", str(copy)]) == 1
    assert "checksum mismatch" in capsys.readouterr().err


def test_two_models_in_one_folder_keep_their_own_data_sets_and_the_test_file_is_never_shipped(
    serving_model_path: Path, small_test: asl.SignMnistDataset, tmp_path: Path
) -> None:
    model = asl.OnnxModel.load(serving_model_path)
    a = export_onnx(model, tmp_path / "a.onnx", parity_data=small_test[:64])  # the test file as parity data
    b = export_onnx(model, tmp_path / "b.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.onnx", "a_test_data", "b.onnx", "b_test_data"]
    shipped = zoo.read_tensors(tmp_path / "a_test_data" / "test_data_set_0", "input")[0]
    test_rows = small_test.flat
    assert not any((np.abs(test_rows - row).max(axis=1) < 1e-6).any() for row in shipped)
    for exported in (a, b):
        assert main(["check", exported.source]) == 0


def test_asl_recog_export_writes_the_card_and_the_test_data_set(
    small_split: tuple[asl.SignMnistDataset, asl.SignMnistDataset], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sklearn.neighbors import KNeighborsClassifier

    from asl_recog.data._labels import labels_to_indices
    from asl_recog.models._model_card import read_card_record

    fit_part = small_split[0][::10]
    estimator = KNeighborsClassifier(3).fit(fit_part.flat, labels_to_indices(fit_part.labels))  # fits at once
    saved = asl.SklearnModel(estimator, {"C": 1.0}, {"validation_score": 0.5, "primary_metric": "accuracy"}).save(
        tmp_path / "lr"
    )
    out = tmp_path / "export" / "lr.onnx"
    assert main(["export", str(saved), str(out), "--parity-rows", "64"]) == 0
    assert f"model card: {out.with_name('MODEL_CARD.md')}" in capsys.readouterr().out
    record = read_card_record(out.with_name("MODEL_CARD.md"))
    assert record == asl.RunRecord.from_onnx(out) and record.name == "lr" and record.validation_score == 0.5
    assert record.train_rows is None and record.test_accuracy is None  # not known to a saved model: not invented
    assert main(["check", str(out)]) == 0


def test_a_graph_without_a_record_gives_what_its_metadata_says(
    serving_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proto = onnx.load(str(serving_model_path))
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key not in ("asl_recog.record", "asl_recog.sha256")]
    del proto.metadata_props[:]
    for key, value in kept:
        proto.metadata_props.add(key=key, value=value)
    old = tmp_path / "old.onnx"
    onnx.save(proto, str(old))
    record = asl.RunRecord.from_onnx(old)
    assert record.name == "old" and record.model_kind == "sklearn" and record.label_map["23"] == "Y"
    assert record.packages_sha256 is None and record.train_rows is None  # the file does not say
    assert record == asl.RunRecord.from_onnx(asl.OnnxModel.load(old))
    assert main(["info", str(old)]) == 0
    assert "Not evaluated on the held-out test file" in capsys.readouterr().out
    assert main(["check", str(old)]) == 1  # no checksum, no test data set
    assert "no asl_recog checksum" in capsys.readouterr().err
