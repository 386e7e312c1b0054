"""The trial limit, reserved in the study's storage, so that processes sharing one study keep it.

The search's worker processes (and two resumers of one run directory, or the
workers of a distributed search) each run ``study.optimize`` and decide locally
when to ask for another trial, so each alone would run up to the limit. Optuna's
``MaxTrialsCallback`` counts trials only after they end, so N workers overshoot
it by up to N - 1. No lock is needed to share the limit exactly: the storage
creates trials atomically, each with the next number, and a queued trial exists
(WAITING) before any trial numbered after it. So when a trial starts, it counts
the trials numbered below it that take a place under the limit; when they
already fill it, the trial is over the limit: it is recorded failed with the user
attribute ``over_limit`` and not run, and its worker stops. Every process sees
the same order, so at most ``max_trials`` trials take a place, whichever process
runs them.

A place is taken by a trial that is queued, running, or finished, unless it was
interrupted (its process died: Optuna's retry queued its configuration again, so
a retried trial counts once), duplicates an earlier trial (never run) or is
itself over the limit. An interrupted trial frees its place for its queued copy,
which is numbered after it; a search may then end below the limit, never above
it, and resuming it again runs the rest.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import optuna
from optuna.trial import TrialState

from asl_recog.backends.local._heartbeat import is_interrupted

logger = logging.getLogger("asl_recog")

OVER_LIMIT = "over_limit"


def was_not_run(trial: optuna.trial.FrozenTrial) -> bool:
    """True for a trial recorded without running: a duplicate, or one over the trial limit."""
    return "duplicate_of" in trial.user_attrs or bool(trial.user_attrs.get(OVER_LIMIT))


def takes_place(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether ``trial`` takes one of the places under the trial limit (see the module's notes)."""
    return not is_interrupted(trial) and not was_not_run(trial)


def has_place(trials: list[optuna.trial.FrozenTrial], number: int, max_trials: int) -> bool:
    """Whether trial ``number`` is among the first ``max_trials`` trials that take a place.

    Args:
        trials: the study's trials, read after trial ``number`` was created.
        number: the trial just asked for.
        max_trials: the search's trial limit.
    """
    ahead = sum(1 for t in trials if t.number < number and takes_place(t))
    return ahead < max_trials


def queued_with_place(trials: list[optuna.trial.FrozenTrial], max_trials: int) -> bool:
    """Whether a queued (WAITING) trial, e.g. a dead worker's retried trial, holds a place under the limit."""
    taken = 0
    for t in sorted(trials, key=lambda t: t.number):
        if not takes_place(t):
            continue
        if taken >= max_trials:
            return False
        if t.state == TrialState.WAITING:
            return True
        taken += 1
    return False


def has_work(trials: list[optuna.trial.FrozenTrial], max_trials: int) -> bool:
    """Whether a worker should ask for another trial: places are left, or a queued trial holds one.

    Queued trials past the limit (AutoML's default configurations beyond ``max_iterations``)
    are no work: they stay queued.
    """
    places_taken = sum(1 for t in trials if takes_place(t))
    return places_taken < max_trials or queued_with_place(trials, max_trials)


def counted(trials: list[optuna.trial.FrozenTrial]) -> int:
    """Finished trials that count toward the limit (not interrupted ones, duplicates or those over it)."""
    return sum(1 for t in trials if t.state.is_finished() and takes_place(t))


def mark_over_limit(trial: optuna.trial.Trial, max_trials: int) -> None:
    """Mark ``trial`` as over the limit (the caller records it failed without running it)."""
    logger.info(
        "trial %d not run: the limit of %d trials is already taken (another process shares this run)",
        trial.number,
        max_trials,
    )
    trial.set_user_attr(OVER_LIMIT, True)
    trial.set_user_attr("error", f"not run: the limit of {max_trials} trials was already taken by other trials")


def params_key(params: dict[str, Any]) -> str:
    """A canonical text of a configuration, to recognise one already tried."""
    return json.dumps(params, sort_keys=True, default=str)


def earlier_with_params(trials: list[optuna.trial.FrozenTrial], number: int, params: dict[str, Any]) -> int | None:
    """The first trial numbered below ``number`` that ran (or runs) the configuration ``params``, if any.

    The study, not this process's memory, is asked, so a configuration that another
    process runs (for example the re-queued copy of a killed trial that both
    resumers queued) is not trained twice.
    """
    key = params_key(params)
    for t in sorted(trials, key=lambda t: t.number):
        if t.number >= number:
            break
        if (
            t.state in (TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
            and takes_place(t)
            and "params" in t.user_attrs
            and params_key(t.user_attrs["params"]) == key
        ):
            return t.number
    return None


__all__ = [
    "OVER_LIMIT",
    "earlier_with_params",
    "has_place",
    "params_key",
    "counted",
    "has_work",
    "queued_with_place",
    "mark_over_limit",
    "takes_place",
    "was_not_run",
]
