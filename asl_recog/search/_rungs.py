"""Multi-fidelity policies: rung budgets, where most trials stop after a few epochs.

A *rung* is an epoch count at which trials are compared: ``min_resource``,
``min_resource * reduction_factor``, ``min_resource * reduction_factor**2``, ...
A trial that reaches a rung goes on only if it is in the top ``1 / reduction_factor``
of the trials that reached that rung so far; otherwise it is stopped there. It is never
stopped between rungs. A trial that passes every rung up to its own epoch count runs all
its epochs and completes; only completed trials can be selected, so the selected trial
has reached the top rung and its curve sets the refit's length, as with any policy.

These policies are local only: Azure ML HyperDrive has no rung budgets, and the Azure
backends refuse them. Locally they are Optuna's own pruners
(``SuccessiveHalvingPruner``, ``HyperbandPruner``), with Optuna's argument names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from asl_recog._errors import ConfigurationError
from asl_recog.search._space import EarlyTerminationPolicy


def _integer(owner: str, name: str, value: Any, least: int, fix: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ConfigurationError(f"{owner}: {name} must be an integer >= {least}, got {value!r}; {fix}")


@dataclass(frozen=True)
class RungPolicy(EarlyTerminationPolicy):
    """Base of the rung policies. Azure's ``evaluation_interval`` and ``delay_evaluation`` do not
    apply: the rungs say when a trial is compared, so both are hidden (not arguments, not shown)."""

    evaluation_interval: int = field(default=1, init=False, repr=False, compare=False)
    delay_evaluation: int = field(default=0, init=False, repr=False, compare=False)

    def _check_rungs(self, min_resource: Any, reduction_factor: Any) -> None:
        owner = type(self).__name__
        _integer(owner, "min_resource", min_resource, 1, "it is the epochs before the first rung: use e.g. 1")
        _integer(owner, "reduction_factor", reduction_factor, 2, "one trial in that many passes a rung: use e.g. 3")

    @property
    def first_rung(self) -> int:
        """The fewest epochs after which a trial can be stopped."""
        raise NotImplementedError  # pragma: no cover

    def _is_rung(self, step: int, first: int, reduction_factor: int) -> bool:
        rung = first
        while rung < step:
            rung *= reduction_factor
        return rung == step

    def rungs(self, epochs: int) -> list[int]:
        """The epochs, up to ``epochs``, after which a trial may be stopped.

        Example:
            >>> SuccessiveHalvingPolicy(min_resource=1, reduction_factor=3).rungs(10)
            [1, 3, 9]
        """
        return [step for step in range(1, epochs + 1) if self.is_evaluation_step(step)]


@dataclass(frozen=True)
class SuccessiveHalvingPolicy(RungPolicy):
    """Asynchronous successive halving (local only): rungs at ``min_resource * reduction_factor**k`` epochs.

    At each rung a trial goes on only if it is in the top ``1 / reduction_factor`` of the
    trials that reached that rung; otherwise it stops there (never between rungs). The
    first trial to reach a rung always goes on. ``min_early_stopping_rate`` s skips the
    first s rungs: the first comparison is at ``min_resource * reduction_factor**s`` epochs.
    Locally this is Optuna's ``SuccessiveHalvingPruner``; the Azure backends refuse it.

    Args:
        min_resource: epochs every trial runs before the first rung (Optuna's ``r``).
        reduction_factor: about one trial in ``reduction_factor`` passes each rung (``eta``).
        min_early_stopping_rate: rungs skipped at the start (``s``).

    Example:
        >>> policy = SuccessiveHalvingPolicy(min_resource=1, reduction_factor=3)
        >>> policy
        SuccessiveHalvingPolicy(min_resource=1, reduction_factor=3, min_early_stopping_rate=0)
        >>> policy.rungs(12)  # a 12-epoch trial is compared after epochs 1, 3 and 9
        [1, 3, 9]
        >>> trainer = HyperDriveTrainer(policy=policy, max_total_runs=9)
    """

    min_resource: int = 1
    reduction_factor: int = 3
    min_early_stopping_rate: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        self._check_rungs(self.min_resource, self.reduction_factor)
        _integer(
            "SuccessiveHalvingPolicy",
            "min_early_stopping_rate",
            self.min_early_stopping_rate,
            0,
            "it is how many rungs are skipped: use 0 to compare from min_resource epochs on",
        )

    @property
    def first_rung(self) -> int:
        return self.min_resource * self.reduction_factor**self.min_early_stopping_rate

    def is_evaluation_step(self, step: int) -> bool:
        """Whether ``step`` (1-based epoch) is a rung, where a trial may be stopped."""
        return self._is_rung(step, self.first_rung, self.reduction_factor)


@dataclass(frozen=True)
class HyperbandPolicy(RungPolicy):
    """Hyperband (local only): successive halving in several brackets that start at different rungs.

    Bracket b compares trials from ``min_resource * reduction_factor**b`` epochs on, so
    some trials get a longer first look; each trial is assigned one bracket (from the study's
    name and the trial's number), and is compared only with the trials of its bracket.
    There are ``floor(log_reduction_factor(max_resource / min_resource)) + 1`` brackets.
    Locally this is Optuna's ``HyperbandPruner``; the Azure backends refuse it.

    Args:
        min_resource: epochs before the first rung of the first bracket (Optuna's ``r``).
        max_resource: the most epochs a trial runs, which sets the number of brackets; ``"auto"``
            takes the longest ``epochs`` the trials can have (fixed, or the largest value of a
            sampled ``choice``/``randint``/``quniform``) and, where that cannot be known (a custom
            space), Optuna's own estimate: no trial stops before the first one completes.
        reduction_factor: about one trial in ``reduction_factor`` passes each rung (``eta``).

    Example:
        >>> policy = HyperbandPolicy(min_resource=1, max_resource=9, reduction_factor=3)
        >>> policy
        HyperbandPolicy(min_resource=1, max_resource=9, reduction_factor=3)
        >>> policy.brackets(), policy.rungs(9)  # brackets start at 1, 3 and 9 epochs
        (3, [1, 3, 9])
        >>> trainer = HyperDriveTrainer(policy=HyperbandPolicy(), max_total_runs=12)
    """

    min_resource: int = 1
    max_resource: int | str = "auto"
    reduction_factor: int = 3

    def __post_init__(self) -> None:
        super().__post_init__()
        self._check_rungs(self.min_resource, self.reduction_factor)
        value = self.max_resource
        if value != "auto":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigurationError(
                    f"HyperbandPolicy: max_resource must be 'auto' or an integer number of epochs, got {value!r}"
                )
            if value < self.min_resource:
                raise ConfigurationError(
                    f"HyperbandPolicy: max_resource ({value}) is less than min_resource ({self.min_resource}); "
                    "give the trials' epochs as max_resource, or 'auto'"
                )

    @property
    def first_rung(self) -> int:
        return self.min_resource

    def brackets(self, max_resource: int | None = None) -> int:
        """The number of brackets for ``max_resource`` epochs (the policy's own when it is an integer).

        Raises:
            ConfigurationError: max_resource is "auto" and none is given.
        """
        top = self.max_resource if max_resource is None else max_resource
        if not isinstance(top, int):
            raise ConfigurationError("HyperbandPolicy.brackets: max_resource is 'auto'; give the trials' epochs")
        # Optuna's own formula, float logarithm included (log(243, 3) is 4.999...: 5 brackets, not 6),
        # so that this count is the one the pruner uses.
        return math.floor(math.log(top / self.min_resource, self.reduction_factor)) + 1

    def is_evaluation_step(self, step: int) -> bool:
        """Whether ``step`` (1-based epoch) is a rung of some bracket, where a trial may be stopped."""
        return self._is_rung(step, self.min_resource, self.reduction_factor)


__all__ = ["HyperbandPolicy", "RungPolicy", "SuccessiveHalvingPolicy"]
