"""The contract every Trainer must meet, reusable for any backend or route.

Use it from a test module by subclassing :class:`TrainerContract` and defining a
``make_trainer`` fixture that returns ``factory(seed, run_dir) -> Trainer``,
configured with a tiny budget, plus ``small_split`` / ``small_test`` fixtures
(tests/conftest.py provides them)::

    class TestMyTrainer(TrainerContract):
        @pytest.fixture(scope="class")
        def make_trainer(self):
            return lambda seed, run_dir: MyTrainer(..., seed=seed, run_dir=run_dir)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import asl_recog as asl


class TrainerContract:
    """Contract tests; subclasses provide the ``make_trainer`` fixture."""

    @pytest.fixture(scope="class")
    def fitted(self, make_trainer, small_split, tmp_path_factory, test_file_opens) -> asl.TrainingResult:
        train, validation = small_split
        test_file_opens.clear()
        result = make_trainer(0, tmp_path_factory.mktemp("first")).fit(train, validation)
        assert test_file_opens == [], f"the trainer opened the test file: {test_file_opens}"
        return result

    def test_fit_returns_a_model_with_its_record(self, fitted: asl.TrainingResult) -> None:
        assert isinstance(fitted, asl.TrainingResult)
        assert isinstance(fitted.best_model, asl.Model)
        info = fitted.best_model.info
        assert info["primary_metric"] == fitted.primary_metric
        assert info["validation_score"] == pytest.approx(fitted.best_score)
        assert info["training_seconds"] > 0
        assert fitted.best_model.params == fitted.best_params
        assert fitted.run_dir is not None and fitted.run_dir.is_dir()

    def test_leaderboard_has_one_row_per_trial_best_first(self, fitted: asl.TrainingResult) -> None:
        board = fitted.leaderboard
        assert isinstance(board, pd.DataFrame) and len(board) >= 1
        for column in ("trial", "model", "params", "status", fitted.primary_metric, "history", "duration_s"):
            assert column in board.columns
        assert board.iloc[0]["status"] == "completed"
        assert board.iloc[0][fitted.primary_metric] == pytest.approx(fitted.best_score)
        assert board["trial"].is_unique

    def test_predictions_are_among_the_24_letters(self, fitted: asl.TrainingResult, small_test) -> None:
        letters = fitted.best_model.predict_letters(small_test)
        assert len(letters) == len(small_test)
        assert set(letters) <= set(asl.LETTERS)
        proba = fitted.best_model.predict_proba(small_test[:16])
        assert proba.shape == (16, 24)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-4)

    def test_refit_is_the_default_and_saw_all_the_data(self, fitted: asl.TrainingResult, small_split) -> None:
        train, validation = small_split
        assert fitted.refit is True
        assert fitted.best_trial is not None
        assert fitted.best_trial in set(fitted.leaderboard["trial"])
        info = fitted.best_model.info
        assert info["refit"] is True and info["selected_trial"] == fitted.best_trial
        assert info["refit_images"] == len(train) + len(validation)
        # The selection score is the selected trial's validation score, as the leaderboard says.
        row = fitted.leaderboard.set_index("trial").loc[fitted.best_trial]
        assert row[fitted.primary_metric] == pytest.approx(fitted.best_score)

    def test_refit_false_keeps_the_trial_model_and_its_score(self, make_trainer, small_split, tmp_path) -> None:
        trainer = make_trainer(0, tmp_path / "no-refit")
        trainer.refit = False
        result = trainer.fit(*small_split)
        assert result.refit is False and "refit" not in result.best_model.info
        if result.primary_metric == "accuracy":
            assert result.best_model.score(small_split[1]) == pytest.approx(result.best_score, abs=2e-3)

    def test_a_fixed_seed_repeats(
        self, fitted: asl.TrainingResult, make_trainer, small_split, small_test, tmp_path
    ) -> None:
        train, validation = small_split
        again = make_trainer(0, tmp_path / "again").fit(train, validation)
        assert again.best_params == fitted.best_params
        assert again.best_score == pytest.approx(fitted.best_score, abs=1e-6)
        np.testing.assert_allclose(
            again.best_model.predict_proba(small_test), fitted.best_model.predict_proba(small_test), atol=1e-4
        )

    def test_save_and_load_round_trip(self, fitted: asl.TrainingResult, small_test, tmp_path) -> None:
        path = fitted.best_model.save(tmp_path / "best")
        loaded = asl.Model.load(path)
        np.testing.assert_allclose(
            loaded.predict_proba(small_test), fitted.best_model.predict_proba(small_test), atol=1e-5
        )
        assert loaded.params == fitted.best_model.params
