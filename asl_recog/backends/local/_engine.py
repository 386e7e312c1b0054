"""The local search engine: our HyperDrive vocabulary translated to Optuna, in one place.

Translation of expressions (see :func:`suggest`):

* ``choice`` -> ``suggest_categorical``; ``randint(n)`` -> ``suggest_int(0, n - 1)``;
  ``uniform(a, b)`` -> ``suggest_float(a, b)``.
* ``loguniform(a, b)`` is ``exp(uniform(a, b))`` with natural-log bounds, which is
  exactly ``suggest_float(exp(a), exp(b), log=True)``.
* ``normal``/``lognormal`` are unbounded, which Optuna cannot express; they are drawn
  by inverse CDF: Optuna suggests a quantile ``u`` in ``(0, 1)`` (recorded as
  ``<name>__quantile``) and the value is ``NormalDist(mu, sigma).inv_cdf(u)``
  (exponentiated for ``lognormal``). A uniform ``u`` gives exactly the normal
  distribution, and TPE can still model it.
* q-variants draw the continuous value (recorded as ``<name>__raw``) and return
  ``round(value / q) * q``, as HyperDrive does; the result is an ``int`` when ``q``
  is an integer, so ``quniform(16, 128, 16)`` gives layer sizes directly.

The values a trial actually used are stored in the trial's user attribute
``params``. Samplings: Random -> a per-trial seeded random sampler (the draws of
trial *n* depend only on the seed and *n*, so they repeat at any concurrency),
Grid -> ``GridSampler``, Bayesian -> ``TPESampler``. Studies live in SQLite under
the run directory: every write is an atomic transaction and the kernel drops a
killed process's locks, so a SIGKILL loses at most the trials that were running.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from statistics import NormalDist
from typing import Any

import optuna

from asl_recog._errors import ConfigurationError
from asl_recog.search._space import (
    BayesianParameterSampling,
    Expression,
    GridParameterSampling,
    RandomParameterSampling,
    Sampling,
)

logger = logging.getLogger("asl_recog")

STUDY_NAME = "search"
STORAGE_FILE = "study.db"
# Quantiles are kept this far from 0 and 1 so inv_cdf stays finite (about 7 sigma).
_EPS = 1e-12


def _quantize(value: float, q: float) -> float | int:
    rounded = round(value / q) * q
    if float(q).is_integer():
        return int(round(rounded))
    # Trim float noise such as 0.30000000000000004 by rounding to q's decimals.
    decimals = max(0, -math.floor(math.log10(abs(q)))) + 6
    return round(rounded, decimals)


def suggest(trial: optuna.trial.BaseTrial, name: str, expr: Expression) -> Any:
    """Draw one parameter of ``trial`` from a HyperDrive expression.

    Example:
        >>> trial = optuna.create_study().ask()
        >>> value = suggest(trial, "learning_rate", loguniform(-7, -4))  # exp(uniform(-7, -4))
        >>> bool(math.exp(-7) <= value <= math.exp(-4))
        True
    """
    kind, args = expr.kind, expr.args
    if kind == "choice":
        return trial.suggest_categorical(name, list(args))
    if kind == "randint":
        return trial.suggest_int(name, 0, args[0] - 1)
    if kind == "uniform":
        return trial.suggest_float(name, args[0], args[1])
    if kind == "quniform":
        return _quantize(trial.suggest_float(f"{name}__raw", args[0], args[1]), args[2])
    if kind == "loguniform":
        return trial.suggest_float(name, math.exp(args[0]), math.exp(args[1]), log=True)
    if kind == "qloguniform":
        raw = trial.suggest_float(f"{name}__raw", math.exp(args[0]), math.exp(args[1]), log=True)
        return _quantize(raw, args[2])
    if kind in ("normal", "qnormal", "lognormal", "qlognormal"):
        u = trial.suggest_float(f"{name}__quantile", _EPS, 1.0 - _EPS)
        value = NormalDist(args[0], args[1]).inv_cdf(u)
        if kind.endswith("lognormal"):
            value = math.exp(value)
        return _quantize(value, args[2]) if kind.startswith("q") else value
    raise ConfigurationError(f"parameter {name!r}: unknown expression kind {kind!r}")


def suggest_space(trial: optuna.trial.BaseTrial, space: Mapping[str, Expression], prefix: str = "") -> dict[str, Any]:
    """Draw every parameter of ``space``; ``prefix`` namespaces them in Optuna (conditional spaces)."""
    return {name: suggest(trial, prefix + name, expr) for name, expr in space.items()}


def enqueue_params(space: Mapping[str, Expression], values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Optuna's parameter values that make :func:`suggest_space` return ``values`` (for ``enqueue_trial``)."""
    fixed: dict[str, Any] = {}
    for name, value in values.items():
        expr = space[name]
        if expr.kind in ("quniform", "qloguniform"):
            fixed[f"{prefix}{name}__raw"] = float(value)
        elif expr.kind in ("normal", "qnormal", "lognormal", "qlognormal"):
            x = math.log(value) if "lognormal" in expr.kind else float(value)
            fixed[f"{prefix}{name}__quantile"] = min(max(NormalDist(*expr.args[:2]).cdf(x), _EPS), 1 - _EPS)
        else:
            fixed[prefix + name] = value
    return fixed


def _mix(seed: int, *parts: object) -> int:
    digest = hashlib.sha256(repr((seed, *parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little")


class TrialSeededRandomSampler(optuna.samplers.BaseSampler):
    """Random search whose draws for trial *n* depend only on ``(seed, n, name)``.

    Optuna's ``RandomSampler`` shares one random stream per process, so parallel
    workers or a resumed search would draw different values; this one does not.
    """

    def __init__(self, seed: int = 0) -> None:
        self._seed = seed

    def infer_relative_search_space(self, study: optuna.Study, trial: Any) -> dict[str, Any]:
        return {}

    def sample_relative(self, study: optuna.Study, trial: Any, search_space: dict[str, Any]) -> dict[str, Any]:
        return {}

    def sample_independent(self, study: optuna.Study, trial: Any, param_name: str, param_distribution: Any) -> Any:
        sampler = optuna.samplers.RandomSampler(seed=_mix(self._seed, trial.number, param_name))
        return sampler.sample_independent(study, trial, param_name, param_distribution)


class _GridSampler(optuna.samplers.GridSampler):
    """GridSampler without its end-of-grid ``study.stop()``, which fails outside ``optimize``:
    the scheduler caps the trial count at the grid's size instead."""

    def after_trial(self, study: optuna.Study, trial: Any, state: Any, values: Any) -> None:
        return None


def make_sampler(sampling: Sampling, seed: int | None) -> optuna.samplers.BaseSampler:
    """The Optuna sampler for one of our samplings."""
    base = 0 if seed is None else seed
    if isinstance(sampling, RandomParameterSampling):
        return TrialSeededRandomSampler(sampling.seed if sampling.seed is not None else base)
    if isinstance(sampling, GridParameterSampling):
        grid = {name: list(expr.args) for name, expr in sampling.parameter_space.items()}
        return _GridSampler(grid, seed=base)
    if isinstance(sampling, BayesianParameterSampling):
        # constant_liar keeps parallel trials from all proposing the same point.
        return optuna.samplers.TPESampler(seed=base, constant_liar=True)
    raise ConfigurationError(f"unsupported sampling {sampling!r}")


def max_trials_for(sampling: Sampling, max_total_runs: int) -> int:
    """A grid has a fixed size: HyperDrive runs at most that many trials."""
    if isinstance(sampling, GridParameterSampling):
        return min(max_total_runs, sampling.size)
    return max_total_runs


def storage_url(run_dir: Path) -> str:
    return f"sqlite:///{(Path(run_dir) / STORAGE_FILE).resolve()}"


def open_storage(run_dir: Path) -> optuna.storages.RDBStorage:
    """SQLite storage in ``run_dir`` with a generous busy timeout for concurrent workers."""
    return optuna.storages.RDBStorage(storage_url(run_dir), engine_kwargs={"connect_args": {"timeout": 60}})


def open_study(
    run_dir: Path,
    *,
    direction: str,
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
    resume: bool = False,
) -> optuna.Study:
    """Create the run's study, or load it when resuming.

    Raises:
        ConfigurationError: resuming a run directory that holds no study, or
            starting a new search in one that does.
    """
    run_dir = Path(run_dir)
    exists = (run_dir / STORAGE_FILE).is_file()
    if resume and not exists:
        raise ConfigurationError(
            f"resume=True, but {run_dir} holds no search ({STORAGE_FILE} is missing); "
            "check run_dir or start a new search with resume=False"
        )
    if not resume and exists:
        raise ConfigurationError(
            f"{run_dir} already holds a search; pass resume=True to continue it or choose another run_dir"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(
        storage=open_storage(run_dir),
        study_name=STUDY_NAME,
        direction=direction,
        sampler=sampler,
        pruner=pruner,
        load_if_exists=resume,
    )


def load_study_in_worker(url: str, pruner: optuna.pruners.BasePruner | None) -> optuna.Study:
    """The study as seen from a trial's worker process (for report/should_prune)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})
    return optuna.load_study(study_name=STUDY_NAME, storage=storage, pruner=pruner)


__all__ = [
    "suggest",
    "suggest_space",
    "enqueue_params",
    "make_sampler",
    "max_trials_for",
    "open_study",
    "storage_url",
    "TrialSeededRandomSampler",
    "load_study_in_worker",
]
