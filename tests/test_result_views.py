"""Results you can look at and keep: HTML views, figures, save/load, the run's leaderboard.csv, explanations.

One real tiny AutoML search (KNN, one trial, a few hundred real images) is shared by the module.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from PIL import Image

import asl_recog as asl
from asl_recog.cli._main import main


@pytest.fixture(scope="module")
def tiny(
    small_split: tuple[asl.SignMnistDataset, asl.SignMnistDataset], tmp_path_factory: pytest.TempPathFactory
) -> asl.TrainingResult:
    fit_part, validation = small_split
    trainer = asl.AutoMLTrainer(
        allowed_models=["KNN"],
        max_iterations=1,
        augment=False,
        progress=False,
        run_dir=tmp_path_factory.mktemp("tiny_run"),
    )
    return trainer.fit(fit_part[::6], validation[::4])  # 400 and 180 real images


@pytest.fixture(scope="module")
def comparison(tiny: asl.TrainingResult, small_test: asl.SignMnistDataset) -> asl.ComparisonResult:
    return asl.Comparator({"knn": tiny.best_model}, latency_repeats=3).evaluate(
        small_test[::4], corruptions=asl.CorruptionSuite(["mirror", "rotate"], max_images=40)
    )


def test_python_fit_writes_the_leaderboard_into_the_run_folder(tiny: asl.TrainingResult) -> None:
    assert tiny.run_dir is not None
    board = pd.read_csv(tiny.run_dir / "leaderboard.csv")
    assert list(board["trial"]) == list(tiny.leaderboard["trial"])
    assert json.loads(board.loc[0, "params"]) == tiny.leaderboard.loc[0, "params"]  # JSON text, not a repr


def test_save_and_load_round_trip_without_pickles(tiny: asl.TrainingResult, tmp_path: Path) -> None:
    tiny.extras["odd"] = (np.int64(3), float("nan"), Path("x"))  # made JSON-safe on the way out
    folder = tiny.save(tmp_path / "result")
    del tiny.extras["odd"]
    assert not [p for p in folder.rglob("*") if p.suffix in {".pkl", ".pickle", ".joblib"}]
    back = asl.TrainingResult.load(folder)
    assert back.best_score == pytest.approx(tiny.best_score)
    assert back.best_params == json.loads(json.dumps(tiny.best_params))
    assert (back.primary_metric, back.best_trial, back.backend, back.run_dir) == (
        tiny.primary_metric,
        tiny.best_trial,
        tiny.backend,
        tiny.run_dir,
    )
    assert back.extras["odd"] == [3, None, "x"]
    pd.testing.assert_frame_equal(
        back.leaderboard[["trial", "model", "status"]], tiny.leaderboard[["trial", "model", "status"]]
    )
    assert list(back.leaderboard["params"]) == list(tiny.leaderboard["params"])
    assert list(back.leaderboard["history"]) == list(tiny.leaderboard["history"])
    images = np.stack([np.full((28, 28), v, np.uint8) for v in (0, 90, 200)])
    np.testing.assert_allclose(back.best_model.predict_proba(images), tiny.best_model.predict_proba(images), atol=1e-6)


def test_load_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(asl.ModelFileError, match=r"result\.json"):
        asl.TrainingResult.load(tmp_path)


def test_result_html_shows_the_facts_and_a_readable_leaderboard_head(tiny: asl.TrainingResult) -> None:
    board = tiny.leaderboard.copy()
    board["history"] = [[0.5 + i / 1000 for i in range(200)]]  # a long history must not flood the table
    long = asl.TrainingResult(**{**vars(tiny), "leaderboard": board})
    page = long._repr_html_()
    assert "best score" in page and f"{tiny.best_score:.4f}" in page and "<table" in page
    assert "0.699" not in page and "…" in page


def test_plot_history_without_histories_draws_the_trial_scores(tiny: asl.TrainingResult) -> None:
    fig = tiny.plot_history()
    assert isinstance(fig, Figure)
    assert fig.axes[0].get_xlabel() == "trial"


def test_plot_history_draws_one_curve_per_trial(tiny: asl.TrainingResult) -> None:
    board = pd.concat([tiny.leaderboard] * 2, ignore_index=True)
    board["trial"] = [0, 1]
    board["history"] = [[0.2, 0.5, 0.7], [0.1, 0.3]]
    fig = asl.TrainingResult(**{**vars(tiny), "leaderboard": board, "best_trial": 0}).plot_history()
    ax = fig.axes[0]
    assert ax.get_xlabel() == "epoch" and len(ax.lines) == 2
    assert list(ax.lines[0].get_ydata()) == [0.2, 0.5, 0.7]


def test_comparison_repr_html_and_figures(comparison: asl.ComparisonResult) -> None:
    accuracy = float(comparison.summary.loc["knn", "accuracy"])
    assert f"accuracy={accuracy:.4f}" in repr(comparison)
    page = comparison._repr_html_()
    assert comparison.verdict.split(" (")[0] in page and "<table" in page
    confusion = comparison.plot_confusion("knn")
    assert isinstance(confusion, Figure) and "knn" in confusion.axes[0].get_title()
    assert isinstance(comparison.plot_robustness(), Figure)
    with pytest.raises(asl.ConfigurationError, match="knn"):
        comparison.plot_confusion("cnn")


def test_plot_robustness_says_when_there_is_none(comparison: asl.ComparisonResult) -> None:
    bare = asl.ComparisonResult(**{**vars(comparison), "robustness": {}})
    with pytest.raises(asl.ConfigurationError, match="corruptions"):
        bare.plot_robustness()


def test_explain_finds_what_the_answer_rests_on(tiny: asl.TrainingResult, small_test: asl.SignMnistDataset) -> None:
    image = small_test.images[0]
    explanation = asl.explain(tiny.best_model, image)
    proba = tiny.best_model.predict_proba(image[None])[0]
    assert explanation.letter == asl.LETTERS[int(np.argmax(proba))]
    assert explanation.probability == pytest.approx(float(proba.max()), abs=1e-6)
    assert explanation.heatmap.shape == (28, 28) and np.abs(explanation.heatmap).max() > 0
    # Greying out the most sensitive square must lower the answer's probability.
    r, c = np.unravel_index(np.argmax(explanation.heatmap), (28, 28))
    covered = image.astype(float) / 255
    covered[max(r - 1, 0) : r + 3, max(c - 1, 0) : c + 3] = 0.5
    assert tiny.best_model.predict_proba(covered[None, ..., None])[0].max() <= proba.max()
    assert isinstance(explanation.plot(), Figure)
    with pytest.raises(asl.ConfigurationError):
        asl.explain(tiny.best_model, image, patch=20)


def test_cli_explain_writes_the_map_for_a_photo(
    tiny: asl.TrainingResult, small_test: asl.SignMnistDataset, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tiny.best_model.save(tmp_path / "model")
    photo = tmp_path / "photo.png"
    Image.fromarray(small_test.images[1]).resize((224, 224)).convert("RGB").save(photo)  # a photo-sized file
    out = tmp_path / "maps" / "heat.png"
    assert main(["explain", "--model", str(model), str(photo), "--out", str(out), "--no-find-hand"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "map written to" in capsys.readouterr().out
    assert main(["explain", "--model", str(model), str(tmp_path / "nope.png"), "--out", str(out)]) == 2  # usage
