"""Which file the main job serves (issue 30): the winning route's int8 file only where the Comparator's
figures show it as accurate, as robust and faster than the float file; the route is chosen among floats."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

import asl_recog as asl
from asl_recog.cli._served import ServedChoice, choose_served, served_p50

#: Comparator rows, best first as its ranking orders them (the int8 file's size puts it first on a tie).
ROWS = {
    "hyperdrive-int8": {"accuracy": 0.9996, "accuracy_ci_low": 0.9990, "latency_p50_ms": 0.09},
    "hyperdrive": {"accuracy": 0.9996, "accuracy_ci_low": 0.9990, "latency_p50_ms": 0.13},
    "automl": {"accuracy": 0.9780, "accuracy_ci_low": 0.9745, "latency_p50_ms": 0.05},
}


def _comparison(rows: dict[str, dict[str, float]], mca: dict[str, tuple[float, float, float]] | None = None) -> object:
    robustness = {name: SimpleNamespace(mca=m, mca_ci=(low, high)) for name, (m, low, high) in (mca or {}).items()}
    return SimpleNamespace(summary=pd.DataFrame.from_dict(rows, orient="index"), robustness=robustness)


def test_the_int8_file_is_served_when_as_accurate_as_robust_and_faster() -> None:
    mca = {"hyperdrive": (0.858, 0.850, 0.866), "hyperdrive-int8": (0.851, 0.843, 0.859)}
    choice = choose_served(_comparison(ROWS, mca))
    assert choice == ServedChoice("hyperdrive-int8", "hyperdrive", choice.reason) and choice.int8
    assert "0.090 against 0.130 ms" in choice.reason


def test_the_float_file_is_served_when_int8_is_less_accurate_less_robust_or_slower() -> None:
    worse = {**ROWS, "hyperdrive-int8": {**ROWS["hyperdrive-int8"], "accuracy": 0.9988}}
    choice = choose_served(_comparison(worse))
    assert (choice.name, choice.int8) == ("hyperdrive", False)
    assert "test accuracy 0.9988 is below the float file's 95% interval (from 0.9990)" in choice.reason
    fragile = {"hyperdrive": (0.858, 0.850, 0.866), "hyperdrive-int8": (0.849, 0.841, 0.857)}
    assert "mCA 0.8490 is below" in choose_served(_comparison(ROWS, fragile)).reason
    slow = {**ROWS, "hyperdrive-int8": {**ROWS["hyperdrive-int8"], "latency_p50_ms": 0.13}}
    assert choose_served(_comparison(slow)).reason == "its int8 file answered no faster (0.130 against 0.130 ms p50)"


def test_the_route_is_chosen_among_float_files_and_int8_never_decides_it() -> None:
    rows = {"automl": ROWS["automl"], "hyperdrive-int8": ROWS["hyperdrive-int8"], "hyperdrive": ROWS["hyperdrive"]}
    choice = choose_served(_comparison(rows))
    assert (choice.name, choice.route) == ("automl", "automl")
    assert choice.reason == "the winning route has no int8 file"


def test_side_by_side_figures_decide_the_speed_condition_and_say_so() -> None:
    # The comparison timed the int8 file slower (one file after the other); side by side it is faster.
    slow = {**ROWS, "hyperdrive-int8": {**ROWS["hyperdrive-int8"], "latency_p50_ms": 0.197}}
    choice = choose_served(_comparison(slow), {"hyperdrive-int8": 0.125, "hyperdrive": 0.176})
    assert choice.int8 and "faster (0.125 against 0.176 ms p50 side by side)" in choice.reason
    # And the other way round: figures for one file only are not a side-by-side measurement.
    choice = choose_served(_comparison(ROWS), {"hyperdrive-int8": 0.2})
    assert not choice.int8 and choice.reason == "its int8 file answered no faster (0.200 against 0.130 ms p50)"


def test_served_p50_times_the_winning_routes_two_files_side_by_side(
    tmp_path: Path, saved_model: Path, test_data: asl.SignMnistDataset
) -> None:
    from asl_recog.evaluation._latency import side_by_side_p50

    path = tmp_path / "lr.onnx"
    asl.export_onnx(asl.Model.load(saved_model), path)
    files = {"hyperdrive": path, "hyperdrive-int8": path, "automl": path}  # one graph three times: the timing only
    p50 = served_p50(_comparison(ROWS), files, test_data.images[:50])
    assert sorted(p50) == ["hyperdrive", "hyperdrive-int8"] and all(0 < v < 50 for v in p50.values())
    assert served_p50(_comparison({"automl": ROWS["automl"]}), files, test_data.images[:50]) == {}
    with pytest.raises(ValueError, match="at least one model"):
        side_by_side_p50({}, test_data.images[:5])
    with pytest.raises(ValueError, match="at least one image"):
        side_by_side_p50({"a": asl.Model.load(path)}, test_data.images[:0])
