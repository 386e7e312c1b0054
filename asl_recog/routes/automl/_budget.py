"""What the AutoML search does with its time: the order of its first trials, and what it says when nothing finished.

Two modes (see :class:`~asl_recog.AutoMLTrainer`'s ``seed``):

- **repeatable** (a seed, ``max_iterations`` and ``max_concurrent_iterations=1``): no
  probes; the baseline, then the static cheap-first order. The same settings choose the
  same algorithms in the same order on any machine, under any load.
- **timed** (otherwise): probes measure fit times, capped at a share of the budget, and
  order the trials cheapest first; what cannot finish is skipped (``_ordering.py``).

After the search, the probes' estimates are compared with the trials' real fit times
(estimates off by more than :data:`WRONG_BY` are logged as wrong), and when no trial
finished the error names the smallest budget that would have worked.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from asl_recog._errors import TrialFailedError
from asl_recog.routes.automl._ordering import (
    BASELINE,
    BASELINE_KEY,
    PROBE_BUDGET_SHARE,
    Ordering,
    baseline_first,
    cheap_first,
    order_by_budget,
    probe,
)

logger = logging.getLogger("asl_recog")

#: An estimate off by more than this factor, either way, is logged as wrong.
WRONG_BY = 1.5
#: Seconds a trial takes beyond its fit: a worker process starts and imports scikit-learn,
#: loads the data, scores the validation images, converts to ONNX and saves. Measured:
#: 6-9 s for small-data trials on the shared 2-core machine (test_automl_budget.py).
TRIAL_OVERHEAD_S = 10.0
#: Share of the budget kept for the ensembles and the result (see ``_search.local_plan``).
RESERVE_SHARE = 0.03
#: When the time limit comes before any trial finished, the running trials may go on for up
#: to this share of the budget (and within the trial limit): a machine slower than the probes
#: measured then costs time, not the model. Half: a 2-minute search ends by 3 minutes.
FIRST_RESULT_GRACE_SHARE = 0.5


@dataclass
class FirstTrials:
    """The first trials of a search: ``[(name, algorithm, params)]`` in order, and how they were chosen."""

    trials: list[tuple[str, str, dict[str, Any]]]
    ordering: Ordering
    repeatable: bool
    setup_seconds: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)


def is_repeatable(trainer: Any) -> bool:
    """The repeatable mode: a seed, a trial count and one worker (no timed probes decide anything).

    Example:
        >>> is_repeatable(AutoMLTrainer(seed=0, max_iterations=5)), is_repeatable(AutoMLTrainer(seed=0))
        (True, False)
    """
    return trainer.seed is not None and trainer.max_iterations is not None and trainer.max_concurrent_iterations == 1


def first_trials(
    trainer: Any,
    algorithms: list[str],
    defaults: dict[str, dict[str, Any]],
    x: np.ndarray,
    y: np.ndarray,
    *,
    started: float,
    featurization: Any,
    seed: int,
) -> FirstTrials:
    """The baseline, then each algorithm's first configuration, cheapest first (see the module's notes).

    Args:
        trainer: the :class:`AutoMLTrainer`.
        algorithms: the allowed algorithms.
        defaults: each algorithm's first configuration.
        x, y: the training rows as the trials see them (flat pixels, class indices).
        started: ``time.perf_counter()`` when the search started (the budget runs from then).
        featurization: the trainer's setting.
        seed: the search's seed.
    """
    total = trainer.experiment_timeout_minutes * 60
    trial_timeout = trainer.iteration_timeout_minutes * 60
    concurrent = trainer.max_concurrent_iterations
    algorithm, settings = BASELINE
    baseline = {**defaults.get(algorithm, {}), **settings} if algorithm in algorithms else None
    if is_repeatable(trainer):
        order = cheap_first(algorithms)
        chosen = FirstTrials([], Ordering(order=order), repeatable=True)
        chosen.trials = ([(BASELINE_KEY, algorithm, baseline)] if baseline else []) + [
            (a, a, defaults[a]) for a in order
        ]
        chosen.setup_seconds = time.perf_counter() - started
        logger.info("AutoML repeatable mode (seed, max_iterations, one worker): static cheap-first order %s", order)
        return chosen
    probed = {**({BASELINE_KEY: {**baseline, "algorithm": algorithm}} if baseline else {}), **defaults}
    names = ([BASELINE_KEY] if baseline else []) + cheap_first(algorithms)
    probe_start = time.perf_counter()
    # The trial limit only shrinks while the probes run: safe to skip on.
    limit_ms = getattr(trainer, "max_latency_ms", None)
    latencies: dict[str, float] | None = {} if limit_ms is not None else None
    estimates = probe(names, probed, x, y, total, featurization, seed, min(total, trial_timeout), latencies)
    probe_seconds = time.perf_counter() - probe_start
    remaining = total - (time.perf_counter() - started)
    baseline_s = estimates.pop(BASELINE_KEY, None)
    # A trial runs on one worker: it must also end with the experiment (remaining).
    ordering = order_by_budget(
        cheap_first(algorithms, estimates),
        estimates,
        remaining * concurrent,
        trial_timeout,
        remaining,
        latencies=latencies,
        max_latency_ms=limit_ms,
    )

    ordering.probe_seconds = probe_seconds
    if baseline_s is not None:
        ordering.estimates[BASELINE_KEY] = baseline_s
    logger.info(
        "AutoML measured %d fit times in %.1f s (capped at %.0f%% of the budget: %.1f s)",
        len(ordering.estimates),
        probe_seconds,
        100 * PROBE_BUDGET_SHARE,
        PROBE_BUDGET_SHARE * total,
    )
    chosen = FirstTrials([], ordering, repeatable=False)
    rest = [(a, a, defaults[a]) for a in ordering.order]
    if baseline is None:
        chosen.trials = rest
    # Only the algorithm that would go first instead counts, and only if it was measured: an
    # algorithm skipped as too slow, or one left unmeasured, must not push the baseline back (a
    # loaded 3-second search once put the unmeasured MLP default first, ahead of the measured baseline).
    elif baseline_first(
        baseline_s,
        {a: estimates[a] for a in ordering.order[:1] if a in estimates},
        min(max(remaining, 0.0), trial_timeout),
    ):
        chosen.trials = [(BASELINE_KEY, algorithm, baseline), *rest]
    else:
        chosen.trials = [*rest[:1], (BASELINE_KEY, algorithm, baseline), *rest[1:]]
    chosen.setup_seconds = time.perf_counter() - started - probe_seconds
    return chosen


def compare_estimates(study: optuna.Study, first: FirstTrials) -> dict[str, dict[str, float]]:
    """Each probed first configuration's estimate against its trial's real fit seconds; log the wrong ones.

    The first trials are queued before any other, so trial ``i`` of a new study is ``first.trials[i]``.

    Returns:
        ``{name: {"estimated_s", "actual_s", "ratio"}}`` for every first trial that finished.
    """
    out: dict[str, dict[str, float]] = {}
    estimates = first.ordering.estimates
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if trial.number >= len(first.trials):
            continue
        name = first.trials[trial.number][0]
        actual = trial.user_attrs.get("info", {}).get("training_seconds")
        if name not in estimates or actual is None:
            continue
        ratio = actual / max(estimates[name], 1e-6)
        out[name] = {"estimated_s": round(estimates[name], 1), "actual_s": round(actual, 1), "ratio": round(ratio, 2)}
        if not 1 / WRONG_BY <= ratio <= WRONG_BY:
            # Too low risks the budget (a warning); too high only put the trial later (information).
            too_low = ratio > WRONG_BY
            logger.log(
                logging.WARNING if too_low else logging.INFO,
                "AutoML estimate wrong: %s was estimated at %.1f s to fit and took %.1f s (%.2fx%s)",
                name,
                estimates[name],
                actual,
                ratio,
                "" if too_low else "; too high, which only put it later",
            )
    return out


def smallest_budget_minutes(setup_s: float, fit_s: float) -> float:
    """The least ``experiment_timeout_minutes`` in which a ``fit_s``-second first trial finishes.

    The search spends ``setup_s`` before its trials, up to :data:`PROBE_BUDGET_SHARE` of the
    budget on probes and :data:`RESERVE_SHARE` on the result; a trial adds
    :data:`TRIAL_OVERHEAD_S` to its fit. Rounded up to a tenth of a minute.

    Example:
        >>> smallest_budget_minutes(setup_s=5.0, fit_s=14.0)
        0.6
    """
    seconds = (setup_s + TRIAL_OVERHEAD_S + fit_s) / (1 - PROBE_BUDGET_SHARE - RESERVE_SHARE)
    return math.ceil(seconds / 6) / 10


def _seconds(trial: optuna.trial.FrozenTrial) -> float:
    end, begin = trial.datetime_complete, trial.datetime_start
    return (end - begin).total_seconds() if end and begin else 0.0


def no_trial_error(study: optuna.Study, trainer: Any, first: FirstTrials) -> TrialFailedError | None:
    """The error of a search in which no trial finished (None when one did), naming what would have worked.

    Hints name only AutoML's own settings, and only ones the search could act on.
    """
    trials = study.get_trials(deepcopy=False)
    if any(t.state == TrialState.COMPLETE for t in trials):
        return None
    failed = [t for t in trials if t.state == TrialState.FAIL]
    stopped = [t for t in failed if str(t.user_attrs.get("error", "")).startswith("stopped")]
    others = [t for t in failed if t not in stopped]
    budget = trainer.experiment_timeout_minutes
    parts = [f"no trial finished within experiment_timeout_minutes={budget:g}"]

    def algorithm_of(t: optuna.trial.FrozenTrial) -> str:
        return str(t.user_attrs.get("params", {}).get("algorithm", "?"))

    if others:
        t = others[0]
        parts.append(
            f"{len(others)} trial(s) failed, the first (trial {t.number}, {algorithm_of(t)}): "
            f"{t.user_attrs.get('error')}"
        )
    if stopped:
        t = stopped[0]
        parts.append(f"trial {t.number} ({algorithm_of(t)}) {t.user_attrs.get('error')}")
    if not stopped and failed:
        return TrialFailedError("; ".join(parts))
    name, algorithm, _ = first.trials[0] if first.trials else ("?", "?", {})
    label = f"{algorithm} (baseline)" if name == BASELINE_KEY else algorithm
    fit_s = first.ordering.estimates.get(name)
    if fit_s is None:
        by_trial_limit = any("trial time limit" in str(t.user_attrs.get("error")) for t in stopped)
        setting, now = (
            ("iteration_timeout_minutes", trainer.iteration_timeout_minutes)
            if by_trial_limit
            else ("experiment_timeout_minutes", budget)
        )
        ran = max((_seconds(t) for t in stopped), default=0.0)
        parts.append(
            f"the first trial, {label}, had no measured estimate (no probes in the repeatable mode or in this "
            f"budget) and ran {ran:.0f} s before it was stopped: raise {setting} above {now:g}"
        )
        return TrialFailedError("; ".join(parts))
    fixes = []
    trial_minutes = math.ceil((fit_s + TRIAL_OVERHEAD_S) / 6) / 10
    if trainer.iteration_timeout_minutes < trial_minutes:
        fixes.append(f"iteration_timeout_minutes={trial_minutes:g}")
    need = smallest_budget_minutes(first.setup_seconds, fit_s)
    if budget < need:
        fixes.append(f"experiment_timeout_minutes={need:g}")
    estimate = (
        f"the first trial, {label}, was estimated by the probes at {fit_s:.0f} s to fit "
        f"(plus about {TRIAL_OVERHEAD_S:.0f} s to start, score and convert), after {first.setup_seconds:.0f} s of setup"
    )
    if fixes:
        parts.append(f"{estimate}: {' and '.join(fixes)} or more would have returned a model")
    else:
        parts.append(
            f"{estimate}, which fits: the machine was busier than during the probes; raise experiment_timeout_minutes"
        )
    return TrialFailedError("; ".join(parts))


__all__ = [
    "FIRST_RESULT_GRACE_SHARE",
    "FirstTrials",
    "TRIAL_OVERHEAD_S",
    "WRONG_BY",
    "compare_estimates",
    "first_trials",
    "is_repeatable",
    "no_trial_error",
    "smallest_budget_minutes",
]
