"""The asl-recog command line, in-process, on real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression

import asl_recog as asl
from asl_recog.cli._main import build_parser, main
from asl_recog.data._labels import labels_to_indices


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory: pytest.TempPathFactory, small_split) -> Path:
    fit, _ = small_split
    estimator = LogisticRegression(max_iter=300).fit(fit.flat, labels_to_indices(fit.labels))
    return asl.SklearnModel(estimator, params={"C": 1.0}, info={"validation_score": 0.6}).save(
        tmp_path_factory.mktemp("cli") / "lr.aslskl"
    )


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in ("run", "data", "train", "compare", "export", "serve", "predict", "deploy"):
        assert command in out
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "asl-recog train hyperdrive" in capsys.readouterr().out


def test_data_summary_and_grid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    grid = tmp_path / "grid.png"
    assert main(["data", "--grid", str(grid)]) == 0
    out = capsys.readouterr().out
    assert "train: 27,455 images" in out and "test: 7,172 images" in out
    with Image.open(grid) as image:
        assert image.size[0] > 400


def test_export_then_predict_photos(
    tmp_path: Path, saved_model: Path, test_data: asl.SignMnistDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    onnx_path = tmp_path / "lr.onnx"
    assert main(["export", str(saved_model), str(onnx_path), "--parity-rows", "64"]) == 0
    assert "parity checked on 64 images" in capsys.readouterr().out
    photos = []
    for i in range(3):
        photos.append(tmp_path / f"hand{i}.png")
        Image.fromarray(test_data.images[i]).resize((112, 112)).save(photos[-1])
    assert main(["predict", "--model", str(onnx_path), *map(str, photos)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    expected = asl.Model.load(onnx_path).predict_letters(np.stack([asl.image_to_array(p) for p in photos]))
    assert [line.split("\t")[1] for line in lines] == list(expected)


def test_compare_writes_a_report(tmp_path: Path, saved_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", f"lr={saved_model}", "--report", str(tmp_path / "report")]) == 0
    out = capsys.readouterr().out
    assert "Best by accuracy: lr" in out
    assert (tmp_path / "report" / "report.md").is_file()


def test_bad_input_exits_2_with_the_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(tmp_path / "missing.keras"), str(tmp_path / "out.onnx")]) == 2
    assert "no such model file" in capsys.readouterr().err
    config = tmp_path / "bad.yml"
    config.write_text("hyperdrive:\n  max_total_runs: 0\n")
    assert main(["train", "hyperdrive", "--config", str(config), "--out", str(tmp_path / "run")]) == 2
    assert "max_total_runs must be an integer >= 1" in capsys.readouterr().err


def test_serve_and_deploy_arguments_parse() -> None:
    args = build_parser().parse_args(["serve", "m.onnx", "--port", "8123", "--no-auth"])
    assert args.port == 8123 and args.no_auth and args.model == "m.onnx"
    args = build_parser().parse_args(["deploy", "m.onnx", "--target", "azure", "--name", "asl"])
    assert args.target == "azure" and args.name == "asl"
