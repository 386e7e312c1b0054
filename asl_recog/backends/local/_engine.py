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
the run directory by default, or in any Optuna RDB storage (``open_study(storage=URL)``):
every write is an atomic transaction, so a SIGKILL loses at most the trials that were
running, and Optuna's heartbeat queues those again (``_heartbeat``).
"""

from __future__ import annotations

import hashlib
import logging
import math
import warnings
import weakref
from collections.abc import Mapping
from pathlib import Path
from statistics import NormalDist
from typing import Any, Literal, cast

import optuna

from asl_recog._errors import ConfigurationError
from asl_recog.backends.local._heartbeat import (
    HEARTBEAT_INTERVAL_S,
    STALE_CALLBACK_ARG,
    grace_period,
    retry_callback,
)
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


class SpaceProposal:
    """A trial's configuration drawn from a flat space, plus fixed values (picklable for worker processes).

    Example:
        >>> import optuna
        >>> from asl_recog import choice
        >>> propose = SpaceProposal({"hidden": choice(16, 32)}, fixed={"epochs": 3})
        >>> propose(optuna.trial.FixedTrial({"hidden": 32}))  # a real trial asks its sampler instead
        {'hidden': 32, 'epochs': 3}
    """

    def __init__(self, space: Mapping[str, Expression], fixed: Mapping[str, Any] | None = None) -> None:
        self.space, self.fixed = dict(space), dict(fixed or {})

    def __call__(self, trial: optuna.trial.BaseTrial) -> dict[str, Any]:
        return {**suggest_space(trial, self.space), **self.fixed}


class ConditionalProposal:
    """A choice of ``key`` (e.g. the algorithm), then that choice's own space, namespaced ``"<choice>."``.

    Example:
        >>> import optuna
        >>> from asl_recog import randint
        >>> propose = ConditionalProposal("algorithm", {"KNN": {"n_neighbors": randint(30)}})
        >>> propose(optuna.trial.FixedTrial({"algorithm": "KNN", "KNN.n_neighbors": 7}))
        {'algorithm': 'KNN', 'n_neighbors': 7}
    """

    def __init__(self, key: str, spaces: Mapping[str, Mapping[str, Expression]]) -> None:
        if not spaces:
            raise ConfigurationError(f"ConditionalProposal({key!r}): no choices; give at least one space")
        self.key, self.spaces = key, {name: dict(space) for name, space in spaces.items()}

    def __call__(self, trial: optuna.trial.BaseTrial) -> dict[str, Any]:
        choice = trial.suggest_categorical(self.key, list(self.spaces))
        return {self.key: choice, **suggest_space(trial, self.spaces[choice], f"{choice}.")}


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
    """GridSampler without its end-of-grid ``study.stop()``, which would end only the worker that ran
    the last grid point: the trial limit, capped at the grid's size (:func:`max_trials_for`), ends every
    worker instead, and counts trials not run (duplicates) as no grid point."""

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
    """The default storage: a SQLite file in the run directory."""
    return f"sqlite:///{(Path(run_dir) / STORAGE_FILE).resolve()}"


# Where each study opened by open_study lives, so that run_schedule can open the same
# storage in worker processes without reading the study's private storage attribute.
_LOCATIONS: weakref.WeakKeyDictionary[optuna.Study, str] = weakref.WeakKeyDictionary()


def study_url(study: optuna.Study, run_dir: Path) -> str:
    """The storage URL ``study`` was opened with (by :func:`open_study`), else the run directory's."""
    return _LOCATIONS.get(study) or storage_url(run_dir)


def remember_url(study: optuna.Study, url: str) -> None:
    """Record that ``study`` was loaded from ``url`` (for :func:`study_url`; :func:`open_study` does it itself)."""
    _LOCATIONS[study] = url


def open_storage(location: Path | str) -> optuna.storages.RDBStorage:
    """The storage at ``location`` (a run directory, or an RDB URL such as ``postgresql+psycopg://...``).

    Every process that shares a study opens it this way, so all run Optuna's heartbeat:
    a trial whose process died is failed by the next ``study.optimize`` step of any
    worker (or by :func:`asl_recog.backends.local._heartbeat.fail_dead_trials`) and
    queued again with its intermediate values.
    """
    url = str(location) if "://" in str(location) else storage_url(Path(location))
    # SQLite: a generous busy timeout, as several worker processes write to one file.
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    callback: dict[str, Any] = {STALE_CALLBACK_ARG: retry_callback()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(
            url,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=HEARTBEAT_INTERVAL_S,
            grace_period=grace_period(url),
            **callback,
        )


def open_study(
    run_dir: Path,
    *,
    direction: str,
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
    resume: bool = False,
    storage: str | None = None,
    study_name: str = STUDY_NAME,
) -> optuna.Study:
    """Create the run's study, or load it when resuming.

    Args:
        run_dir: the run directory (models, logs; the SQLite study by default).
        direction: ``"maximize"`` or ``"minimize"``.
        sampler: the study's sampler.
        pruner: the study's pruner.
        resume: load the existing study instead of creating one.
        storage: an Optuna RDB URL; None keeps the study in ``run_dir/study.db``.
        study_name: the study's name in the storage.

    Raises:
        ConfigurationError: resuming a run directory that holds no study, or
            starting a new search in one that does.
    """
    if direction not in ("maximize", "minimize"):
        raise ConfigurationError(f"open_study: direction must be 'maximize' or 'minimize', not {direction!r}")
    run_dir = Path(run_dir)
    if storage is None:
        exists = (run_dir / STORAGE_FILE).is_file()
        where = f"{run_dir} ({STORAGE_FILE})"
    else:
        exists = study_name in optuna.study.get_all_study_names(open_storage(storage))
        where = f"study {study_name!r} in {storage.split('@')[-1]}"  # no password in the message
    if resume and not exists:
        raise ConfigurationError(
            f"resume=True, but {where} holds no search; check run_dir (or storage) or start a new "
            "search with resume=False"
        )
    if not resume and exists:
        raise ConfigurationError(
            f"{where} already holds a search; pass resume=True to continue it or choose another run_dir"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = storage or storage_url(run_dir)
    study = optuna.create_study(
        storage=open_storage(url),
        study_name=study_name,
        direction=cast(Literal["maximize", "minimize"], direction),
        sampler=sampler,
        pruner=pruner,
        load_if_exists=resume,
    )
    _LOCATIONS[study] = url
    return study


__all__ = [
    "suggest",
    "suggest_space",
    "enqueue_params",
    "make_sampler",
    "max_trials_for",
    "open_study",
    "open_storage",
    "storage_url",
    "study_url",
    "remember_url",
    "TrialSeededRandomSampler",
    "SpaceProposal",
    "ConditionalProposal",
]
