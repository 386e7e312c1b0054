"""Refit on Azure: the HyperDrive route's one more job, and what AutoML's refit is there.

HyperDrive (``refit=True``, the default): after the sweep, one job runs the same entry
point, ``python -m asl_recog.routes.hyperdrive.train_cnn``, with the selected trial's parameters on the
training part *and* the validation part (the two registered datasets the sweep used,
joined by ``--refit``), for the best epoch of that trial's per-epoch validation curve
(:func:`asl_recog.results.best_epoch`, the local rule). SDK v1 submits it as a
``ScriptRunConfig``, SDK v2 as a ``command`` job. Its ``outputs/model.keras`` becomes
``best_model``; the selection score stays the trial's validation score, and the
leaderboard is left as the sweep made it.

The default must never raise: when the job fails, leaves no model, or its model is over
``max_model_size_mb``, the trial's own model is kept, with a warning and the reason in
``extras["refit_skipped"]``, as the local backend does.

AutoML: Azure AutoML owns its pipelines. It retrains the best pipeline on all the data
only when it made the validation split itself; we pass our grouped split as
``validation_data``, so it does not, and ``TrainingResult.refit`` is False with
``extras["refit"]`` saying why.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asl_recog import _azure as sdk
from asl_recog._errors import ModelFileError
from asl_recog.backends._remote import AutoMLSpec, SweepSpec
from asl_recog.backends.azure import _job as entry
from asl_recog.backends.azure import _results as results
from asl_recog.backends.azure._data import LAUNCHER
from asl_recog.models._budgets import check_size
from asl_recog.results import TrainingResult, best_epoch
from asl_recog.results._refit import keep_trial_model
from asl_recog.search._space import PrimaryMetricGoal

logger = logging.getLogger("asl_recog")

#: The entry point's flag: train on ``--data`` and ``--validation`` together, holding nothing out.
REFIT_FLAG = "--refit"

AUTOML_REFIT = (
    "left to Azure: Azure AutoML owns its pipelines and retrains the best one on all the data only "
    "when it made the validation split itself; asl_recog passes its grouped split as validation_data, "
    "so best_model is the selected iteration's own model, trained on the training part"
)


class RefitJobFailed(RuntimeError):
    """The refit job ended without a usable model (its status, or no model file in its outputs)."""


@dataclass(frozen=True)
class RefitPlan:
    """What the refit job trains: the selected trial's params, with ``epochs`` from its curve."""

    trial: str
    params: dict[str, Any]
    epochs: int
    images: int  # training part plus validation

    def arguments(self, spec: SweepSpec) -> dict[str, Any]:
        """The entry point's ``--name value`` options after ``--data``/``--validation``/``--refit``."""
        settings = entry.entry_settings(spec)  # builder, seed, fixed params, output folder
        settings.update({k: v for k, v in self.params.items() if v is not None})  # epochs overrides a fixed one
        return settings


def plan_refit(spec: SweepSpec, result: TrainingResult, images: int) -> RefitPlan:
    """The refit of ``result``'s selected trial: its params, and the best epoch of its logged curve.

    Args:
        spec: the sweep that produced ``result``.
        result: the sweep's result (``best_trial`` and the leaderboard's ``history`` are read).
        images: how many images the refit trains on (training part plus validation).
    """
    board = result.leaderboard
    rows = board[board["trial"] == result.best_trial]
    history = list(rows.iloc[0]["history"] or []) if len(rows) else []
    params = dict(result.best_params)
    if history:
        epochs = best_epoch(history, spec.goal.value == "maximize")
    else:  # a trial that logged no curve: the epochs it was trained for
        known = spec.trial_params(params)
        epochs = int(known.get("epochs", 1))
    return RefitPlan(str(result.best_trial), {**params, "epochs": epochs}, epochs, images)


def run_refit(
    spec: SweepSpec,
    result: TrainingResult,
    plan: RefitPlan,
    submit: Callable[[RefitPlan], Path],
    backend: str,
) -> TrainingResult:
    """Run the refit job through ``submit`` and adopt its model; keep the trial's model if it fails.

    Args:
        spec: the sweep (for ``max_model_size_mb``).
        result: the sweep's result; updated in place and returned.
        plan: what to train (:func:`plan_refit`).
        submit: builds, submits and waits for the job, downloads its outputs and returns the
            folder; raises :class:`RefitJobFailed` (or an SDK error) when the job did not succeed.
        backend: the backend's name, recorded on the model.
    """
    start = time.perf_counter()
    logger.info(
        "refit on Azure: trial %s's params on all %s images for %d epochs (best epoch of its curve)",
        plan.trial,
        f"{plan.images:,}",
        plan.epochs,
    )
    try:
        folder = submit(plan)
        path = results.find_model_file(folder, prefer_onnx=False)
        # The .keras file holds the weights and Adam's two moments: it bounds the ONNX graph too.
        check_size(f"the refit model {path.name}", path.stat().st_size, spec.max_model_size_mb)
        model = results.load_model_file(path)
    except Exception as exc:
        return keep_trial_model(result, f"{type(exc).__name__}: {exc}")
    seconds = time.perf_counter() - start
    model.params = {**model.params, **plan.params}
    model.info.update(
        validation_score=result.best_score,
        primary_metric=result.primary_metric,
        refit=True,
        refit_epochs=plan.epochs,
        refit_images=plan.images,
        selected_trial=plan.trial,
        backend=backend,
        algorithm=result.best_model.info.get("algorithm"),
    )
    result.trial_model = result.best_model  # out-of-sample on validation: the "unknown" threshold needs it
    result.best_model, result.best_params = model, dict(plan.params)
    result.refit, result.refit_seconds = True, seconds
    logger.info(
        "refit on Azure: adopted the model of trial %s's params retrained on %s images (%.0f s, "
        "submission to download)",
        plan.trial,
        f"{plan.images:,}",
        seconds,
    )
    return result


def command_line(entry_module: str, arguments: dict[str, Any]) -> str:
    """The v2 refit command: the route's entry module with ``--refit`` and ``${{inputs.<name>}}`` placeholders."""
    names = ["data", "validation", *arguments]
    options = [f"{entry.cli_name(n)} ${{{{inputs.{n}}}}}" for n in names]
    return " ".join(["python -m", entry_module, *options[:2], REFIT_FLAG, *options[2:]])


def v2_refit_job(
    spec: SweepSpec,
    plan: RefitPlan,
    compute: str,
    experiment_name: str,
    environment: Any,
    code: str | Path,
    train: str,
    validation: str,
) -> Any:
    """The SDK v2 ``command`` job of the refit: both registered MLTable assets mounted, the plan's options."""
    arguments = plan.arguments(spec)
    inputs: dict[str, Any] = {
        "data": sdk.ml.Input(type="mltable", path=train, mode="ro_mount"),
        "validation": sdk.ml.Input(type="mltable", path=validation, mode="ro_mount"),
        **arguments,
    }
    return sdk.ml.command(
        code=str(code),
        command=command_line(spec.entry_module, arguments),
        inputs=inputs,
        environment=environment,
        compute=compute,
        experiment_name=experiment_name,
        display_name=f"asl-recog-refit-{plan.trial}",
        tags={"asl_recog": "refit", "selected_trial": plan.trial, "epochs": str(plan.epochs)},
    )


def v1_refit_config(
    spec: SweepSpec,
    plan: RefitPlan,
    source_directory: str | Path,
    compute_target: Any,
    environment: Any,
    train: Any,
    validation: Any,
) -> Any:
    """The SDK v1 ``ScriptRunConfig`` of the refit: the trials' launcher, both datasets, ``--refit``."""
    arguments = [
        "--data",
        train,
        "--validation",
        validation,
        REFIT_FLAG,
        *entry.fixed_arguments(plan.arguments(spec)),
    ]
    return sdk.aml_core.ScriptRunConfig(
        source_directory=str(source_directory),
        script=LAUNCHER,
        arguments=arguments,
        compute_target=compute_target,
        environment=environment,
    )


def note_automl_refit(spec: AutoMLSpec, extras: dict[str, Any]) -> dict[str, Any]:
    """Record in ``extras["refit"]`` that AutoML's refit is Azure's (and log it once, when refit was asked)."""
    if spec.refit:
        logger.info("refit on Azure AutoML: %s", AUTOML_REFIT)
    return {**extras, "refit": AUTOML_REFIT}


def finish_automl(
    spec: AutoMLSpec,
    trials: list[results.Trial],
    fetch: Callable[[results.Trial], Path | None],
    *,
    backend: str,
    run_dir: Path,
    extras: dict[str, Any],
    children: str,
    parent: str,
    wanted: str,
) -> TrainingResult:
    """A finished AutoML job's result, on either SDK: the best trial whose wanted model fits the budget.

    Args:
        fetch: downloads a trial's wanted model file, or None when it left none.
        children: the trials as the SDK names them, e.g. ``"trials of job <name>"``.
        parent: the job as the SDK names it (``"job"``, ``"run"``), for the error's advice.
        wanted: the model file looked for, for the error.
    """
    goal = PrimaryMetricGoal.MAXIMIZE  # every AutoML classification metric is maximised
    ordered = results.ranked(trials, goal)
    if not ordered:
        results.best_trial(trials, goal, spec.metric)  # raises, naming the statuses seen
    # Best first: the first trial with the wanted model within max_model_size_mb.
    found = results.first_that_fits(ordered, fetch, spec.max_model_size_mb)
    if found is None:
        raise results.nothing_fits(
            ordered,
            spec.max_model_size_mb,
            f"none of the {len(ordered)} completed AutoML {children} left {wanted}; "
            f"open the {parent} in Azure ML studio to see its outputs",
        )
    best, path = found
    return results.make_result(
        trials,
        best,
        results.load_model_file(path),
        metric=spec.metric,
        goal=goal,
        backend=backend,
        run_dir=run_dir,
        extras=note_automl_refit(spec, extras),
    )


__all__ = [
    "finish_automl",
    "AUTOML_REFIT",
    "REFIT_FLAG",
    "RefitJobFailed",
    "RefitPlan",
    "command_line",
    "note_automl_refit",
    "plan_refit",
    "run_refit",
    "v1_refit_config",
    "v2_refit_job",
]


def finish_sweep(
    spec: SweepSpec,
    trials: list[results.Trial],
    download: Callable[[results.Trial], Path],
    images: int,
    submit_refit: Callable[[RefitPlan], Path],
    *,
    backend: str,
    run_dir: Path,
    extras: dict[str, Any],
    sweep: str,
) -> TrainingResult:
    """A finished sweep's result, on either SDK: the best trial whose model fits the size budget, then
    (``refit=True``) the refit job.

    Args:
        trials: the sweep's trials; ``download`` fetches one's outputs and returns their folder.
        images: how many images the refit trains on (training part plus validation).
        submit_refit: runs the refit job for a plan and returns the folder of its outputs.
        sweep: names the sweep in errors, e.g. ``"sweep <job>"``.
    """
    results.best_trial(trials, spec.goal, spec.metric)  # raises when none completed

    def fetch(trial: results.Trial) -> Path:  # a completed trial always saves outputs/model.keras
        try:
            return results.find_model_file(download(trial), prefer_onnx=False)  # .keras: larger than its ONNX
        except ModelFileError as exc:
            raise ModelFileError(f"{sweep}, trial {trial.trial}: {exc}") from exc

    ordered = results.ranked(trials, spec.goal)
    found = results.first_that_fits(ordered, fetch, spec.max_model_size_mb)
    if found is None:
        raise results.nothing_fits(ordered, spec.max_model_size_mb, f"{sweep}: no model file")
    best, path = found
    result = results.make_result(
        trials,
        best,
        results.load_model_file(path),
        metric=spec.metric,
        goal=spec.goal,
        backend=backend,
        run_dir=run_dir,
        extras=extras,
    )
    if not spec.refit:
        return result
    return run_refit(spec, result, plan_refit(spec, result, images), submit_refit, backend)
