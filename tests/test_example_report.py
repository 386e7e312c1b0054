"""docs/example-report/ is what the current code produces: its recorded version and preset hash are the code's.

No training here: the test reads the committed summary.json and report.md. When it fails, the
report is stale; `make example-report` regenerates it (about 10 minutes on 2 cores).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import asl_recog as asl
from asl_recog.cli._pipeline import PRESETS, settings_sha256

REPORT = Path(__file__).resolve().parents[1] / "docs" / "example-report"
FIX = "docs/example-report/ is stale: run `make example-report` and commit docs/example-report/"


@pytest.fixture(scope="module")
def summary() -> dict[str, Any]:
    return json.loads((REPORT / "summary.json").read_text(encoding="utf-8"))


def test_example_report_is_from_this_version(summary: dict[str, Any]) -> None:
    recorded = summary.get("asl_recog_version")
    assert recorded == asl.__version__, f"{FIX} (it records asl_recog {recorded}, the code is {asl.__version__})"


def test_example_report_used_the_quick_preset_as_the_code_defines_it(summary: dict[str, Any]) -> None:
    assert summary.get("preset") == "quick" and summary.get("settings") == "quick preset", FIX
    recorded, current = summary.get("settings_sha256"), settings_sha256(PRESETS["quick"])
    assert recorded == current, f"{FIX} (its quick-preset settings hash {recorded} is not the code's {current})"


def test_example_report_pages_say_the_same_and_their_images_exist(summary: dict[str, Any]) -> None:
    markdown = (REPORT / "report.md").read_text(encoding="utf-8")
    html = (REPORT / "report.html").read_text(encoding="utf-8")
    for text in (markdown, html):
        assert f"asl_recog version: {summary.get('asl_recog_version')}" in text, FIX
        assert f"settings SHA-256: {summary.get('settings_sha256')}" in text, FIX
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    assert images, "report.md links no plots"
    missing = [name for name in images if not (REPORT / name).is_file()]
    assert missing == [], f"{FIX} (report.md links missing files {missing})"
    output = (REPORT / "run-output.txt").read_text(encoding="utf-8")
    assert output.startswith(".venv/bin/asl-recog run --preset quick"), FIX
    for route, accuracy in summary["test_accuracy"].items():
        assert f"{route}: test accuracy {accuracy:.4f}" in output, FIX
