"""bench/bench_shift.py (accuracy under shifts, scales, rotations, backgrounds) runs end to end on a small model."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import asl_recog as asl

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "bench_shift.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_shift", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_changes_do_what_they_say(bench: ModuleType, test_data: asl.SignMnistDataset) -> None:
    images = test_data.images[:4]
    rng = np.random.default_rng(0)
    shifted = bench.CHANGES["shift 2 px right"](images, rng)
    np.testing.assert_array_equal(shifted[:, :, 2:], images[:, :, :-2])
    assert np.array_equal(bench.CHANGES["none (the test set as is)"](images, rng), images)
    for name, change in bench.CHANGES.items():
        out = change(images, rng)
        assert out.shape == images.shape and out.dtype == np.uint8, name
        if not name.startswith("none"):
            assert not np.array_equal(out, images), name


def test_runs_on_a_small_model_and_writes_the_table(
    bench: ModuleType, serving_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "shift.md"
    args = ["--model", str(serving_model_path), "--limit", "96", "--threshold", "0.5", "--out", str(out)]
    assert bench.main(args) == 0
    text = out.read_text()
    assert text.strip() == capsys.readouterr().out.strip()
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| change")]
    assert [r.split(" | ")[0][2:] for r in rows] == list(bench.CHANGES)
    for row in rows:
        accuracy, confidence, refused = row.split(" | ")[1:4]
        assert 0 <= float(accuracy) <= 1 and 0 < float(confidence) <= 1 and refused.endswith("%")
    unchanged = float(rows[0].split(" | ")[1])
    assert unchanged > 0.3  # the small model is right on about 60% of the real test set
