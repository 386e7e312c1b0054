"""Trainer settings from YAML/TOML config files, with search spaces written as text.

A config file has one section per route; keys are the trainer's constructor
arguments (an unknown key is an error naming the nearest valid one; the key
``sampling`` is the deprecated name of ``hyperparameter_sampling``).
Expressions are written as calls, e.g. ``"loguniform(-7, -4)"``; samplings and
policies as tables with a ``type`` key::

    hyperdrive:
      builder: default
      max_total_runs: 4
      fixed_params: {epochs: 4}
      hyperparameter_sampling:
        type: random              # random | grid | bayesian
        parameter_space:
          filters: choice(16, 32)
          learning_rate: loguniform(-7, -5)
      policy: {type: bandit, slack_factor: 0.1, evaluation_interval: 1, delay_evaluation: 2}
      # or, locally only, rung budgets: {type: successive_halving, min_resource: 1, reduction_factor: 3}
      # or {type: hyperband, min_resource: 1, max_resource: auto, reduction_factor: 3}
    automl:
      experiment_timeout_minutes: 5
      allowed_models: [SVM, ExtremeRandomTrees]
"""

from __future__ import annotations

import ast
import inspect
import os
import re
from pathlib import Path
from typing import Any

from asl_recog._deprecation import warn_renamed
from asl_recog._errors import ConfigurationError
from asl_recog.routes._settings import reject_unknown
from asl_recog.routes._trainer import Trainer
from asl_recog.routes.automl._trainer import AutoMLTrainer
from asl_recog.routes.hyperdrive._trainer import HyperDriveTrainer
from asl_recog.search import _rungs, _space

#: The trainer whose constructor arguments each config section holds.
TRAINERS: dict[str, type[Trainer]] = {"automl": AutoMLTrainer, "hyperdrive": HyperDriveTrainer}

_EXPRESSIONS = (
    "choice",
    "randint",
    "uniform",
    "quniform",
    "loguniform",
    "qloguniform",
    "normal",
    "qnormal",
    "lognormal",
    "qlognormal",
)
SAMPLINGS = {
    "random": _space.RandomParameterSampling,
    "grid": _space.GridParameterSampling,
    "bayesian": _space.BayesianParameterSampling,
}
POLICIES = {
    "bandit": _space.BanditPolicy,
    "median": _space.MedianStoppingPolicy,
    "truncation": _space.TruncationSelectionPolicy,
    "none": _space.NoTerminationPolicy,
    # local only (the Azure backends refuse them): Optuna's multi-fidelity pruners
    "successive_halving": _rungs.SuccessiveHalvingPolicy,
    "hyperband": _rungs.HyperbandPolicy,
}
_CALL = re.compile(r"^\s*([a-z]+)\s*\((.*)\)\s*$", re.S)


def parse_expression(text: str, *, where: str = "expression") -> _space.Expression:
    """Parse ``"choice(16, 32)"`` or ``"loguniform(-7, -4)"`` into an expression (no code is evaluated)."""
    match = _CALL.match(text) if isinstance(text, str) else None
    if match is None or match.group(1) not in _EXPRESSIONS:
        raise ConfigurationError(
            f"{where}: {text!r} is not an expression; write e.g. 'choice(16, 32)' "
            f"or 'uniform(0.1, 0.5)' using one of {', '.join(_EXPRESSIONS)}"
        )
    try:
        args = ast.literal_eval(f"({match.group(2)},)") if match.group(2).strip() else ()
    except (ValueError, SyntaxError) as exc:
        raise ConfigurationError(f"{where}: arguments of {text!r} must be literals ({exc})") from exc
    try:
        return getattr(_space, match.group(1))(*args)
    except TypeError as exc:
        raise ConfigurationError(f"{where}: {text!r}: {exc}") from exc


def _sampling(spec: Any, where: str) -> _space.Sampling:
    if not isinstance(spec, dict) or "parameter_space" not in spec:
        raise ConfigurationError(f"{where}: write sampling as a table with 'type' and 'parameter_space'")
    kind = str(spec.get("type", "random")).lower()
    if kind not in SAMPLINGS:
        raise ConfigurationError(f"{where}.type: {kind!r} is not one of {list(SAMPLINGS)}")
    space = {
        name: parse_expression(text, where=f"{where}.parameter_space.{name}")
        for name, text in dict(spec["parameter_space"]).items()
    }
    extra = {k: v for k, v in spec.items() if k not in ("type", "parameter_space")}
    try:
        return SAMPLINGS[kind](space, **extra)
    except TypeError as exc:
        raise ConfigurationError(f"{where}: {exc}") from exc


def _policy(spec: Any, where: str) -> _space.EarlyTerminationPolicy | None:
    if spec is None:
        return None
    if not isinstance(spec, dict) or "type" not in spec:
        raise ConfigurationError(f"{where}: write policy as a table with a 'type' ({list(POLICIES)})")
    kind = str(spec["type"]).lower()
    if kind not in POLICIES:
        raise ConfigurationError(f"{where}.type: {kind!r} is not one of {list(POLICIES)}")
    try:
        return POLICIES[kind](**{k: v for k, v in spec.items() if k != "type"})
    except TypeError as exc:
        raise ConfigurationError(f"{where}: {exc}") from exc


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML (``.yml``/``.yaml``) or TOML (``.toml``) config file into plain dicts."""
    path = Path(path)
    if not path.is_file():
        raise ConfigurationError(f"{path}: config file not found")
    text = path.read_text()
    try:
        if path.suffix.lower() == ".toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text) or {}
    except Exception as exc:  # both parsers name line and column in their messages
        raise ConfigurationError(f"{path}: cannot parse config ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path}: the top level must be a table of routes ('automl', 'hyperdrive')")
    return data


def _arguments(route: str) -> list[str]:
    """The constructor arguments of ``route``'s trainer (its ``**renamed`` aliases aside)."""
    parameters = inspect.signature(TRAINERS[route]).parameters.values()
    return [p.name for p in parameters if p.kind is not inspect.Parameter.VAR_KEYWORD]


def trainer_settings(config: dict[str, Any], route: str, *, source: str = "config") -> dict[str, Any]:
    """The constructor arguments of ``route``'s trainer from a loaded config, with spaces parsed.

    Raises:
        ConfigurationError: a key that is no argument of the trainer (naming the nearest
            one), or a deprecated key given together with its new name.
    """
    if route not in TRAINERS:
        raise ConfigurationError(f"{source}: unknown section {route!r}; use {sorted(TRAINERS)}")
    section = dict(config.get(route) or {})
    where = f"{source}: {route}"
    for old, new in TRAINERS[route].renamed_arguments.items():
        if old in section:
            if new in section:
                raise ConfigurationError(f"{where}: write {new} only; {old} is its deprecated name")
            warn_renamed(f"config key '{route}.{old}'", f"'{route}.{new}'")
            section[new] = section.pop(old)
    reject_unknown(section, _arguments(route), where, what="setting")
    if "hyperparameter_sampling" in section:
        section["hyperparameter_sampling"] = _sampling(
            section["hyperparameter_sampling"], f"{where}.hyperparameter_sampling"
        )
    if "policy" in section:
        section["policy"] = _policy(section["policy"], f"{where}.policy")
    return section
