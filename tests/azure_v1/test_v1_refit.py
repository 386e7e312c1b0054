"""AzureMLBackend (SDK v1), offline: the refit after HyperDrive (one ScriptRunConfig on both registered
datasets, for the best epoch), its plan without a curve, and the model-size budget."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("azureml.core", reason="the 'azureml' extra (azureml-core) is not installed")
pytest.importorskip("azureml.train.hyperdrive", reason="the 'azureml' extra (azureml-train-core) is not installed")
pytest.importorskip("azureml.train.automl", reason="the 'azureml' extra (azureml-train-automl-client) is not installed")

from azure_fakes import FakeParentRun, FakeRun, Registry, fake_experiment
from factories import small_keras_bytes

import asl_recog as asl
from asl_recog.backends import remote_spec
from asl_recog.backends.azure import _refit as refit
from asl_recog.backends.azure._data import LAUNCHER, content_hash

from .v1_helpers import V1_MARKS, hd_trainer

pytestmark = V1_MARKS


# -- refit after HyperDrive, and the model-size budget ------------------------------------------------


@pytest.fixture(scope="module")
def other_keras_bytes(tmp_path_factory: pytest.TempPathFactory, small_split: Any) -> bytes:
    """Another network of keras_bytes' size, trained from another seed: what the refit job leaves."""
    return small_keras_bytes(tmp_path_factory.mktemp("refit"), small_split[0], seed=1)


@pytest.fixture(scope="module")
def large_keras_bytes(tmp_path_factory: pytest.TempPathFactory, small_split: Any) -> bytes:
    """A network with a 128-unit hidden layer: several times keras_bytes' file size."""
    return small_keras_bytes(tmp_path_factory.mktemp("large"), small_split[0], hidden=128)


def sweep_children(files: dict[str, bytes]) -> tuple[list[FakeRun], dict[str, str]]:
    """Two completed trials; HD_3_1's curve peaks at epochs 2 and 3, so its refit trains 3 (the latest best)."""
    children = [
        FakeRun("HD_3_0", "Completed", {"accuracy": [0.50, 0.70, 0.72, 0.70]}, files=files),
        FakeRun("HD_3_1", "Completed", {"accuracy": [0.60, 0.80, 0.80, 0.78]}, files=files),
    ]
    params = {
        "HD_3_0": json.dumps({"--hidden": 128, "--dropout": 0.2, "--batch_size": 64}),
        "HD_3_1": json.dumps({"--hidden": 256, "--dropout": 0.3, "--batch_size": 128}),
    }
    return children, params


def refit_parent(files: dict[str, bytes]) -> FakeParentRun:
    run = FakeParentRun([])
    run.id, run.files = "refit_1", files
    return run


def test_hyperdrive_refit_is_one_script_run_config_on_both_datasets_for_the_best_epoch(
    backend: Any,
    registry: Registry,
    small_split: Any,
    keras_bytes: bytes,
    other_keras_bytes: bytes,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from azureml.core import ScriptRunConfig
    from azureml.core.script_run_config import get_run_config_from_script_run

    from asl_recog.routes.hyperdrive import train_cnn

    children, params = sweep_children({"outputs/model.keras": keras_bytes})
    refit_run = refit_parent({"outputs/model.keras": other_keras_bytes, "outputs/metrics.json": b"{}"})
    staged: list[bool] = []
    calls = fake_experiment(
        monkeypatch,
        FakeParentRun(children, params),
        lambda c: staged.append((Path(c.source_directory) / LAUNCHER).is_file()),
        refit_run,
    )
    train, validation = small_split
    result = hd_trainer(backend, run_dir=tmp_path / "hd").fit(train, validation)  # refit=True: the default

    sweep, config = (c["config"] for c in calls if "config" in c)
    assert isinstance(config, ScriptRunConfig) and staged == [True, True]  # code staged for both submits
    run_config = get_run_config_from_script_run(config)
    assert run_config.script == LAUNCHER and run_config.target == "cpu-cluster"
    arguments = run_config.arguments
    # Both registered datasets, the sweep's own (training part + validation): the full data.
    sweep_arguments = sweep.run_config.arguments
    assert [a.name for a in (arguments[1], arguments[3])] == ["train", "validation"]
    assert str(arguments[1].dataset) == str(sweep_arguments[1].dataset)
    assert str(arguments[3].dataset) == str(sweep_arguments[3].dataset)
    assert content_hash(train)[:16] in str(arguments[1].dataset)  # the folders named after each part's hash
    assert content_hash(validation)[:16] in str(arguments[3].dataset)
    assert len(registry.uploads) == 2  # nothing uploaded again for the refit
    # The best trial's params; epochs 3, the latest best epoch of its curve, over the fixed 4.
    assert arguments[4:] == [
        "--refit",
        "--builder",
        "seed",
        "--seed",
        0,
        "--epochs",
        3,
        "--output_dir",
        "outputs",
        "--hidden",
        256,
        "--dropout",
        0.3,
        "--batch_size",
        128,
    ]
    assert run_config.environment.name == get_run_config_from_script_run(sweep.run_config).environment.name
    args, parsed = train_cnn.parse_args(["--data", "/mnt/train", "--validation", "/mnt/v", *map(str, arguments[4:])])
    assert args.refit is True and parsed == {"hidden": 256, "dropout": 0.3, "batch_size": 128, "epochs": 3}

    assert refit_run.waited == [{"show_output": False, "raise_on_error": False}]
    assert refit_run.downloads == ["outputs"] and (tmp_path / "hd/refit/outputs/model.keras").is_file()
    assert result.refit is True and result.refit_seconds > 0 and result.best_trial == "HD_3_1"
    assert result.best_score == pytest.approx(0.78)  # the selection score stays the trial's
    assert result.best_params == {"hidden": 256, "dropout": 0.3, "batch_size": 128, "epochs": 3}
    info = result.best_model.info
    assert (info["refit"], info["refit_epochs"], info["refit_images"]) == (True, 3, len(train) + len(validation))
    refit_model = asl.Model.load(tmp_path / "hd/refit/outputs/model.keras")
    np.testing.assert_allclose(
        result.best_model.predict_proba(validation[:8]), refit_model.predict_proba(validation[:8]), atol=1e-6
    )  # the refit's, not the trial's

    fake_experiment(monkeypatch, FakeParentRun(children, params))
    baseline = hd_trainer(backend, run_dir=tmp_path / "plain", refit=False).fit(train, validation)
    import pandas as pd

    pd.testing.assert_frame_equal(result.leaderboard, baseline.leaderboard)  # the leaderboard is the sweep's


def test_models_over_the_size_budget_are_skipped_with_the_reason(
    backend: Any,
    registry: Registry,
    small_split: Any,
    keras_bytes: bytes,
    large_keras_bytes: bytes,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    children, params = sweep_children({"outputs/model.keras": keras_bytes})
    children[1].files = {"outputs/model.keras": large_keras_bytes}  # the best trial's model is the large one
    refit_run = refit_parent({"outputs/model.keras": large_keras_bytes})  # and so is the refit's
    fake_experiment(monkeypatch, FakeParentRun(children, params), refit_run=refit_run)
    budget_mb = (len(keras_bytes) + len(large_keras_bytes)) / 2 / 1e6
    result = hd_trainer(backend, run_dir=tmp_path / "hd", max_model_size_mb=budget_mb).fit(*small_split)

    assert result.best_trial == "HD_3_0" and result.best_score == pytest.approx(0.70)  # the best that fits
    board = result.leaderboard.set_index("trial")
    reason = board.at["HD_3_1", "error"]
    assert board.at["HD_3_1", "status"] == "failed" and reason.startswith(
        f"rejected: its model model.keras is {len(large_keras_bytes) / 1e6:.1f} MB, over "
        f"max_model_size_mb={budget_mb:g}"
    )
    assert result.extras["rejected_for_size"] == {"HD_3_1": reason}
    assert list(result.leaderboard["trial"]) == ["HD_3_0", "HD_3_1"]  # the chosen trial heads the leaderboard
    # The refit (of HD_3_0's params) left a model over the budget too: the trial's own model is kept.
    assert refit_run.downloads == ["outputs"] and result.refit is False
    assert "the refit model model.keras" in result.extras["refit_skipped"]
    assert result.best_params == {"hidden": 128, "dropout": 0.2, "batch_size": 64}
    np.testing.assert_allclose(
        result.best_model.predict_proba(small_split[1][:4]),
        asl.Model.load(tmp_path / "hd/best/outputs/model.keras").predict_proba(small_split[1][:4]),
        atol=1e-6,
    )


def test_the_refit_plan_falls_back_to_the_trained_epochs_without_a_curve(backend: Any) -> None:
    import pandas as pd

    board = pd.DataFrame({"trial": ["HD_4_0"], "history": [[]]})
    result = asl.TrainingResult(
        best_model=None,
        best_params={"hidden": 64},
        best_score=0.5,  # type: ignore[arg-type]
        primary_metric="loss",
        leaderboard=board,
        best_trial="HD_4_0",
    )
    plan = refit.plan_refit(remote_spec(hd_trainer(backend)), result, images=100)
    assert (plan.epochs, plan.params) == (4, {"hidden": 64, "epochs": 4})  # the fixed epochs it was trained for
    board.at[0, "history"] = [0.9, 0.4, 0.4, 0.6]  # loss: the latest of the lowest values
    minimize = hd_trainer(backend, primary_metric_name="loss", primary_metric_goal="minimize")
    assert refit.plan_refit(remote_spec(minimize), result, images=100).epochs == 3
