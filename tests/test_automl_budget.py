"""Issue 25: a model from any AutoML budget (baseline first, cheap first, bounded probes) and
a repeatable order (the latency budget, max_latency_ms: test_automl_latency.py)."""

from __future__ import annotations

import re
import subprocess
import sys

import optuna
import pytest
from optuna.trial import create_trial

import asl_recog as asl
from asl_recog.data._labels import labels_to_indices
from asl_recog.routes.automl import _ordering
from asl_recog.routes.automl._ordering import baseline_first, cheap_first, order_by_budget
from asl_recog.routes.automl._search import local_plan

# -- the order ----------------------------------------------------------------------------------------


def test_cheap_first_order_on_probe_data() -> None:
    # Estimates as the probes gave them in a 2-minute search (seconds to fit 44k augmented rows).
    estimates = {"SVM": 190.0, "MLP": 40.0, "KNN": 9.0, "RandomForest": 145.0, "ExtremeRandomTrees": 72.0}
    algorithms = ["SVM", "MLP", "KNN", "RandomForest", "ExtremeRandomTrees", "LightGBM"]  # preference order
    order = cheap_first(algorithms, estimates)
    assert order == ["KNN", "MLP", "ExtremeRandomTrees", "RandomForest", "SVM", "LightGBM"]  # unmeasured last
    plan = order_by_budget(order, estimates, budget_s=95.0, trial_timeout_s=90.0, remaining_s=95.0)
    assert plan.order[:2] == ["KNN", "MLP"] and "SVM" in plan.skipped  # the SVM no longer goes first
    assert baseline_first(13.0, estimates, limit_s=90.0)  # a 13 s baseline goes before everything
    # No negative budgets in messages: probes that overran the time left leave "no time", not "-30 s".
    late = order_by_budget(["KNN"], {"KNN": 9.0}, budget_s=-30.0, trial_timeout_s=90.0, remaining_s=-30.0)
    assert late.skipped == {"KNN": "estimated 9 s to fit, and no time is left for it"}


def test_algorithms_the_probes_never_reached_go_after_the_deferred_ones() -> None:
    """A 1-minute search: the probes' 6 s share ran out before LightGBM, LinearSVM and the SVM, and
    the MLP was measured near the 47 s limit. The MLP is deferred, but still goes before them."""
    estimates = {"KNN": 12.0, "MLP": 40.0, "ExtremeRandomTrees": 45.0, "SGD": 38.0}
    order = cheap_first(["SVM", "MLP", "KNN", "ExtremeRandomTrees", "SGD", "LightGBM", "LinearSVM"], estimates)
    plan = order_by_budget(order, estimates, budget_s=47.0, trial_timeout_s=300.0, remaining_s=47.0)
    assert plan.order[0] == "KNN" and set(plan.deferred) == {"MLP", "ExtremeRandomTrees", "SGD"}
    assert plan.order[-3:] == ["LightGBM", "LinearSVM", "SVM"]  # the static order's expensive end, last


def test_probes_time_the_model_on_featurized_rows_and_stop_at_their_share(small_split, monkeypatch) -> None:
    from asl_recog.models._hog import HogFeaturizer

    train, _ = small_split  # 2,400 real images: both probe sizes apply
    x, y = train.flat, labels_to_indices(train.labels)
    featurized: list[int] = []
    real = HogFeaturizer.transform
    monkeypatch.setattr(HogFeaturizer, "transform", lambda self, rows: featurized.append(len(rows)) or real(self, rows))
    defaults = {name: {"featurizer": "hog"} for name in ("KNN", "SGD")}
    estimates = _ordering.probe(["KNN", "SGD"], defaults, x, y, budget_s=1e6)
    assert featurized == [1200]  # HOG once, on the rows both configurations are then fitted on
    assert set(estimates) == {"KNN", "SGD"} and min(estimates.values()) > 0
    # A budget whose 10% share is spent by the first fit: the rest keep the static order, unmeasured.
    bounded = _ordering.probe(["KNN", "SGD"], defaults, x, y, budget_s=1e-3)
    assert set(bounded) == {"KNN"}


def _busy_loop() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def test_the_same_order_for_a_seed_and_a_trial_count_under_load(small_split, tmp_path) -> None:
    train, validation = small_split
    settings = {
        "allowed_models": ["SVM", "LogisticRegression", "MLP", "KNN"],
        "max_iterations": 4,
        "seed": 3,
        "augment": False,
        "experiment_timeout_minutes": 1,
        "progress": False,
    }
    quiet = local_plan(asl.AutoMLTrainer(**settings), train, validation, tmp_path / "quiet")
    busy = [_busy_loop() for _ in range(2)]
    try:
        loaded = local_plan(asl.AutoMLTrainer(**settings), train, validation, tmp_path / "busy")
    finally:
        for process in busy:
            process.kill()
            process.wait()
    assert [dict(t) for t in loaded.initial] == [dict(t) for t in quiet.initial]
    ordering = loaded.extras["ordering"]
    assert ordering["first_trials"] == ["baseline", "KNN", "MLP", "LogisticRegression", "SVM"]
    assert ordering["repeatable"] and ordering["estimated_fit_seconds"] == {}  # nothing timed decides it


# -- a model from any budget -------------------------------------------------------------------------


def test_a_search_whose_expensive_trial_is_stopped_returns_the_cheap_first_trial(train_data, tmp_path) -> None:
    # Repeatable mode (seed, trial count, one worker): KNN first, then the HOG SVM, which needs
    # minutes on 40k augmented rows and is stopped by the 1-minute limit. Before issue 25 the SVM went
    # first and the search raised TrialFailedError. On a busy machine (CI, beside the main-job test)
    # KNN itself can run past the limit, in its grace period; the SVM then never starts. A slow CI
    # machine once took 53 s for KNN after 14 s of setup, past a 45 s limit and its grace (67.5 s).
    trainer = asl.AutoMLTrainer(
        allowed_models=["SVM", "KNN"],
        max_iterations=2,
        experiment_timeout_minutes=1,
        enable_voting_ensemble=False,
        refit=False,
        run_dir=tmp_path,
        progress=False,
    )
    result = trainer.fit(train_data[:20000], train_data[20000:20300])
    board = result.leaderboard.set_index("model")
    assert result.best_params["algorithm"] == "KNN" and board.loc["KNN", "status"] == "completed"
    assert set(board.index) <= {"KNN", "SVM"}
    if "SVM" in board.index:  # started, then stopped by the limit
        assert "time limit" in board.loc["SVM", "error"]


def test_no_finished_trial_names_the_smallest_budget_that_would_have_worked(train_data, tmp_path) -> None:
    trainer = asl.AutoMLTrainer(
        allowed_models=["MLP", "KNN"],
        experiment_timeout_minutes=0.05,  # 3 s: the probes run (timed mode) but no trial can finish
        augment=False,
        refit=False,
        run_dir=tmp_path,
        progress=False,
    )
    with pytest.raises(asl.TrialFailedError) as info:
        trainer.fit(train_data, train_data[:200])
    message = str(info.value)
    found = re.search(r"experiment_timeout_minutes=([0-9.]+) or more would have returned a model", message)
    assert found and float(found.group(1)) > 0.05, message
    # The first trial is the MLP baseline, or KNN where the probes timed KNN cheaper and the baseline
    # too slow for the budget (a fresh-clone CI run, while PostgreSQL started beside it).
    assert re.search(r"the first trial, (MLP \(baseline\)|KNN), was estimated", message), message
    assert "policy" not in message and not re.search(r"-\d", message)


def test_probe_growth_is_bounded_by_what_each_algorithm_can_do() -> None:
    """Two fits of hundredths of a second once said "quadratic" for a KNN and estimated 395 s for a 12 s fit."""
    from asl_recog.routes.automl._ordering import (
        DEFAULT_GROWTH_LIMIT,
        GROWTH_FLOOR,
        GROWTH_LIMIT,
        scale_seconds,
    )
    from asl_recog.routes.automl._served import SERVED_GROWTH, scale_latency

    knn = scale_seconds(0.008, 0.13, 65_000, max_exponent=GROWTH_LIMIT.get("KNN", DEFAULT_GROWTH_LIMIT))
    assert knn < 20 < scale_seconds(0.008, 0.13, 65_000)  # 2.0: the old clip
    svm = scale_seconds(0.05, 0.8, 65_000, max_exponent=GROWTH_LIMIT["SVM"])
    assert svm == pytest.approx(0.8 * (65_000 / 1200) ** 1.6)  # faster than measured, not quadratic: noise
    # ... and no slower than n^1.4, however linear its probes look: a 186 s fit was once estimated at 33 s
    flat = scale_seconds(0.5, 0.6, 65_000, max_exponent=GROWTH_LIMIT["SVM"], min_exponent=GROWTH_FLOOR["SVM"])
    assert flat == pytest.approx(0.6 * (65_000 / 1200) ** 1.4) and flat > 4 * scale_seconds(0.5, 0.6, 65_000)
    # its support vectors are a falling share of the rows: its serving cost grows slower than a KNN's
    served = [0.05, 0.065]
    svm_ms = scale_latency(served, 65_000, [300, 1200], SERVED_GROWTH["SVM"])
    assert 0.05 < svm_ms < scale_latency(served, 65_000, [300, 1200]) / 2
    # Linear-looking probes of SGD and the random forest put 78 s and 155 s fits at 49-55 s and 92-117 s.
    for algorithm in ("SGD", "RandomForest"):
        grown = scale_seconds(0.2, 0.8, 65_226, max_exponent=DEFAULT_GROWTH_LIMIT, min_exponent=GROWTH_FLOOR[algorithm])
        assert grown > 1.45 * scale_seconds(0.2, 0.8, 65_226)


def test_an_estimate_too_low_is_a_warning_and_one_too_high_is_information(caplog: pytest.LogCaptureFixture) -> None:
    from asl_recog.routes.automl._budget import FirstTrials, compare_estimates
    from asl_recog.routes.automl._ordering import Ordering

    study = optuna.create_study(direction="maximize")
    for seconds in (30.0, 5.0, 11.0):  # trial i is first.trials[i]
        study.add_trial(create_trial(value=0.9, user_attrs={"info": {"training_seconds": seconds}}))
    ordering = Ordering(order=["SGD", "MLP", "KNN"], estimates={"SGD": 10.0, "MLP": 10.0, "KNN": 10.0})
    first = FirstTrials([(name, name, {}) for name in ordering.order], ordering, repeatable=False)
    with caplog.at_level("INFO", logger="asl_recog"):
        compared = compare_estimates(study, first)
    assert compared["SGD"]["ratio"] == 3.0 and compared["MLP"]["ratio"] == 0.5 and compared["KNN"]["ratio"] == 1.1
    wrong = {
        r.getMessage().split(":")[1].split()[0]: r.levelname
        for r in caplog.records
        if "estimate wrong" in r.getMessage()
    }
    assert wrong == {"SGD": "WARNING", "MLP": "INFO"}  # KNN's 1.1x is within WRONG_BY
    assert "too high, which only put it later" in next(
        r.getMessage() for r in caplog.records if "MLP" in r.getMessage()
    )
