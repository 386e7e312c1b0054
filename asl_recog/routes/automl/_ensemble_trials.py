"""What the voting and the stack ensembles share: their candidate members, and how an ensemble joins the study.

Both ensembles are built after the search from the completed trials' saved models
and validation probabilities, and each is added to the study as one more completed
trial once it passes the model-size budget and the ONNX check, so the leaderboard,
selection and refit treat it like any pipeline.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState, create_trial

from asl_recog.models._base import SKLEARN_SUFFIX, SklearnModel
from asl_recog.models._budgets import CandidateRejected, check_model
from asl_recog.routes.automl._portfolio import ENSEMBLES

logger = logging.getLogger("asl_recog")


def trial_model_path(run_dir: Path, number: int) -> Path:
    """Where single-model trial ``number`` saves its model."""
    return run_dir / "models" / f"trial_{number:05d}{SKLEARN_SUFFIX}"


def proba_path(model_file: str | Path) -> Path:
    """Where a trial's validation probabilities are saved: beside its model file, as ``.proba.npy``.

    Example:
        >>> proba_path(trial_model_path(Path("run"), 3)).as_posix()
        'run/models/trial_00003.proba.npy'
    """
    return Path(model_file).with_suffix(".proba.npy")


def _proba_file(trial: FrozenTrial) -> Path:
    return proba_path(trial.user_attrs["model_file"])


def member_candidates(study: optuna.Study, top: int) -> list[FrozenTrial]:
    """The ``top`` best completed single-model trials that saved a model and its validation probabilities."""
    trials = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.user_attrs.get("params", {}).get("algorithm") not in ENSEMBLES
        and t.user_attrs.get("model_file")
        and _proba_file(t).is_file()
    ]
    return sorted(trials, key=lambda t: -(t.value or 0.0))[:top]  # a completed trial always has a value


def member_probabilities(trials: list[FrozenTrial]) -> list[Any]:
    """Each trial's validation probabilities, saved beside its model: (N, 24) arrays, as np.load gives them."""
    return [np.load(_proba_file(t)) for t in trials]


def add_ensemble_trial(
    study: optuna.Study,
    estimator: Any,
    params: dict[str, Any],
    info: dict[str, Any],
    value: float,
    *,
    run_dir: Path,
    file_stem: str,
    what: str,
    max_model_size_mb: float,
    onnx: bool,
    max_latency_ms: float | None = None,
    rejections: list[CandidateRejected] | None = None,
) -> bool:
    """Save ``estimator``, check it against the budgets, and add it to the study as a completed trial.

    A candidate over a budget is left out with a log line, never raised: the
    search's result stands without it. ``max_latency_ms`` times the exported ensemble
    itself (its members' latencies add up); ``rejections``, if given, receives the reason
    of a candidate left out, so the caller can trim the ensemble and try again.
    """
    path = SklearnModel(estimator, params, info).save(
        run_dir / "models" / f"{file_stem}_{len(study.trials):05d}.aslskl"
    )
    measured: dict[str, float] = {}
    try:
        info["onnx_bytes"] = check_model(
            path, estimator, max_model_size_mb, onnx=onnx, max_latency_ms=max_latency_ms, measured=measured
        )
    except CandidateRejected as exc:
        path.unlink()
        logger.info("%s of trials %s left out: %s", what, params["members"], exc)
        if rejections is not None:
            rejections.append(exc)
        return False
    info.update(measured)
    info["file_bytes"] = path.stat().st_size
    study.add_trial(
        create_trial(
            value=value,
            params={},
            distributions={},
            user_attrs={"params": params, "model_file": str(path), "info": info, "history": [value]},
            state=TrialState.COMPLETE,
        )
    )
    return True


__all__ = ["add_ensemble_trial", "member_candidates", "member_probabilities", "proba_path", "trial_model_path"]
