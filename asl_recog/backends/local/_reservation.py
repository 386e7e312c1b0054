"""The trial limit, reserved in the study's storage, so that processes sharing one study keep it.

Two processes that resume one run directory (or the workers of a distributed
search) each decide locally when to ask for another trial, so each alone would
run up to the limit. No lock file is needed to share it: the storage already
creates trials atomically, each with the next number, and a queued trial exists
(WAITING) before any trial numbered after it. So after ``study.ask()`` a trial
counts the trials numbered below it that take a place under the limit; when
they already fill it, the trial is over the limit: it is recorded failed with
the user attribute ``over_limit`` and not run, and the process stops asking.
Every process sees the same order, so at most ``max_trials`` trials take a
place, whichever process runs them.

A place is taken by a trial that is queued, running, or finished, unless it was
interrupted (its configuration was queued again), duplicates an earlier trial
(never run) or is itself over the limit. A trial that was counted but is later
interrupted by a killed process frees its place for its re-queued copy, which is
numbered after it; a search may then end below the limit, never above it, and
resuming it again runs the rest.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import optuna
from optuna.trial import TrialState

logger = logging.getLogger("asl_recog")

OVER_LIMIT = "over_limit"


def was_not_run(trial: optuna.trial.FrozenTrial) -> bool:
    """True for a trial recorded without running: a duplicate, or one over the trial limit."""
    return "duplicate_of" in trial.user_attrs or bool(trial.user_attrs.get(OVER_LIMIT))


def takes_place(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether ``trial`` takes one of the places under the trial limit (see the module's notes)."""
    if trial.state == TrialState.FAIL and trial.user_attrs.get("interrupted"):
        return False
    return not was_not_run(trial)


def has_place(trials: list[optuna.trial.FrozenTrial], number: int, max_trials: int) -> bool:
    """Whether trial ``number`` is among the first ``max_trials`` trials that take a place.

    Args:
        trials: the study's trials, read after trial ``number`` was created.
        number: the trial just asked for.
        max_trials: the search's trial limit.
    """
    ahead = sum(1 for t in trials if t.number < number and takes_place(t))
    return ahead < max_trials


def record_over_limit(study: optuna.Study, trial: optuna.trial.Trial, max_trials: int) -> None:
    """Record ``trial`` as over the limit, without running it."""
    logger.info(
        "trial %d not run: the limit of %d trials is already taken (another process shares this run)",
        trial.number,
        max_trials,
    )
    trial.set_user_attr(OVER_LIMIT, True)
    trial.set_user_attr("error", f"not run: the limit of {max_trials} trials was already taken by other trials")
    study.tell(trial, state=TrialState.FAIL)


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
    "record_over_limit",
    "takes_place",
    "was_not_run",
]
