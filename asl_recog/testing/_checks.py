"""The individual checks of the trainer contract; each raises AssertionError saying what is wrong.

Checks take a :class:`Context`: the trainer under test, the tiny data, and two fits shared
by the checks: the trainer as given, and the same search with ``refit=False`` (two fits keep a
whole run short; the second doubles as the seeded repeat).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from asl_recog.data._dataset import SignMnistDataset
from asl_recog.data._labels import LETTERS, NUM_CLASSES
from asl_recog.models._base import Model
from asl_recog.results import TrainingResult, TrialStatus
from asl_recog.routes._trainer import Trainer

#: The leaderboard columns every backend writes, the primary metric's name in place of "<metric>".
LEADERBOARD_COLUMNS = ("trial", "model", "params", "status", "<metric>", "history", "duration_s")
#: The status of a trial that ran to its end. The one place the checks name it: when the status
#: words become one enum for every backend, this is the line to change.
COMPLETED = TrialStatus.COMPLETED.value


@dataclass
class Context:
    """What the checks read: the trainer, a factory of fresh copies, the data, the shared fit."""

    trainer: Trainer
    rebuild: Callable[..., Trainer]  # rebuild(run_dir=..., **changed settings) -> a fresh trainer
    train: SignMnistDataset
    validation: SignMnistDataset
    workdir: Path
    result: TrainingResult | None = None
    no_refit: TrainingResult | None = None
    test_file_opens: list[str] = field(default_factory=list)

    @property
    def fitted(self) -> TrainingResult:
        assert self.result is not None, "the first fit did not return a result"
        return self.result

    @property
    def second(self) -> TrainingResult:
        """The same search with ``refit=False``, fitted once on first use."""
        if self.no_refit is None:
            self.no_refit = self.rebuild(run_dir=self.workdir / "no-refit", refit=False).fit(
                self.train, self.validation
            )
        return self.no_refit


def _same(a: Any, b: Any) -> bool:
    """Parameter equality as sklearn's clone checks it: equal, or the same object."""
    if a is b:
        return True
    try:
        return bool(a == b)
    except Exception:  # an object whose == is not a bool (arrays): identity was the test
        return False


def check_get_params_round_trip(ctx: Context) -> None:
    """``type(trainer)(**trainer.get_params())`` rebuilds the same settings."""
    params = ctx.trainer.get_params()
    assert isinstance(params, dict) and params, f"get_params() returned {params!r}, not a dict of settings"
    again = type(ctx.trainer)(**params).get_params()
    changed = sorted(k for k in params if k not in again or not _same(params[k], again[k]))
    assert not changed, f"rebuilding from get_params() changed {changed}"


def check_clone(ctx: Context) -> None:
    """``sklearn.base.clone(trainer)`` works and keeps every setting."""
    from sklearn.base import clone

    try:
        copy = clone(ctx.trainer)
    except Exception as exc:
        raise AssertionError(f"sklearn.base.clone(trainer) failed: {type(exc).__name__}: {exc}") from exc
    assert type(copy) is type(ctx.trainer), f"clone returned a {type(copy).__name__}"
    ours, theirs = ctx.trainer.get_params(), copy.get_params()
    assert sorted(ours) == sorted(theirs), f"the clone's settings {sorted(theirs)} differ from {sorted(ours)}"


def check_fit_returns_a_training_result(ctx: Context) -> None:
    """``fit`` returns a TrainingResult whose model records its selection."""
    result = ctx.fitted
    assert isinstance(result, TrainingResult), f"fit returned a {type(result).__name__}, not a TrainingResult"
    assert isinstance(result.best_model, Model), f"best_model is a {type(result.best_model).__name__}, not a Model"
    assert isinstance(result.primary_metric, str) and result.primary_metric, "primary_metric is empty"
    assert math.isfinite(result.best_score), f"best_score is {result.best_score}"
    info = result.best_model.info
    assert info.get("primary_metric") == result.primary_metric, (
        f"best_model.info['primary_metric'] is {info.get('primary_metric')!r}, the result's {result.primary_metric!r}"
    )
    assert math.isclose(info.get("validation_score", math.nan), result.best_score, abs_tol=1e-6), (
        f"best_model.info['validation_score'] is {info.get('validation_score')}, best_score {result.best_score}"
    )
    assert result.best_model.params == result.best_params, (
        f"best_model.params {result.best_model.params} differ from best_params {result.best_params}"
    )
    assert result.run_dir is not None and Path(result.run_dir).is_dir(), f"run_dir {result.run_dir} is not a folder"


def check_leaderboard_schema(ctx: Context) -> None:
    """One row per trial, with the shared columns, the best trial first."""
    result = ctx.fitted
    board = result.leaderboard
    assert isinstance(board, pd.DataFrame) and len(board) >= 1, "the leaderboard is empty or not a DataFrame"
    wanted = [result.primary_metric if c == "<metric>" else c for c in LEADERBOARD_COLUMNS]
    missing = [c for c in wanted if c not in board.columns]
    assert not missing, f"the leaderboard lacks the columns {missing} (it has {list(board.columns)})"
    assert board["trial"].is_unique, "the leaderboard has a trial twice"
    assert math.isclose(float(board.iloc[0][result.primary_metric]), result.best_score, abs_tol=1e-6), (
        f"the first leaderboard row scores {board.iloc[0][result.primary_metric]}, best_score is {result.best_score}"
    )
    assert result.best_trial is not None and result.best_trial in set(board["trial"]), (
        f"best_trial {result.best_trial!r} is not a trial of the leaderboard"
    )


def check_best_trial_completed(ctx: Context) -> None:
    """The leaderboard's first row (the best trial) ran to its end."""
    status = ctx.fitted.leaderboard.iloc[0]["status"]
    assert status == COMPLETED, f"the best trial's status is {status!r}, not {COMPLETED!r}"


def check_predictions(ctx: Context) -> None:
    """Predictions are letters of the 24; probabilities are 24 columns summing to 1."""
    model = ctx.fitted.best_model
    letters = model.predict_letters(ctx.validation)
    assert len(letters) == len(ctx.validation), f"{len(letters)} letters for {len(ctx.validation)} images"
    strange = sorted(set(letters) - set(LETTERS))
    assert not strange, f"predict_letters returned {strange}, which are not among the 24 static letters"
    proba = model.predict_proba(ctx.validation[:16])
    assert proba.shape == (min(16, len(ctx.validation)), NUM_CLASSES), f"predict_proba's shape is {proba.shape}"
    sums = proba.sum(axis=1)
    assert np.allclose(sums, 1.0, atol=1e-4), f"probabilities sum to {sums.min():.5f}..{sums.max():.5f}, not 1"


def check_refit_saw_all_the_data(ctx: Context) -> None:
    """A refit model was trained on training plus validation images, from the selected trial."""
    result = ctx.fitted
    info = result.best_model.info
    if not result.refit:  # a backend may leave refit to the cloud (Azure AutoML): then nothing claims it
        assert "refit" not in info, "result.refit is False but best_model.info says the model was refit"
        return
    assert info.get("refit") is True, "result.refit is True but best_model.info lacks refit=True"
    assert info.get("selected_trial") == result.best_trial, (
        f"the refit model came from trial {info.get('selected_trial')!r}, best_trial is {result.best_trial!r}"
    )
    both = len(ctx.train) + len(ctx.validation)
    assert info.get("refit_images") == both, f"the refit saw {info.get('refit_images')} images, not all {both}"


def check_no_refit_keeps_the_trial_model(ctx: Context) -> None:
    """With ``refit=False`` the trial's own model is returned and scores what the result says."""
    result = ctx.second
    assert result.refit is False, "refit=False returned a refit result"
    assert "refit" not in result.best_model.info, "refit=False, yet best_model.info says the model was refit"
    if result.primary_metric == "accuracy":
        measured = result.best_model.score(ctx.validation)
        assert math.isclose(measured, result.best_score, abs_tol=2e-3), (
            f"the model scores {measured:.4f} on the validation images, the result says {result.best_score:.4f}"
        )


def check_seed_repeats(ctx: Context) -> None:
    """A second search with the same seed selects the same settings with the same validation score.

    The second fit is the ``refit=False`` one: the search and its selection come before the
    refit, so they must repeat; equal scores to 1e-6 mean the trial models predict alike.
    """
    if getattr(ctx.trainer, "seed", None) is None:
        return  # no seed: nothing promises a repeat
    first, again = ctx.fitted, ctx.second
    chosen, repeated = dict(first.best_params), dict(again.best_params)
    if first.refit and "refit_epochs" in first.best_model.info:
        # The refit trains for the best epoch of the selected trial's curve and says so in
        # best_params["epochs"]; the selection itself is what must repeat.
        chosen.pop("epochs", None)
        repeated.pop("epochs", None)
    assert repeated == chosen, f"seeded fits chose {chosen} then {repeated}"
    assert math.isclose(again.best_score, first.best_score, abs_tol=1e-6), (
        f"seeded fits scored {first.best_score} then {again.best_score}"
    )


def check_save_load_round_trip(ctx: Context) -> None:
    """The best model saves, loads back, and predicts the same."""
    model = ctx.fitted.best_model
    path = model.save(ctx.workdir / "saved" / "best")
    loaded = Model.load(path)
    difference = np.abs(loaded.predict_proba(ctx.validation) - model.predict_proba(ctx.validation))
    assert difference.max() <= 1e-5, f"the loaded model's probabilities differ by up to {difference.max():.2e}"
    assert loaded.params == model.params, f"saved params {model.params} came back as {loaded.params}"


def check_test_file_never_opened(ctx: Context) -> None:
    """No fit opened the test file (model selection must not see it)."""
    assert not ctx.test_file_opens, f"the trainer opened the test file: {sorted(set(ctx.test_file_opens))}"


#: Checks that need no fit, run first.
BEFORE_FIT: list[Callable[[Context], None]] = [check_get_params_round_trip, check_clone]
#: Checks of the shared fit, then the ones that fit again; the test-file check last, after every fit.
AFTER_FIT: list[Callable[[Context], None]] = [
    check_fit_returns_a_training_result,
    check_leaderboard_schema,
    check_best_trial_completed,
    check_predictions,
    check_refit_saw_all_the_data,
    check_save_load_round_trip,
    check_no_refit_keeps_the_trial_model,
    check_seed_repeats,
    check_test_file_never_opened,
]
CHECK_NAMES: tuple[str, ...] = tuple(c.__name__ for c in [*BEFORE_FIT, *AFTER_FIT])
