"""The local AutoML search: model choice and hyperparameters tuned together with Optuna.

Like Azure Automated ML, the search first tries a sensible default of each
allowed algorithm (strong and affordable ones first), then lets a TPE sampler
explore the conditional space ``algorithm -> that algorithm's params``. Every
trial runs in its own worker process, so a trial over
``iteration_timeout_minutes`` is stopped and recorded failed, and the search stops
at ``experiment_timeout_minutes`` (trials still running then are stopped too).
With ``enable_early_stopping``, the search ends once every allowed algorithm has
run and the best score has not improved over the last 10 completed trials.
Finally, a soft-voting ensemble of the best models (Caruana's greedy selection on
the validation predictions, as Azure's VotingEnsemble) and a stacking ensemble
(``_stacking.py``, Azure's StackEnsemble) join the leaderboard.

Before the trials, the data guardrails are checked (``_guardrails.py``) and the
algorithms are ordered by the fit times measured on small samples
(``_ordering.py``): what cannot finish in the budget is skipped, with the reason.
"""

from __future__ import annotations

import logging
import math
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState
from threadpoolctl import threadpool_limits

from asl_recog.backends.local._engine import ConditionalProposal, enqueue_params
from asl_recog.backends.local._plan import LocalPlan
from asl_recog.backends.local._scheduler import Schedule, TrialOutcome
from asl_recog.backends.local._workers import thread_env
from asl_recog.data._augment import tabular_copies
from asl_recog.data._dataset import SignMnistDataset
from asl_recog.data._labels import labels_to_indices
from asl_recog.evaluation._metrics import score
from asl_recog.models._base import SklearnModel
from asl_recog.models._budgets import CandidateRejected, LatencyExceeded, check_model
from asl_recog.models._latency import MARGIN
from asl_recog.models._parity import parity_sample
from asl_recog.routes._settings import DEFAULT_MAX_MODEL_SIZE_MB
from asl_recog.routes.automl._budget import (
    FIRST_RESULT_GRACE_SHARE,
    compare_estimates,
    first_trials,
    no_trial_error,
)
from asl_recog.routes.automl._ensemble_trials import (
    add_ensemble_trial,
    member_candidates,
    member_probabilities,
    proba_path,
    trial_model_path,
)
from asl_recog.routes.automl._guardrails import guardrails
from asl_recog.routes.automl._portfolio import ALGORITHMS, ENSEMBLE, ENSEMBLES, build_pipeline, search_spaces
from asl_recog.routes.automl._settings import AutoMLSettings
from asl_recog.routes.automl._stacking import add_stack_ensemble
from asl_recog.routes.automl._voting import ensemble_selection, least_loss_per_ms, soft_voting

logger = logging.getLogger("asl_recog")

PATIENCE = 10


def _load(payload: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    folder = Path(payload["data_dir"])
    x, y, vx, vy = (np.load(folder / f"{name}.npy") for name in ("x", "y", "vx", "vy"))
    flat = lambda images: images.reshape(len(images), -1).astype(np.float32) / 255.0  # noqa: E731
    return flat(x), labels_to_indices(y), flat(vx), labels_to_indices(vy)


def automl_runner(task: Any, reporter: Any) -> Any:
    """Fit and score one pipeline (runs in a worker process)."""
    payload = task.payload
    params = dict(task.params)
    algorithm = params.pop("algorithm")
    with threadpool_limits(payload.get("threads")), warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)  # convergence chatter of capped iterations
        warnings.simplefilter("ignore", category=FutureWarning)
        x, y, vx, vy = _load(payload)
        start = time.perf_counter()
        pipeline = build_pipeline(algorithm, params, task.seed, payload.get("featurization", "auto")).fit(x, y)
        seconds = time.perf_counter() - start
        model = SklearnModel(pipeline, task.params)
        proba = model.predict_proba(vx)
    value = score(payload["metric"], vy, proba)
    info = {
        "algorithm": algorithm,
        "validation_score": value,
        "primary_metric": payload["metric"],
        "training_seconds": seconds,
        "augment": payload["augment"],
        "trial": task.number,
        "guardrails": payload.get("guardrails", []),
    }
    model.info = info
    path = model.save(trial_model_path(Path(task.run_dir), task.number))
    measured: dict[str, float] = {}
    try:
        info["onnx_bytes"] = check_model(
            path,
            pipeline,
            payload["max_model_size_mb"],
            onnx=payload["onnx"],
            max_latency_ms=payload.get("max_latency_ms"),
            measured=measured,
            parity_rows=parity_sample(vx),
        )
    except CandidateRejected:
        path.unlink()  # a rejected model must not fill the disk
        raise
    info.update(measured)
    info["file_bytes"] = path.stat().st_size
    np.save(proba_path(path), proba)
    reporter.report(1, value)
    return TrialOutcome("complete", value, [value], str(path), info)


class EarlyStop:
    """Stop once every algorithm has run and the last ``patience`` completed trials did not improve."""

    def __init__(self, algorithms: int, patience: int = PATIENCE) -> None:
        self.algorithms, self.patience = algorithms, patience

    def __call__(self, study: optuna.Study) -> bool:
        values = [
            t.value
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.value is not None and t.user_attrs.get("params", {}).get("algorithm") not in ENSEMBLES
        ]
        if len(values) < self.algorithms + self.patience:
            return False
        return max(values[-self.patience :]) <= max(values[: -self.patience])


def add_ensemble(
    study: optuna.Study,
    run_dir: Path,
    metric: str,
    targets: np.ndarray,
    top: int = 10,
    max_model_size_mb: float = DEFAULT_MAX_MODEL_SIZE_MB,
    onnx: bool = True,
    extra_info: dict[str, Any] | None = None,
    max_latency_ms: float | None = None,
) -> None:
    """Add a soft-voting ensemble of the best trials to the study, when a mix beats one model
    and the ensemble fits the model-size and latency budgets.

    An exported ensemble over ``max_latency_ms`` is trimmed: the member whose leaving costs the
    least validation score per millisecond saved (:func:`least_loss_per_ms`) leaves the
    candidates and the selection runs again, until the ensemble fits or fewer than two
    members remain.
    """
    trials = member_candidates(study, top)
    scorer = lambda y, p: score(metric, y, p)  # noqa: E731
    while len(trials) >= 2:
        probas = member_probabilities(trials)
        counts = ensemble_selection(probas, targets, scorer)
        members = [(t, c) for t, c in zip(trials, counts, strict=True) if c > 0]
        member_probas = [p for p, c in zip(probas, counts, strict=True) if c > 0]
        if len(members) < 2:
            logger.info("voting ensemble: no mix beats the best single model; none added")
            return
        estimators = [SklearnModel.load(t.user_attrs["model_file"]).estimator for t, _ in members]
        voting = soft_voting(estimators, [c for _, c in members])
        proba = sum(c * p for (_, c), p in zip(members, member_probas, strict=True))
        value = score(metric, targets, proba / sum(c for _, c in members))
        params = {"algorithm": ENSEMBLE, "members": [t.number for t, _ in members], "weights": [c for _, c in members]}
        info = {
            "algorithm": ENSEMBLE,
            "validation_score": value,
            "primary_metric": metric,
            "members": [t.user_attrs["params"]["algorithm"] for t, _ in members],
            "training_seconds": sum(t.user_attrs.get("info", {}).get("training_seconds", 0.0) for t, _ in members),
            **(extra_info or {}),
        }
        rejections: list[CandidateRejected] = []
        if add_ensemble_trial(
            study,
            voting,
            params,
            info,
            value,
            run_dir=run_dir,
            file_stem="ensemble",
            what="voting ensemble",
            max_model_size_mb=max_model_size_mb,
            onnx=onnx,
            max_latency_ms=max_latency_ms,
            rejections=rejections,
        ):
            logger.info("voting ensemble of trials %s: %s=%.4f", params["members"], metric, value)
            return
        over = [r for r in rejections if isinstance(r, LatencyExceeded)]
        if not over or max_latency_ms is None:
            return
        ms = [t.user_attrs.get("info", {}).get("onnx_latency_ms", 0.0) for t, _ in members]
        need = (over[0].latency_ms or 0.0) - max_latency_ms / MARGIN
        leaving, _ = members[least_loss_per_ms(member_probas, [c for _, c in members], ms, targets, scorer, need)]
        logger.info(
            "voting ensemble over max_latency_ms: trial %d leaves it (the least %s lost per millisecond saved)",
            leaving.number,
            metric,
        )
        trials.remove(leaving)


def local_plan(
    trainer: AutoMLSettings, train: SignMnistDataset, validation: SignMnistDataset, run_dir: Path
) -> LocalPlan:
    """The local search of an :class:`AutoMLTrainer`."""
    start = time.perf_counter()
    allowed = set(trainer.algorithms())
    algorithms = [a for a in ALGORITHMS if a in allowed]
    seed = trainer.seed or 0
    featurization = getattr(trainer, "featurization", "auto")
    images, labels = train.images, train.labels
    if trainer.augment:
        images, labels = tabular_copies(images, labels, seed)
    folder = run_dir / "data"
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in (("x", images), ("y", labels), ("vx", validation.images), ("vy", validation.labels)):
        np.save(folder / f"{name}.npy", array)
    concurrent = trainer.max_concurrent_iterations
    threads = max(1, (os.cpu_count() or 1) // concurrent)
    checks = guardrails(
        train, validation, rows=len(images), workers=concurrent, max_model_size_mb=trainer.max_model_size_mb
    )
    for check in checks:
        level = logging.WARNING if check["status"] == "alerted" else logging.INFO
        logger.log(level, "AutoML guardrail %s: %s (%s)", check["name"], check["status"], check["description"])
    max_latency_ms = getattr(trainer, "max_latency_ms", None)
    spaces, defaults = search_spaces(algorithms, featurization, latency_limited=max_latency_ms is not None)
    total = trainer.experiment_timeout_minutes * 60
    trial_timeout = trainer.iteration_timeout_minutes * 60
    # Budget-aware order: the baseline, then cheapest first (measured now on this machine, or static).
    with threadpool_limits(threads):
        flat = images.reshape(len(images), -1).astype(np.float32) / 255.0
        first = first_trials(
            trainer,
            algorithms,
            defaults,
            flat,
            labels_to_indices(labels),
            started=start,
            featurization=featurization,
            seed=seed,
        )
        del flat
    ordering = first.ordering
    if not first.trials:  # nothing fits: keep the quickest, so the search still tries one
        quickest = min(ordering.skipped, key=lambda a: ordering.estimates.get(a, math.inf))
        ordering.order, _ = [quickest], ordering.skipped.pop(quickest)
        first.trials.append((quickest, quickest, defaults[quickest]))
    for algorithm, why in ordering.skipped.items():
        logger.info("AutoML skips %s: %s", algorithm, why)
    if ordering.deferred:
        logger.info("AutoML tries %s last: estimated near the limit, or over what the others leave", ordering.deferred)
    logger.info("AutoML first trials, in order: %s", [name for name, _, _ in first.trials])
    # The baseline's algorithm stays searchable even where its default configuration was skipped.
    searched = list(dict.fromkeys([a for _, a, _ in first.trials] + ordering.order))
    # multivariate + group lets TPE model the conditional space algorithm -> params.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True)
    onnx = bool(trainer.enable_onnx_compatible_models)
    payload: dict[str, Any] = {
        "data_dir": str(folder),
        "metric": trainer.primary_metric,
        "augment": bool(trainer.augment),
        "max_model_size_mb": trainer.max_model_size_mb,
        "max_latency_ms": max_latency_ms,
        "onnx": onnx,
        "threads": threads,
        "featurization": featurization,
        "guardrails": checks,
    }
    # Keep a little of the budget for the ensembles and the result, as AutoML does.
    budget = total - min(30.0, 0.03 * total) - (time.perf_counter() - start)
    schedule = Schedule(
        propose=ConditionalProposal("algorithm", {a: spaces[a] for a in searched}),
        runner=automl_runner,
        max_trials=trainer.max_iterations or 10_000,
        max_concurrent=concurrent,
        deadline_s=max(budget, 1.0),
        hard_deadline=True,
        first_result_grace_s=min(trial_timeout, FIRST_RESULT_GRACE_SHARE * total),
        trial_timeout_s=trial_timeout,
        in_process=False,
        seed=seed,
        payload=payload,
        env=thread_env(threads),
        should_stop=EarlyStop(len(searched)) if trainer.enable_early_stopping else None,
    )
    targets = labels_to_indices(validation.labels)
    extras: dict[str, Any] = {
        "augmented_training_images": len(images),
        "guardrails": checks,
        "ordering": {
            "order": ordering.order,
            "skipped": ordering.skipped,
            "deferred": ordering.deferred,
            "estimated_fit_seconds": {a: round(v, 2) for a, v in ordering.estimates.items()},
            "probe_seconds": round(ordering.probe_seconds, 2),
            "estimated_latency_ms": {a: round(v, 3) for a, v in ordering.latencies.items()},
            "first_trials": [name for name, _, _ in first.trials],
            "repeatable": first.repeatable,
        },
        "featurization": featurization if isinstance(featurization, str) else repr(featurization),
    }

    def ensembles(study: optuna.Study, run_dir: Path) -> None:
        error = no_trial_error(study, trainer, first)
        if error is not None:
            raise error
        if not trainer.resume:
            extras["ordering"]["estimated_vs_actual"] = compare_estimates(study, first)
        size, extra = trainer.max_model_size_mb, {"guardrails": checks}
        latency = getattr(trainer, "max_latency_ms", None)
        if trainer.enable_voting_ensemble:
            add_ensemble(
                study,
                run_dir,
                trainer.primary_metric,
                targets,
                max_model_size_mb=size,
                onnx=onnx,
                extra_info=extra,
                max_latency_ms=latency,
            )
        if getattr(trainer, "enable_stack_ensemble", False):
            add_stack_ensemble(
                study,
                run_dir,
                trainer.primary_metric,
                validation,
                max_model_size_mb=size,
                onnx=onnx,
                seed=seed,
                extra_info=extra,
                max_latency_ms=latency,
            )

    return LocalPlan(
        schedule=schedule,
        sampler=sampler,
        metric=trainer.primary_metric,
        expected_trials=trainer.max_iterations,  # None: as many as the time allows
        initial=[{"algorithm": a, **enqueue_params(spaces[a], params, f"{a}.")} for _, a, params in first.trials],
        model_name=lambda t: str(t.user_attrs.get("params", {}).get("algorithm", "?")),
        after_search=ensembles,
        extras=extras,
    )


__all__ = ["EarlyStop", "add_ensemble", "automl_runner", "local_plan"]
