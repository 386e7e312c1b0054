"""The main job end to end (`asl-recog run`), with tiny budgets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import asl_recog as asl
from asl_recog._pipeline import PRESETS, run_pipeline, seed_request

TINY = {
    "automl": {"experiment_timeout_minutes": 1, "max_iterations": 2, "allowed_models": ["LogisticRegression", "KNN"],
               "enable_voting_ensemble": False, "augment": False},
    "hyperdrive": {"builder": "seed", "max_total_runs": 1, "fixed_params": {"epochs": 1, "hidden": 64}},
}


def test_seed_request_is_the_seed_clients_payload(test_data: asl.SignMnistDataset) -> None:
    body = seed_request(test_data)
    assert len(body["data"]) == 9
    assert list(body["data"][0]) == [f"pixel{i}" for i in range(1, 785)]
    assert body["data"][0]["pixel1"] == int(test_data.images[1].flat[0])


def test_presets_build_valid_trainers() -> None:
    for preset in PRESETS.values():
        asl.AutoMLTrainer(**preset["automl"])
        asl.HyperDriveTrainer(**preset["hyperdrive"])
    with pytest.raises(asl.ConfigurationError, match="preset must be one of"):
        run_pipeline("huge")


@pytest.mark.slow
def test_run_pipeline_end_to_end(tmp_path: Path, test_data: asl.SignMnistDataset) -> None:
    lines: list[str] = []
    result = run_pipeline("quick", tmp_path / "run", progress=False, overrides=TINY, echo=lines.append)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    # The report's test accuracy for both routes is what the Comparator computed.
    assert set(summary["test_accuracy"]) == {"automl", "hyperdrive"}
    report = (result.report_path / "report.md").read_text()
    for name, accuracy in summary["test_accuracy"].items():
        assert f"{accuracy:.4f}" in report
        assert accuracy == pytest.approx(result.comparison.summary.loc[name, "accuracy"])
    # The service answered the seed's request with the exported model's predictions, single-encoded.
    seed = summary["responses"]["seed_request"]
    assert seed["status"] == 200 and isinstance(seed["body"], dict)
    winner = asl.OnnxModel.load(result.onnx_path)
    assert seed["body"]["result"] == winner.predict(test_data[1:10]).tolist()
    image = summary["responses"]["image_request"]
    assert image["status"] == 200 and len(image["body"]["letters"]) == 1
    assert any("seed request (test rows 1..9) -> 200" in line for line in lines)
    assert (tmp_path / "run" / "automl" / "leaderboard.csv").is_file()
