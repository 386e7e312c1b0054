"""A search's progress where there is no terminal: summary log lines (redirected output, CI), and the
notebook's HTML table; the terminal's live table is rich's own."""

from __future__ import annotations

import logging
import re

import optuna
import pytest
from optuna.distributions import FloatDistribution

from asl_recog.backends.local import _progress
from asl_recog.backends.local._progress import SearchProgress, front_end


def _study() -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    for value in (0.91, 0.95):
        study.add_trial(
            optuna.trial.create_trial(value=value, params={"x": value}, distributions={"x": FloatDistribution(0, 1)})
        )
    study.enqueue_trial({"x": 0.5})
    return study


def test_without_a_terminal_progress_is_summary_log_lines(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert front_end(True) == "log" and front_end(False) == "off"  # pytest captures stderr: no TTY, no kernel
    monkeypatch.setattr(_progress, "LOG_EVERY_S", 0.0)
    with caplog.at_level(logging.INFO, logger="asl_recog"), SearchProgress(True, "AutoML", "accuracy", 8) as bar:
        bar.update(_study(), {}, force=True)
    lines = [r.getMessage() for r in caplog.records]
    assert sum(line.startswith("AutoML trial 0 completed: accuracy=0.9100") for line in lines) == 1  # once per trial
    summary = next(line for line in lines if "trials done" in line)
    assert summary.startswith("AutoML: 2/8 trials done, 0 running, 1 queued; best accuracy 0.9500; ")
    assert "elapsed, about " in summary and summary.endswith(" left")  # paced by the finished trials


def test_the_deadline_bounds_the_time_left_and_off_means_trial_lines_only(caplog: pytest.LogCaptureFixture) -> None:
    with SearchProgress(True, "HyperDrive", "accuracy", 8, deadline_s=600) as bar:
        assert re.search(r"elapsed, at most (10m00s|9m5\ds) left$", bar.summary(_study().get_trials()))
    with caplog.at_level(logging.INFO, logger="asl_recog"), SearchProgress(False, "AutoML", "accuracy", 8) as bar:
        bar.update(_study(), {}, force=True)
    assert not any("trials done" in r.getMessage() for r in caplog.records)
    assert sum("completed" in r.getMessage() for r in caplog.records) == 2


def test_the_notebook_table_is_self_contained_html() -> None:
    bar = SearchProgress(True, "AutoML", "accuracy", 8)
    html = bar._html(_study().get_trials())
    assert html.lstrip().startswith("<!DOCTYPE html>") or "<pre" in html
    assert "trials done" in html and "0.9500" in html and "<script" not in html


def test_a_time_bounded_search_shows_no_trial_count_and_a_late_trial_raises_the_count() -> None:
    trials = _study().get_trials()  # 2 done, 1 queued
    with SearchProgress(True, "AutoML", "accuracy", None, deadline_s=600) as bar:
        assert bar.summary(trials).startswith("AutoML: 2 trials done, 0 running, 1 queued; best accuracy 0.9500; ")
    with SearchProgress(True, "AutoML", "accuracy", 2) as bar:  # e.g. max_iterations=2, then the voting ensemble
        assert bar.summary(trials).startswith("AutoML: 2/3 trials done, ")


def test_the_searchs_end_does_not_repeat_the_summary_line_just_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(_progress, "LOG_EVERY_S", 0.0)
    study = _study()
    with caplog.at_level(logging.INFO, logger="asl_recog"), SearchProgress(True, "AutoML", "accuracy", 8) as bar:
        bar.update(study, {}, force=True)  # the scheduler's last update
        bar.update(study, {}, force=True)  # the backend's, after the search: nothing changed
        study.add_trial(
            optuna.trial.create_trial(value=0.97, params={"x": 0.97}, distributions={"x": FloatDistribution(0, 1)})
        )
        bar.update(study, {}, force=True)  # a trial added after the search (an ensemble): logged
    summaries = [r.getMessage() for r in caplog.records if "trials done" in r.getMessage()]
    assert [line.split(";")[0] for line in summaries] == ["AutoML: 2/8 trials done, 0 running, 1 queued"] + [
        "AutoML: 3/8 trials done, 0 running, 1 queued"
    ]
