"""A search's recipe: the JSON a worker on any host rebuilds the search from, kept in the study.

A worker that joins a shared study (``asl-recog worker --study NAME``, the URL in ``$OPTUNA_STORAGE``)
needs the trainer's settings, where the data is and which artifact store holds the
files. The search that created the study writes them as the study's user attribute
:data:`RECIPE_KEY`, in plain JSON: the trainer's settings in the config-file format
(``"choice(16, 32)"`` for an expression, ``{"type": "bandit", ...}`` for a policy,
``"module:function"`` for a custom builder), which the worker parses with the same
code as a config file. Nothing is unpickled from the storage, and a function named
in a recipe is imported only when the worker's own host allows it
(:func:`resolve_callable`'s ``allowed``: the package's named builders, ``--allow-builder``
and :data:`ALLOW_BUILDERS_ENV`), checked before any import: a row naming
``subprocess:run`` or ``os:system`` is refused, never run. Nor does the recipe say where
the worker's files come from: the worker's artifact store is its own setting.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import json
import os
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

import optuna

from asl_recog._errors import ConfigurationError
from asl_recog.search._rungs import HyperbandPolicy, SuccessiveHalvingPolicy
from asl_recog.search._space import (
    BanditPolicy,
    EarlyTerminationPolicy,
    Expression,
    MedianStoppingPolicy,
    NoTerminationPolicy,
    Sampling,
    TruncationSelectionPolicy,
)

#: The study's user attribute holding the recipe.
RECIPE_KEY = "asl_recog_recipe"
#: The study's user attribute naming the current run of the search: its stop token and deadline.
RUN_KEY = "asl_recog_run"
#: The recipe's format; a worker refuses a recipe of another version.
RECIPE_VERSION = 1
#: The environment variable listing, comma-separated, the ``module:function`` builders this host allows.
ALLOW_BUILDERS_ENV = "ASL_RECOG_ALLOW_BUILDERS"
#: Settings that stay with the process that called fit (where it keeps files, what it prints, the refit).
LOCAL_ONLY = ("backend", "run_dir", "resume", "progress", "refit")

_POLICY_TYPES: dict[type, str] = {
    BanditPolicy: "bandit",
    MedianStoppingPolicy: "median",
    TruncationSelectionPolicy: "truncation",
    NoTerminationPolicy: "none",
    # Rung policies (local only): their fields are plain integers and "auto", parsed back by the
    # config's policy table like the others, so nothing in the study is run as code.
    SuccessiveHalvingPolicy: "successive_halving",
    HyperbandPolicy: "hyperband",
}


def callable_name(function: Callable[..., Any], where: str) -> str:
    """``"module:qualname"`` of a module-level function, which a worker on another host imports.

    Example:
        >>> callable_name(json.dumps, "builder")
        'json:dumps'
    """
    module, name = getattr(function, "__module__", None), getattr(function, "__qualname__", "")
    found: Any = None
    if module and module != "__main__" and "<" not in name:
        try:
            found = importlib.import_module(module)
            for part in name.split("."):
                found = getattr(found, part)
        except (ImportError, AttributeError):
            found = None
    if found is not function:
        raise ConfigurationError(
            f"{where}: {function!r} is not a module-level function of an importable module, so workers on other "
            "hosts cannot find it; define it in a module installed on every host (not in __main__ or a notebook) "
            "or use a named builder"
        )
    return f"{module}:{name}"


def resolve_callable(text: str, where: str, allowed: Collection[str]) -> Callable[..., Any]:
    """The function named ``"module:qualname"`` (the inverse of :func:`callable_name`), if ``allowed`` names it.

    The text comes from a shared study, which anyone with write access to its database can
    change, so it is checked against the host's own list before anything is imported.

    Raises:
        ConfigurationError: the name is not in ``allowed`` (the message names the flag that
            allows it), not ``module:function``, or cannot be imported here.

    Example:
        >>> resolve_callable("json:dumps", "builder", allowed={"json:dumps"})({"a": 1})
        '{"a": 1}'
        >>> resolve_callable("subprocess:run", "study 'x': builder", allowed={"json:dumps"})
        Traceback (most recent call last):
        ...
        asl_recog._errors.ConfigurationError: study 'x': builder: 'subprocess:run' is not allowed on this host; ...
    """
    module, _, name = text.partition(":")
    if not module or not name:
        raise ConfigurationError(f"{where}: {text!r} is not 'module:function'")
    if text not in allowed:
        raise ConfigurationError(
            f"{where}: {text!r} is not allowed on this host; a worker imports only the package's named builders "
            f"and the functions its own host allows: if you trust it, start the worker with --allow-builder "
            f"{text} (or set {ALLOW_BUILDERS_ENV}={text})"
        )
    try:
        found: Any = importlib.import_module(module)
        for part in name.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(
            f"{where}: cannot import {text!r} on this host ({exc}); install the module that defines it here"
        ) from exc
    if not callable(found):
        raise ConfigurationError(f"{where}: {text!r} is not callable")
    return found


def encode(value: Any, where: str) -> Any:
    """A trainer setting as JSON in the config-file format (see the module's notes).

    Example:
        >>> from asl_recog import BanditPolicy, RandomParameterSampling, choice
        >>> encode(RandomParameterSampling({"hidden": choice(16, 32)}, seed=1), "sampling")
        {'type': 'random', 'parameter_space': {'hidden': 'choice(16, 32)'}, 'seed': 1}
        >>> encode(BanditPolicy(slack_factor=0.1), "policy")["type"]
        'bandit'
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Expression):
        return repr(value)  # "choice(16, 32)": the text a config file holds, parsed without eval
    if isinstance(value, Sampling):
        extra = {f.name: getattr(value, f.name) for f in dataclasses.fields(value) if f.init}
        space = extra.pop("parameter_space")
        return {"type": value.name, "parameter_space": {k: repr(e) for k, e in space.items()}, **extra}
    if isinstance(value, EarlyTerminationPolicy):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value) if f.init}
        return {"type": _POLICY_TYPES[type(value)], **fields}
    if isinstance(value, enum.Enum):
        return encode(value.value, where)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        return {str(k): encode(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if callable(value):
        return callable_name(value, where)
    raise ConfigurationError(f"{where}: {value!r} cannot be written as JSON for workers on other hosts")


def encode_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A trainer's constructor settings (``get_params(deep=False)``) as the recipe's JSON, local ones left out."""
    encoded = {name: encode(value, name) for name, value in settings.items() if name not in LOCAL_ONLY}
    json.dumps(encoded)  # every value above is JSON; this proves it before the study is written
    return encoded


def publish(study: optuna.Study, recipe: Mapping[str, Any]) -> None:
    """Write the recipe into the study (before any worker may join)."""
    study.set_user_attr(RECIPE_KEY, {"version": RECIPE_VERSION, **recipe})


def wait_for(storage: optuna.storages.BaseStorage, study_name: str, wait_s: float) -> optuna.Study:
    """The study ``study_name`` once it holds a recipe and a current run, waiting at most ``wait_s`` seconds.

    Workers may start before the search that creates the study.

    Raises:
        ConfigurationError: no such study (or no recipe in it) after ``wait_s``, or a recipe of another version.
    """
    deadline = time.monotonic() + wait_s
    while True:
        if study_name in optuna.study.get_all_study_names(storage):
            study = optuna.load_study(study_name=study_name, storage=storage)
            attrs = study.user_attrs
            if RECIPE_KEY in attrs and RUN_KEY in attrs:
                version = attrs[RECIPE_KEY].get("version")
                if version != RECIPE_VERSION:
                    raise ConfigurationError(
                        f"study {study_name!r} was written by another asl-recog (recipe version {version}, this "
                        f"one reads {RECIPE_VERSION}); install the same asl-recog version on every host"
                    )
                return study
        if time.monotonic() >= deadline:
            raise ConfigurationError(
                f"no asl-recog search named {study_name!r} in the storage after {wait_s:g} s; check --study and "
                "--storage, start the search (LocalBackend(storage=..., study_name=...)) or raise --wait"
            )
        time.sleep(1.0)


__all__ = [
    "ALLOW_BUILDERS_ENV",
    "LOCAL_ONLY",
    "RECIPE_KEY",
    "RECIPE_VERSION",
    "RUN_KEY",
    "callable_name",
    "encode",
    "encode_settings",
    "publish",
    "resolve_callable",
    "wait_for",
]
