"""One run record, three views (issue 29, part 3): the ONNX metadata, MODEL_CARD.md and the MLflow
metadata are written from one RunRecord and read back equal, field by field, on a real model
scored by a real comparison."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import onnx
import pytest
import yaml

import asl_recog as asl
from asl_recog._errors import ModelFileError
from asl_recog._pins import constraints_sha256
from asl_recog.cli._main import main
from asl_recog.evaluation._record_figures import with_test_figures
from asl_recog.models._export import export_onnx
from asl_recog.models._model_card import CARD_NAME, model_card, read_card_record, read_front_matter, write_card
from asl_recog.models._record import RECORD_KEY, RunRecord

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def scored(
    serving_model_path: Path,
    small_split: tuple[asl.SignMnistDataset, asl.SignMnistDataset],
    small_test: asl.SignMnistDataset,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, RunRecord]:
    """The serving model re-exported with a full record: data, split, settings, and a comparison's
    test figures (480 real test images, one corruption, latency)."""
    fit_part, validation = small_split
    model = asl.OnnxModel.load(serving_model_path)
    record = RunRecord.from_model(
        model, name="pca-lr", train=fit_part, validation=validation, split="grouped, seed 0", settings={"C": 1.0}
    )
    comparison = asl.Comparator({"pca-lr": model}, latency_repeats=5).evaluate(
        small_test, corruptions=asl.CorruptionSuite(["mirror"], max_images=100)
    )
    record = with_test_figures(record, comparison, "pca-lr")
    path = tmp_path_factory.mktemp("card") / "best.onnx"
    export_onnx(model, path, parity_data=validation[:64], record=record)
    write_card(RunRecord.from_onnx(path), path)
    return path, record


def test_the_three_views_agree_field_by_field(scored: tuple[Path, RunRecord]) -> None:
    path, given = scored
    from_onnx = RunRecord.from_onnx(path)
    card = read_front_matter(path.with_name(CARD_NAME))
    from_card = read_card_record(path.with_name(CARD_NAME))
    # The MLflow metadata goes through JSON (MLflow writes it into the MLmodel YAML file).
    metadata = json.loads(json.dumps(from_onnx.mlflow_metadata()))
    from_mlflow = RunRecord.from_mlflow_metadata(metadata)
    for field in dataclasses.fields(RunRecord):
        values = [getattr(r, field.name) for r in (from_onnx, from_card, from_mlflow)]
        assert values[0] == values[1] == values[2], f"{field.name}: onnx, card, mlflow = {values}"
    # What the export knows was added; what the caller gave was kept.
    assert dataclasses.replace(from_onnx, model_kind=None, size_mb=None, label_map=None, preprocessing=None) == (
        dataclasses.replace(given, model_kind=None, size_mb=None, label_map=None, preprocessing=None)
    )
    assert from_onnx.train_rows == 2400 and from_onnx.validation_rows == 720 and len(from_onnx.train_sha256 or "") == 64
    assert from_onnx.test_rows == 480 and 0 < (from_onnx.test_accuracy or 0) < 1 and from_onnx.mca is not None
    assert from_onnx.latency_p50_ms is not None and from_onnx.license == "CC0-1.0"
    # The Hugging Face keys say the same figures, and the Zoo's header fields are the record's.
    metrics = {m["name"]: m["value"] for m in card["model-index"][0]["results"][0]["metrics"]}
    assert metrics["Test accuracy"] == from_onnx.test_accuracy and metrics["Test macro F1"] == from_onnx.test_macro_f1
    assert card["license"] == "cc0-1.0" and card["model-index"][0]["name"] == "pca-lr"
    assert {"license", "library_name", "tags", "datasets", "metrics", "model-index"} <= set(card)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    props = {p.key: json.loads(p.value) for p in proto.metadata_props if p.key != "asl_recog.sha256"}
    assert proto.model_version == from_onnx.model_version == metadata["model_version"] == 1
    assert proto.producer_name == "asl_recog" and proto.producer_version == from_onnx.asl_recog_version
    assert props["label_map"] == from_onnx.label_map == metadata["label_map"] and props["label_map"]["9"] == "K"
    assert props["preprocessing"] == from_onnx.preprocessing == metadata["preprocessing"]
    assert props[RECORD_KEY] == from_onnx.to_dict()
    assert "Test accuracy" in proto.doc_string and "24 static letters" in proto.doc_string
    # The model still loads, checksum verified, with the keys it always had.
    loaded = asl.OnnxModel.load(path)
    assert {"labels", "letters", "input_layout", "params", "info", "classes"} <= set(loaded.metadata)


def test_the_card_has_its_sections_and_says_what_is_not_known(scored: tuple[Path, RunRecord], tmp_path: Path) -> None:
    path, _ = scored
    text = path.with_name(CARD_NAME).read_text()
    for section in ("## Intended use", "## Limitations", "## Training", "## Evaluation"):
        assert section in text
    assert "mirror" in text and "Real photos: not measured" in text  # robustness measured, photos not
    bare = model_card(RunRecord(name="bare"), "bare.onnx")
    assert "Robustness: not measured" in bare and "Not evaluated on the held-out test file" in bare
    assert yaml.safe_load(bare.split("---\n")[1])["model-index"] == [{"name": "bare", "results": []}]


def test_the_package_hash_is_the_hash_of_constraints_txt(scored: tuple[Path, RunRecord]) -> None:
    record = RunRecord.from_onnx(scored[0])
    # This environment was installed from constraints.txt with every extra (make test).
    assert record.packages_sha256 == constraints_sha256((ROOT / "constraints.txt").read_text())


def test_a_record_of_the_wrong_shape_is_refused_by_name() -> None:
    with pytest.raises(ModelFileError, match="field 'test_accuracy' is 'high'.*re-export"):
        RunRecord.from_dict({"test_accuracy": "high"}, where="card.md")
    with pytest.raises(ModelFileError, match="'mca_ci'"):
        RunRecord.from_dict({"mca_ci": [0.5]})
    assert RunRecord.from_dict({"name": "x", "a_field_of_a_newer_version": 1}).name == "x"


def test_info_prints_the_card_from_the_onnx_file_alone(
    scored: tuple[Path, RunRecord], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = scored
    assert main(["info", str(path)]) == 0
    assert capsys.readouterr().out == path.with_name(CARD_NAME).read_text()


def test_numpy_numbers_in_a_models_info_are_recorded_as_numbers(serving_model_path: Path) -> None:
    import numpy as np

    model = asl.OnnxModel.load(serving_model_path)
    model.info = {"refit": True, "refit_epochs": np.int64(4), "selected_trial": np.int64(2), "validation_score": 0.9}
    record = RunRecord.from_model(model)
    assert (record.refit_epochs, record.trial) == (4, 2) and type(record.refit_epochs) is int
    assert RunRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record
