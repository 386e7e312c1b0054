"""check_trainer and check_backend: run the contract's checks and report every failure at once."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from asl_recog.backends._base import Backend
from asl_recog.routes._trainer import Trainer
from asl_recog.routes.automl._trainer import AutoMLTrainer
from asl_recog.routes.hyperdrive._trainer import HyperDriveTrainer
from asl_recog.testing._checks import AFTER_FIT, BEFORE_FIT, CHECK_NAMES, Context
from asl_recog.testing._data import tiny_split, watch_test_file


def _run(
    checks: list[Callable[[Context], None]],
    ctx: Context,
    expected: Mapping[str, str],
    prefix: str,
    failures: list[str],
) -> None:
    for check in checks:
        name = check.__name__
        try:
            with watch_test_file() as opened:
                check(ctx)
        except Exception as exc:  # an error inside a check is a failure of that check, named as such
            if name not in expected:
                what = str(exc) if isinstance(exc, AssertionError) else f"{type(exc).__name__}: {exc}"
                failures.append(f"{prefix}{name}: {what}")
        else:
            if name in expected:
                failures.append(
                    f"{prefix}{name} passed but is listed in expected_failed_checks ({expected[name]}); remove it"
                )
        finally:
            ctx.test_file_opens += opened


def _expected(expected_failed_checks: Mapping[str, str] | None, route: str) -> dict[str, str]:
    """Keys ``"check_x"`` (any route) or ``"route:check_x"`` (that route only) -> ``{check: reason}``."""
    chosen: dict[str, str] = {}
    for key, reason in (expected_failed_checks or {}).items():
        scope, _, name = key.rpartition(":")
        if name not in CHECK_NAMES:
            raise ValueError(f"expected_failed_checks: unknown check {name!r}; the checks are {list(CHECK_NAMES)}")
        if not scope or scope == route:
            chosen[name] = reason
    return chosen


def _run_trainer(trainer: Trainer, data: Any, expected_failed_checks: Mapping[str, str] | None) -> list[str]:
    if not isinstance(trainer, Trainer):
        raise TypeError(f"check_trainer needs a Trainer (e.g. HyperDriveTrainer), got {type(trainer).__name__}")
    route = str(getattr(trainer.route, "name", trainer.route))
    expected = _expected(expected_failed_checks, route)
    train, validation = tiny_split(data)
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="asl-recog-check-") as folder:
        workdir = Path(folder)

        def rebuild(**changes: Any) -> Trainer:
            # A fresh trainer from the settings, writing under the check's own folder, never into runs/.
            return type(trainer)(**{**trainer.get_params(), **changes})

        ctx = Context(trainer, rebuild, train, validation, workdir)
        prefix = f"{type(trainer).__name__}: "
        _run(BEFORE_FIT, ctx, expected, prefix, failures)
        try:
            with watch_test_file() as opened:
                ctx.result = rebuild(run_dir=workdir / "first").fit(train, validation)
        except Exception as exc:
            failures.append(f"{prefix}fit failed, so no check of its result could run: {type(exc).__name__}: {exc}")
            return failures
        finally:
            ctx.test_file_opens += opened
        _run(AFTER_FIT, ctx, expected, prefix, failures)
    return failures


def _raise(failures: list[str]) -> None:
    if failures:
        raise AssertionError(f"{len(failures)} conformance check(s) failed:\n- " + "\n- ".join(failures))


def check_trainer(
    trainer: Trainer, *, data: Any = None, expected_failed_checks: Mapping[str, str] | None = None
) -> None:
    """Check that a trainer meets the contract every route and backend promises.

    The trainer is fitted on tiny real data twice (as given, and with ``refit=False``, which
    doubles as the seeded repeat of the search), each time in a fresh copy
    built from ``get_params()`` with ``run_dir`` in a temporary folder. Give it tiny budgets
    (one or two trials, one epoch): the checks are about the contract, not accuracy.

    The checks: ``get_params`` rebuilds the trainer and ``sklearn.base.clone`` works; ``fit``
    returns a :class:`~asl_recog.TrainingResult` whose model records its primary metric,
    validation score and params; the leaderboard has the columns ``trial, model, params,
    status, <metric>, history, duration_s``, one row per trial and the best, completed, trial
    first; predictions are among the 24 letters and probabilities sum to 1; a refit model saw
    the training and validation images; ``refit=False`` keeps the trial's model and its
    score; a fixed seed repeats; the best model saves and loads; and no fit opened the test
    file.

    Args:
        trainer: the trainer to check, configured with tiny budgets.
        data: None for 10 training and 4 validation images per letter from the bundled
            training file (grouped split); a dataset to cut those from; or a
            ``(train, validation)`` pair used as given.
        expected_failed_checks: ``{check name: reason}`` for checks known to fail; each is still
            run, and one that passes is reported, so the entry is removed once fixed.

    Raises:
        AssertionError: naming every check that failed, and why.
        TypeError: when ``trainer`` is not a Trainer.

    Example:
        >>> tiny = {"hidden": 16, "batch_size": 64, "epochs": 1, "dropout": 0.1}
        >>> trainer = HyperDriveTrainer(builder="seed", fixed_params=tiny, max_total_runs=1, progress=False)
        >>> check_trainer(trainer)
    """
    _raise(_run_trainer(trainer, data, expected_failed_checks))


def tiny_trainers(backend: Any) -> list[Trainer]:
    """One trainer of each route, with the smallest budgets, running on ``backend``."""
    return [
        HyperDriveTrainer(
            builder="seed",  # its default space less these fixed values samples the learning rate only
            fixed_params={"hidden": 16, "batch_size": 64, "epochs": 1, "dropout": 0.1},
            max_total_runs=1,
            progress=False,
            backend=backend,
        ),
        AutoMLTrainer(
            allowed_models=["KNN"],
            max_iterations=1,
            experiment_timeout_minutes=15,  # Azure AutoML's minimum; max_iterations=1 ends it in seconds
            enable_voting_ensemble=False,
            augment=False,
            progress=False,
            backend=backend,
        ),
    ]


def check_backend(
    backend: Backend, *, data: Any = None, expected_failed_checks: Mapping[str, str] | None = None
) -> None:
    """Check that a backend runs both routes and returns what the trainer contract promises.

    A tiny trainer of each route (one HyperDrive trial of one epoch, one AutoML KNN
    iteration) runs on ``backend`` through :func:`check_trainer`.

    Args:
        backend: the backend to check.
        data: as for :func:`check_trainer`.
        expected_failed_checks: as for :func:`check_trainer`; a key ``"route:check_name"``
            (``"hyperdrive:..."``, ``"automl:..."``) applies to that route only.

    Raises:
        AssertionError: naming every check that failed, with its route, and why.
        TypeError: when ``backend`` is not a Backend.

    Example:
        >>> check_backend("local")  # a backend object is needed, not its name
        Traceback (most recent call last):
        TypeError: check_backend needs a Backend (e.g. LocalBackend()), got str

        Run on a backend it fits each route twice (about 30 s here), more than a docstring
        example should take; ``tests/test_conformance.py`` runs it on every backend:

        >>> check_backend(LocalBackend())  # doctest: +SKIP
    """
    if not isinstance(backend, Backend):
        raise TypeError(f"check_backend needs a Backend (e.g. LocalBackend()), got {type(backend).__name__}")
    failures: list[str] = []
    for trainer in tiny_trainers(backend):
        failures += _run_trainer(trainer, data, expected_failed_checks)
    _raise(failures)
