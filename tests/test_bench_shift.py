"""bench/bench_shift.py, the corruption suite's Markdown front end, runs end to end on a small model."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

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


def test_runs_on_saved_models_and_writes_the_tables(
    bench: ModuleType, serving_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "shift.md"
    args = ["--model", f"a={serving_model_path}", "--model", f"b={serving_model_path}", "--max-images", "96"]
    assert bench.main([*args, "--corruptions", "mirror", "rotate", "--out", str(out)]) == 0
    text = out.read_text()
    assert text.strip() == capsys.readouterr().out.strip()
    summary = [line for line in text.splitlines() if line.startswith(("| a |", "| b |", "| model |"))]
    assert len(summary) == 3 and "| 96 |" in summary[1] and "| - |" in summary[1]  # only geometry measured
    rows = [line for line in text.splitlines() if line.startswith("| geometry |")]
    assert [r.split(" | ")[1] for r in rows] == ["mirror", "rotate 10 deg", "rotate 20 deg", "rotate 30 deg"]
    for row in rows:  # both models (the same file) score the same
        a, b = row.rstrip(" |").split(" | ")[2:]
        assert a == b and 0 <= float(a) <= 1


def test_the_tiny_smoke_run_covers_every_corruption(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--tiny", "--max-images", "48"]) == 0
    text = capsys.readouterr().out
    details = [line for line in text.splitlines() if line.count(" | ") == 2 and not line.startswith("| family")]
    assert len(details) == sum(len(c.levels) for c in asl.CORRUPTIONS.values())
