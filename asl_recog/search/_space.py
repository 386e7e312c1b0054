"""The search-space vocabulary, following Azure ML HyperDrive.

Parameter expressions, samplings, early-termination policies and the primary
metric goal are plain, validated data. Each engine translates them in one place:
Optuna in ``_engine``, SDK v1 and v2 in the Azure backend modules.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from asl_recog._errors import ConfigurationError


@dataclass(frozen=True)
class Expression:
    """One parameter expression, e.g. ``uniform(0.0, 0.5)``. Build it with the functions below."""

    kind: str
    args: tuple[Any, ...]

    def __repr__(self) -> str:
        return f"{self.kind}({', '.join(map(repr, self.args))})"

    @property
    def is_discrete(self) -> bool:
        return self.kind in ("choice", "randint") or self.kind.startswith("q")


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigurationError(f"{name} must be a finite number, got {value!r}")
    return value


def _range(kind: str, low: Any, high: Any) -> None:
    _number(f"{kind}: min_value", low)
    _number(f"{kind}: max_value", high)
    if not low < high:
        raise ConfigurationError(f"{kind}: min_value ({low}) must be less than max_value ({high})")


def _positive(kind: str, name: str, value: Any) -> None:
    if _number(f"{kind}: {name}", value) <= 0:
        raise ConfigurationError(f"{kind}: {name} must be > 0, got {value}")


def choice(*options: Any) -> Expression:
    """One of a discrete set: ``choice(16, 32, 64)`` or ``choice([16, 32, 64])``."""
    if len(options) == 1 and isinstance(options[0], (list, tuple, range)):
        options = tuple(options[0])
    if not options:
        raise ConfigurationError("choice() needs at least one option")
    for option in options:
        if not isinstance(option, (str, int, float, bool)) and option is not None:
            raise ConfigurationError(f"choice: options must be str, int, float, bool or None, got {option!r}")
    return Expression("choice", tuple(options))


def randint(upper: int) -> Expression:
    """A random integer in ``[0, upper)``."""
    if isinstance(upper, bool) or not isinstance(upper, int) or upper < 1:
        raise ConfigurationError(f"randint: upper must be an integer >= 1, got {upper!r}")
    return Expression("randint", (upper,))


def _bounded(kind: str, min_value: float, max_value: float, *q: float) -> Expression:
    """The uniform family: a range, and a positive step for the q- forms."""
    _range(kind, min_value, max_value)
    for step in q:
        _positive(kind, "q", step)
    return Expression(kind, (min_value, max_value, *q))


def _gaussian(kind: str, mu: float, sigma: float, *q: float) -> Expression:
    """The normal family: a mean, a positive spread, and a positive step for the q- forms."""
    _number(f"{kind}: mu", mu)
    _positive(kind, "sigma", sigma)
    for step in q:
        _positive(kind, "q", step)
    return Expression(kind, (mu, sigma, *q))


def uniform(min_value: float, max_value: float) -> Expression:
    """Uniform between ``min_value`` and ``max_value``."""
    return _bounded("uniform", min_value, max_value)


def quniform(min_value: float, max_value: float, q: float) -> Expression:
    """``round(uniform(min_value, max_value) / q) * q``."""
    return _bounded("quniform", min_value, max_value, q)


def loguniform(min_value: float, max_value: float) -> Expression:
    """``exp(uniform(min_value, max_value))``: bounds are natural logs, as in HyperDrive."""
    return _bounded("loguniform", min_value, max_value)


def qloguniform(min_value: float, max_value: float, q: float) -> Expression:
    """``round(exp(uniform(min_value, max_value)) / q) * q``."""
    return _bounded("qloguniform", min_value, max_value, q)


def normal(mu: float, sigma: float) -> Expression:
    """Normally distributed with mean ``mu`` and standard deviation ``sigma``."""
    return _gaussian("normal", mu, sigma)


def qnormal(mu: float, sigma: float, q: float) -> Expression:
    """``round(normal(mu, sigma) / q) * q``."""
    return _gaussian("qnormal", mu, sigma, q)


def lognormal(mu: float, sigma: float) -> Expression:
    """``exp(normal(mu, sigma))``."""
    return _gaussian("lognormal", mu, sigma)


def qlognormal(mu: float, sigma: float, q: float) -> Expression:
    """``round(exp(normal(mu, sigma)) / q) * q``."""
    return _gaussian("qlognormal", mu, sigma, q)


def _check_space(owner: str, space: Mapping[str, Any], allowed: Sequence[str] | None) -> dict[str, Expression]:
    if not isinstance(space, Mapping) or not space:
        raise ConfigurationError(f"{owner}: parameter_space must be a non-empty dict of name -> expression")
    checked: dict[str, Expression] = {}
    for name, expr in space.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ConfigurationError(f"{owner}: parameter name {name!r} must be a valid identifier")
        if not isinstance(expr, Expression):
            raise ConfigurationError(
                f"{owner}: parameter {name!r} is {expr!r}; wrap values in an expression such as choice(...)"
            )
        if allowed is not None and expr.kind not in allowed:
            raise ConfigurationError(
                f"{owner}: parameter {name!r} uses {expr.kind}(), but this sampling supports only "
                f"{', '.join(allowed)} (Azure ML's rule)"
            )
        checked[name] = expr
    return checked


@dataclass(frozen=True)
class Sampling:
    """Base of the three samplings; ``parameter_space`` maps names to expressions."""

    parameter_space: Mapping[str, Expression]
    name: str = field(default="", init=False)
    allowed: tuple[str, ...] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        _check_space(type(self).__name__, self.parameter_space, self.allowed)


@dataclass(frozen=True)
class RandomParameterSampling(Sampling):
    """Random search over any expressions. ``seed`` makes the draws repeatable.

    Example:
        >>> sampling = RandomParameterSampling({"filters": choice(16, 32), "dropout": uniform(0.1, 0.5)}, seed=1)
        >>> sampling.name, sampling.seed, sampling.parameter_space["filters"]
        ('random', 1, choice(16, 32))
        >>> trainer = HyperDriveTrainer(hyperparameter_sampling=sampling, max_total_runs=8)
    """

    seed: int | None = None
    name: str = field(default="random", init=False)


@dataclass(frozen=True)
class GridParameterSampling(Sampling):
    """Every combination of ``choice`` values.

    Example:
        >>> GridParameterSampling({"hidden": choice(128, 256), "batch_size": choice(64, 128)}).size
        4
    """

    name: str = field(default="grid", init=False)
    allowed: tuple[str, ...] | None = field(default=("choice",), init=False, repr=False)

    @property
    def size(self) -> int:
        return math.prod(len(expr.args) for expr in self.parameter_space.values())


@dataclass(frozen=True)
class BayesianParameterSampling(Sampling):
    """Bayesian optimisation (TPE locally); no early-termination policy allowed.

    Example:
        >>> sampling = BayesianParameterSampling({"dropout": uniform(0.1, 0.5), "hidden": choice(128, 256)})
        >>> trainer = HyperDriveTrainer(builder="seed", hyperparameter_sampling=sampling, max_total_runs=20)
        >>> trainer.hyperparameter_sampling.name
        'bayesian'
    """

    name: str = field(default="bayesian", init=False)
    allowed: tuple[str, ...] | None = field(default=("choice", "uniform", "quniform"), init=False, repr=False)


def _interval(owner: str, evaluation_interval: Any, delay_evaluation: Any) -> None:
    if isinstance(evaluation_interval, bool) or not isinstance(evaluation_interval, int) or evaluation_interval < 1:
        raise ConfigurationError(f"{owner}: evaluation_interval must be an integer >= 1, got {evaluation_interval!r}")
    if isinstance(delay_evaluation, bool) or not isinstance(delay_evaluation, int) or delay_evaluation < 0:
        raise ConfigurationError(f"{owner}: delay_evaluation must be an integer >= 0, got {delay_evaluation!r}")


@dataclass(frozen=True)
class EarlyTerminationPolicy:
    """Base of the policies. A run is checked at interval ``evaluation_interval`` after ``delay_evaluation``."""

    evaluation_interval: int = 1
    delay_evaluation: int = 0

    def __post_init__(self) -> None:
        _interval(type(self).__name__, self.evaluation_interval, self.delay_evaluation)

    def is_evaluation_step(self, step: int) -> bool:
        """Azure's rule: evaluate at step s when s >= delay_evaluation and s % evaluation_interval == 0.

        Steps are 1-based reporting intervals (epoch 1 is step 1).
        """
        return step >= max(self.delay_evaluation, 1) and step % self.evaluation_interval == 0


@dataclass(frozen=True)
class BanditPolicy(EarlyTerminationPolicy):
    """Stop a run whose metric falls outside the slack of the best run so far.

    For a maximised metric with ``slack_factor`` s, a run is stopped when its
    metric < best / (1 + s); with ``slack_amount`` a, when metric < best - a.

    Example:
        >>> policy = BanditPolicy(slack_factor=0.1, evaluation_interval=1, delay_evaluation=2)
        >>> policy  # checked after every epoch from epoch 2
        BanditPolicy(evaluation_interval=1, delay_evaluation=2, slack_factor=0.1, slack_amount=None)
        >>> trainer = HyperDriveTrainer(policy=policy, max_total_runs=8)
    """

    slack_factor: float | None = None
    slack_amount: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.slack_factor is None) == (self.slack_amount is None):
            raise ConfigurationError("BanditPolicy: give exactly one of slack_factor or slack_amount")
        value = self.slack_factor if self.slack_factor is not None else self.slack_amount
        if _number("BanditPolicy: slack", value) <= 0:
            raise ConfigurationError(f"BanditPolicy: slack must be > 0, got {value}")


@dataclass(frozen=True)
class MedianStoppingPolicy(EarlyTerminationPolicy):
    """Stop a run whose best metric so far is worse than the median of the
    running averages of all runs at the same step.

    Example:
        >>> trainer = HyperDriveTrainer(policy=MedianStoppingPolicy(evaluation_interval=1, delay_evaluation=3))
        >>> trainer.policy
        MedianStoppingPolicy(evaluation_interval=1, delay_evaluation=3)
    """


@dataclass(frozen=True)
class TruncationSelectionPolicy(EarlyTerminationPolicy):
    """At each evaluation step, stop the lowest ``truncation_percentage`` % of runs.

    Example:
        >>> trainer = HyperDriveTrainer(policy=TruncationSelectionPolicy(truncation_percentage=20, delay_evaluation=2))
        >>> trainer.policy.truncation_percentage
        20
    """

    truncation_percentage: int = 10
    exclude_finished_jobs: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        value = self.truncation_percentage
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 99:
            raise ConfigurationError(
                f"TruncationSelectionPolicy: truncation_percentage must be an integer 1-99, got {value!r}"
            )


@dataclass(frozen=True)
class NoTerminationPolicy(EarlyTerminationPolicy):
    """Let every run finish.

    Example:
        >>> trainer = HyperDriveTrainer(policy=NoTerminationPolicy(), max_total_runs=4)
        >>> trainer.policy
        NoTerminationPolicy(evaluation_interval=1, delay_evaluation=0)
    """


class PrimaryMetricGoal(StrEnum):
    """Whether the primary metric is maximised or minimised.

    Example:
        >>> trainer = HyperDriveTrainer(primary_metric_name="loss", primary_metric_goal=PrimaryMetricGoal.MINIMIZE)
        >>> trainer.goal.value
        'minimize'
    """

    MAXIMIZE = "maximize"
    MINIMIZE = "minimize"


def validate_search(sampling: Any, policy: Any) -> None:
    """Apply Azure's rules for combining a sampling with a policy.

    Raises:
        ConfigurationError: on an unknown sampling or policy, or Bayesian sampling with a policy.
    """
    if not isinstance(sampling, Sampling) or type(sampling) is Sampling:
        raise ConfigurationError(
            "sampling must be RandomParameterSampling, GridParameterSampling or BayesianParameterSampling, "
            f"got {sampling!r}"
        )
    if policy is not None and not isinstance(policy, EarlyTerminationPolicy):
        raise ConfigurationError(f"policy must be an early-termination policy or None, got {policy!r}")
    if (
        isinstance(sampling, BayesianParameterSampling)
        and policy is not None
        and not isinstance(policy, NoTerminationPolicy)
    ):
        raise ConfigurationError(
            "BayesianParameterSampling does not support early-termination policies (Azure ML's rule); "
            "use policy=None or RandomParameterSampling"
        )
