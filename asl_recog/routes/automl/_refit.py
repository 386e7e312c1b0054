"""The AutoML route's refit: the selected pipeline, or each member of the selected ensemble,
trained again on all the data given to ``fit`` (training part plus validation).

A StackEnsemble keeps its meta-learner: it was fitted on the members' predictions for
images they had not seen, which refit members can no longer give for those images
(scikit-learn's ``StackingClassifier`` makes the same choice: meta-learner on held-out
predictions, members on all the data)."""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from asl_recog.data._augment import tabular_copies
from asl_recog.data._dataset import SignMnistDataset
from asl_recog.data._labels import labels_to_indices
from asl_recog.evaluation._metrics import score
from asl_recog.models._base import SklearnModel
from asl_recog.models._budgets import CandidateRejected, LatencyExceeded, check_model
from asl_recog.models._latency import MARGIN
from asl_recog.models._parity import parity_sample
from asl_recog.results import TrainingResult
from asl_recog.results._refit import adopt_refit, all_images, keep_trial_model
from asl_recog.routes.automl._ensemble_trials import proba_path, trial_model_path
from asl_recog.routes.automl._portfolio import ENSEMBLE, STACK_ENSEMBLE, build_pipeline
from asl_recog.routes.automl._settings import AutoMLSettings
from asl_recog.routes.automl._stacking import stack_ensemble
from asl_recog.routes.automl._voting import least_loss_per_ms, soft_voting

logger = logging.getLogger("asl_recog")


def refit_automl(
    trainer: AutoMLSettings,
    result: TrainingResult,
    train: SignMnistDataset,
    validation: SignMnistDataset,
    run_dir: Path,
) -> TrainingResult:
    """Retrain the winning pipeline (or each member of the winning ensemble) on all the images."""
    images, labels = all_images(train, validation)
    if trainer.augment:
        images, labels = tabular_copies(images, labels, trainer.seed or 0)
    x = images.reshape(len(images), -1).astype(np.float32) / 255.0
    y = labels_to_indices(labels)
    params = dict(result.best_params)
    seed = trainer.seed or 0
    featurization = getattr(trainer, "featurization", "auto")
    start = time.perf_counter()
    # As in the trials: a capped number of iterations (the MLP's epochs are a searched budget)
    # is a choice, and scikit-learn's ConvergenceWarning says nothing a user could act on.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=ConvergenceWarning)
        if params.get("algorithm") in (ENSEMBLE, STACK_ENSEMBLE):
            params_of = result.leaderboard.set_index("trial")["params"]
            members: list[dict[str, Any]] = [dict(params_of[number]) for number in params["members"]]
            estimators = [build_pipeline(m.pop("algorithm"), m, seed, featurization).fit(x, y) for m in members]
            if params["algorithm"] == ENSEMBLE:
                estimator = soft_voting(estimators, list(params["weights"]))
            else:
                selected = result.best_model
                if not isinstance(selected, SklearnModel):
                    raise TypeError(f"a StackEnsemble is a scikit-learn model; got {type(selected).__name__}")
                estimator = stack_ensemble(estimators, selected.estimator.final_estimator_)
        else:
            settings = {k: v for k, v in params.items() if k != "algorithm"}
            estimator = build_pipeline(params["algorithm"], settings, seed, featurization).fit(x, y)
    seconds = time.perf_counter() - start
    info = {
        **result.best_model.info,
        "refit": True,
        "refit_images": len(train) + len(validation),
        "refit_rows": len(x),
        "training_seconds": seconds,
        "selected_trial": result.best_trial,
    }
    trimmed: list[str] = []
    while True:
        model = SklearnModel(estimator, params, info)
        path = model.save(run_dir / "refit" / "model.aslskl")
        measured: dict[str, float] = {}
        try:
            # The refit model holds more rows (a KNN stores them all): its latency is measured again.
            info["onnx_bytes"] = check_model(
                path,
                estimator,
                trainer.max_model_size_mb,
                max_latency_ms=getattr(trainer, "max_latency_ms", None),
                measured=measured,
                # Each member passed alone in its trial; refit on more rows, a model can still move
                # with float32 rounding beyond what the export accepts (a voting ensemble with a
                # Nystroem SVM did, after a 15-minute search). The trial's model then stays.
                parity_rows=parity_sample(x),
            )
        except LatencyExceeded as exc:
            # A KNN over every row served at 0.44 ms from 65k trial rows and 1.50 ms from 82k refit
            # rows (the stored matrix left the processor's cache). As the search trims an ensemble
            # over the limit, the refit ensemble loses one member (_trimmed); the others are kept
            # as they were refit, on all the images.
            if params.get("algorithm") != ENSEMBLE or len(params["members"]) < 2:
                return keep_trial_model(result, str(exc))
            limit = getattr(trainer, "max_latency_ms", None) or 0.0
            need = (exc.latency_ms or 0.0) - limit / MARGIN
            estimator, params, note, dropped = _trimmed(
                estimator, params, run_dir, validation, trainer.primary_metric, need
            )
            if len(info.get("members", [])) > dropped:  # the members' algorithm names, as the trial gave them
                info["members"] = [m for i, m in enumerate(info["members"]) if i != dropped]
            trimmed.append(note)
            info["refit_trimmed"] = list(trimmed)
            logger.warning("refit voting ensemble over max_latency_ms (%s): %s", exc, note)
            continue
        except CandidateRejected as exc:
            return keep_trial_model(result, str(exc))
        break
    # The model keeps a copy of ``info``: what the check measured goes to the model itself.
    model.info.update(measured, onnx_bytes=info["onnx_bytes"])
    if trimmed:
        result.extras["refit_trimmed"] = "; ".join(trimmed)
    return adopt_refit(result, model, seconds, str(params.get("algorithm")))


def _trimmed(
    voting: Any, params: dict[str, Any], run_dir: Path, validation: SignMnistDataset, metric: str, need_ms: float
) -> tuple[Any, dict[str, Any], str, int]:
    """The refit soft-voting ensemble less one member, its parameters, what left and that member's index.

    The member that leaves is the one whose leaving costs the least validation score per
    millisecond saved (each member timed alone at its refit size; a saving counts at most
    ``need_ms``, what brings the ensemble under the limit), as the search trims
    (:func:`~asl_recog.routes.automl._voting.least_loss_per_ms`), scored on the members'
    validation probabilities saved by their trials. Without those files (a search run
    elsewhere), the slowest member leaves.
    """
    from asl_recog.models._export import convert_sklearn_estimator
    from asl_recog.models._latency import onnx_latency_ms

    estimators = list(voting.estimators_)
    members, weights = list(params["members"]), list(params["weights"])
    times = [onnx_latency_ms(convert_sklearn_estimator(e)) for e in estimators]
    files = [proba_path(trial_model_path(run_dir, number)) for number in members]
    if all(f.is_file() for f in files):
        scorer = lambda y, p: score(metric, y, p)  # noqa: E731
        targets = labels_to_indices(validation.labels)
        leaving = least_loss_per_ms([np.load(f) for f in files], weights, times, targets, scorer, need_ms)
        why = f"the least {metric} lost per millisecond saved"
    else:
        leaving, why = int(np.argmax(times)), "the slowest; its trial's validation probabilities are not here"
    keep = [i for i in range(len(estimators)) if i != leaving]
    name = type(estimators[leaving]).__name__
    if hasattr(estimators[leaving], "steps"):  # a pipeline: name its model, not "Pipeline"
        name = type(estimators[leaving].steps[-1][1]).__name__
    note = f"trial {members[leaving]} ({name}, {times[leaving]:.2f} ms per image refit; {why}) left the ensemble"
    kept = {**params, "members": [members[i] for i in keep], "weights": [weights[i] for i in keep]}
    return soft_voting([estimators[i] for i in keep], kept["weights"]), kept, note, leaving


__all__ = ["refit_automl"]
