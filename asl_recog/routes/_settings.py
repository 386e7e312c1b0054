"""The settings both routes share, under each route's Azure name, with one check for each.

Both trainers have a search budget, a concurrency limit, a primary metric, a
model-size budget, a seed, a run folder and so on, but Azure names them
differently per route (``AutoMLConfig(experiment_timeout_minutes=...)`` against
``HyperDriveConfig(max_duration_minutes=...)``). :data:`COMMON_SETTINGS` is the one
table of those names; :func:`check_common_settings` is the one validation of their
values, so the two trainers never carry copies of the same checks.
"""

from __future__ import annotations

import difflib
import numbers
import os
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from asl_recog._errors import ConfigurationError
from asl_recog.tracking._client import check_tracking_uri

#: The routes that have a column in :data:`COMMON_SETTINGS`.
ROUTES = ("automl", "hyperdrive")
#: The model-size budget both routes default to, in MB: a winner must serve in a 1 GB container
#: (the seed's ACI deployment had 1 GB), with room for the runtime and a batch of requests.
DEFAULT_MAX_MODEL_SIZE_MB = 100


def check_positive_int(name: str, value: Any, *, allow_none: bool = False) -> None:
    """Raise ConfigurationError unless ``value`` is an integer >= 1 (or None where allowed)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ConfigurationError(f"{name} must be an integer >= 1{' or None' if allow_none else ''}, got {value!r}")


def check_positive_number(name: str, value: Any, *, allow_none: bool = False) -> None:
    """Raise ConfigurationError unless ``value`` is a number > 0 (or None where allowed)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not float(value) > 0:
        raise ConfigurationError(f"{name} must be a number > 0{' or None' if allow_none else ''}, got {value!r}")


def _check_bool(name: str, value: Any, *, allow_none: bool = False) -> None:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True or False, got {value!r}")


def _check_seed(name: str, value: Any, *, allow_none: bool = False) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral)):
        raise ConfigurationError(f"{name} must be an integer or None, got {value!r}")


def _check_path(name: str, value: Any, *, allow_none: bool = False) -> None:
    if value is not None and not isinstance(value, (str, os.PathLike)):
        raise ConfigurationError(f"{name} must be a folder path (str or pathlib.Path) or None, got {value!r}")


def _no_check(name: str, value: Any, *, allow_none: bool = False) -> None:
    """The metric's names are route-specific and the backend has its own check (Trainer._check_backend)."""


@dataclass(frozen=True)
class CommonSetting:
    """One row of :data:`COMMON_SETTINGS`: a shared concept and each route's name for it.

    Attributes:
        concept: the route-neutral name, the key of :meth:`Trainer.common_settings`.
        automl: the ``AutoMLTrainer`` argument (``AutoMLConfig``'s name).
        hyperdrive: the ``HyperDriveTrainer`` argument (``HyperDriveConfig``'s name where it has one).
        check: ``check(name, value, allow_none=...)`` raising ConfigurationError.
        optional_in: the routes where None is a valid value.

    Example:
        >>> COMMON_SETTINGS["budget_minutes"].name("hyperdrive")
        'max_duration_minutes'
    """

    concept: str
    automl: str
    hyperdrive: str
    check: Callable[..., None]
    optional_in: tuple[str, ...] = ()

    def name(self, route: str) -> str:
        """This concept's argument name on ``route`` (``"automl"`` or ``"hyperdrive"``)."""
        if route not in ROUTES:
            raise ConfigurationError(f"no route {route!r} among {ROUTES}")
        return self.automl if route == "automl" else self.hyperdrive


#: concept -> each route's argument for it. Azure's names are kept so that moving a
#: search to the cloud changes only the backend.
COMMON_SETTINGS: dict[str, CommonSetting] = {
    row.concept: row
    for row in (
        CommonSetting(
            "budget_minutes",
            "experiment_timeout_minutes",
            "max_duration_minutes",
            check_positive_number,
            ("hyperdrive",),
        ),
        CommonSetting("max_trials", "max_iterations", "max_total_runs", check_positive_int, ("automl",)),
        CommonSetting("concurrency", "max_concurrent_iterations", "max_concurrent_runs", check_positive_int),
        CommonSetting("metric", "primary_metric", "primary_metric_name", _no_check),
        CommonSetting("max_model_size_mb", "max_model_size_mb", "max_model_size_mb", check_positive_number),
        CommonSetting("seed", "seed", "seed", _check_seed),
        CommonSetting("run_dir", "run_dir", "run_dir", _check_path),
        CommonSetting("resume", "resume", "resume", _check_bool),
        CommonSetting("progress", "progress", "progress", _check_bool),
        CommonSetting("refit", "refit", "refit", _check_bool),
        CommonSetting("tracking_uri", "tracking_uri", "tracking_uri", check_tracking_uri, ROUTES),
        CommonSetting("backend", "backend", "backend", _no_check),
    )
}


def common_names(route: str) -> dict[str, str]:
    """concept -> ``route``'s argument name, for every row of :data:`COMMON_SETTINGS`."""
    return {concept: row.name(route) for concept, row in COMMON_SETTINGS.items()}


def check_common_settings(route: str, settings: Mapping[str, Any], metrics: Collection[str]) -> None:
    """Validate the shared settings of one trainer, named as that route names them.

    Args:
        route: ``"automl"`` or ``"hyperdrive"``.
        settings: the trainer's arguments (``get_params()``).
        metrics: the primary metrics the route knows.

    Raises:
        ConfigurationError: naming the argument, the value and what it must be.
    """
    for concept, row in COMMON_SETTINGS.items():
        name = row.name(route)
        row.check(name, settings[name], allow_none=route in row.optional_in)
        if concept == "metric" and settings[name] not in metrics:
            raise ConfigurationError(f"{name} must be one of {tuple(metrics)}, got {settings[name]!r}")
    if settings["resume"] and settings["run_dir"] is None:
        raise ConfigurationError("resume=True needs the run_dir of the search to continue")


def reject_unknown(names: Collection[str], valid: Collection[str], where: str, *, what: str = "parameter") -> None:
    """Raise ConfigurationError for the first of ``names`` not in ``valid``, naming the nearest valid one.

    Example:
        >>> reject_unknown(["epoch"], ["epochs", "batch_size"], "fixed_params")
        Traceback (most recent call last):
        asl_recog._errors.ConfigurationError: unknown parameter 'epoch' in fixed_params; did you mean 'epochs'?
    """
    for name in names:
        if name in valid:
            continue
        # Compared without case, so that 'knn' finds 'KNN'.
        by_lower = {str(v).lower(): str(v) for v in valid}
        close = difflib.get_close_matches(str(name).lower(), list(by_lower), n=1)
        hint = (
            f"did you mean {by_lower[close[0]]!r}?" if close else f"valid names: {', '.join(sorted(map(str, valid)))}"
        )
        raise ConfigurationError(f"unknown {what} {name!r} in {where}; {hint}")


__all__ = [
    "COMMON_SETTINGS",
    "CommonSetting",
    "check_common_settings",
    "check_positive_int",
    "check_positive_number",
    "common_names",
    "reject_unknown",
]
