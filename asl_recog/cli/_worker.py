"""``asl-recog worker``: join a search shared through an Optuna RDB storage, from any host.

The search that called ``fit`` with ``LocalBackend(storage=URL, study_name=NAME)``
wrote its recipe into the study (route, trainer settings as JSON, data and artifact
store). A worker reads it, rebuilds the trainer with the config-file parser (nothing
is unpickled), downloads the data and checks its checksum, then runs trials of the
study until the search's limits are reached. The limits are the search's, not the
worker's: every worker reserves its trials in the shared storage.

What the worker trusts is its own host's settings, never the study: anyone who can
write the study's database can change the recipe. So a custom builder named in the
recipe (``"mymod:build"``) is imported only when this host allows it
(``--allow-builder mymod:build`` or ``$ASL_RECOG_ALLOW_BUILDERS``); the artifact store
is this host's ``--artifacts`` (or ``$ASL_RECOG_ARTIFACTS``), never the recipe's path;
artifact ids must be the UUIDs Optuna writes. The storage URL, which holds the
database password, comes from ``$OPTUNA_STORAGE`` or ``--storage-file`` rather than
the command line, which every local user can read.

Exit status: 0 when every trial this worker ran completed or was pruned; 1 when one
of them failed, or the storage cannot be opened; 2 for a usage error (a malformed
URL, a refused builder). The last line counts the trials.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from asl_recog._console import import_keras
from asl_recog._errors import ConfigurationError
from asl_recog.backends.local._recipe import ALLOW_BUILDERS_ENV, callable_name, resolve_callable
from asl_recog.backends.local._reservation import OVER_LIMIT
from asl_recog.backends.local._shared import fetch_data, join, open_shared, recipe_of
from asl_recog.backends.local._storage_url import STORAGE_ENV, missing_sqlite_file, storage_url, unreachable
from asl_recog.backends.local._tracked import RUN_ID_ATTR
from asl_recog.backends.local._trial_loop import SUPERVISOR_ATTR, worker_id
from asl_recog.cli._config import TRAINERS, trainer_settings
from asl_recog.data._dataset import SignMnistDataset
from asl_recog.routes._settings import COMMON_SETTINGS
from asl_recog.routes.hyperdrive._builders import BUILDERS
from asl_recog.tracking._background import flush
from asl_recog.tracking._client import check_tracking_uri
from asl_recog.tracking._search import SearchRun, join_search

logger = logging.getLogger("asl_recog")

EXAMPLE = (
    "OPTUNA_STORAGE=postgresql+psycopg://asl@db.example/asl asl-recog worker --study cnn-sweep --artifacts /mnt/asl"
)
#: The environment variable naming this host's path to the artifact store (else ``--artifacts``).
ARTIFACTS_ENV = "ASL_RECOG_ARTIFACTS"


def allowed_builders(extra: Sequence[str] = ()) -> set[str]:
    """The ``module:function`` builders this host runs: the package's own, ``extra``, and ``$ASL_RECOG_ALLOW_BUILDERS``.

    Example:
        >>> allowed = allowed_builders(["mymod:build"])
        >>> "mymod:build" in allowed, "asl_recog.routes.hyperdrive._builders:build_seed" in allowed
        (True, True)
        >>> "subprocess:run" in allowed
        False
    """
    env = [name.strip() for name in os.environ.get(ALLOW_BUILDERS_ENV, "").split(",") if name.strip()]
    return {callable_name(spec.build, "builder") for spec in BUILDERS.values()} | set(extra) | set(env)


def rebuild_trainer(recipe: dict[str, Any], processes: int, where: str, allowed: Sequence[str] = ()) -> Any:
    """The search's trainer, from the recipe's JSON settings, running ``processes`` trials at a time here.

    A custom builder is imported only when :func:`allowed_builders` (with ``allowed``) names it.
    """
    route = str(recipe.get("route"))
    recorded = dict(recipe["settings"])
    if recorded.pop("tracking_uri", None) is not None:  # a search never writes it: someone edited the study
        logger.warning("%s names a tracking URI; a worker logs only to its own host's (--tracking-uri)", where)
    settings = trainer_settings({route: recorded}, route, source=where)
    builder = settings.get("builder")
    if isinstance(builder, str) and ":" in builder:
        settings["builder"] = resolve_callable(builder, f"{where}: builder", allowed_builders(allowed))
    settings[COMMON_SETTINGS["concurrency"].name(route)] = processes
    return TRAINERS[route](**settings, progress=False, refit=False, backend="local")


def run_worker(
    storage: str,
    study_name: str,
    *,
    artifacts: str,
    run_dir: str | None = None,
    processes: int = 1,
    wait_s: float = 60.0,
    allow_builders: Sequence[str] = (),
    tracking_uri: str | None = None,
    tracking_flag: bool = False,
) -> int:
    """Join the shared study and run its trials until the search's limits are reached.

    A search tracked in MLflow keeps its parent run's id in the study; this worker logs its
    trials under that run on ``tracking_uri`` (this host's ``--tracking-uri`` or
    ``$MLFLOW_TRACKING_URI``) once it has checked the run is there.

    Returns:
        0 when every trial this worker ran completed or was pruned, 1 when one failed.
    """
    me = worker_id()
    print(f"asl-recog worker {me}: waiting for study {study_name!r}", flush=True)
    study = open_shared(storage, study_name, wait_s)
    recipe = recipe_of(study)
    # Rebuilt before anything is downloaded: a refused builder stops the worker before it touches a file.
    trainer = rebuild_trainer(recipe, processes, f"study {study_name!r}", allow_builders)
    search = _tracking(study, study_name, trainer, tracking_uri, tracking_flag)
    folder = Path(run_dir) if run_dir else Path(tempfile.mkdtemp(prefix=f"asl-worker-{study_name}-"))
    folder.mkdir(parents=True, exist_ok=True)
    x, y, vx, vy = fetch_data(study, artifacts, folder / "data")
    train, validation = SignMnistDataset(x, y, source="artifact"), SignMnistDataset(vx, vy, source="artifact")
    plan = trainer.route.local_plan(trainer, train, validation, folder)
    plan.schedule = dataclasses.replace(plan.schedule, tracking=search)
    if recipe["route"] == "hyperdrive":
        # Import TensorFlow now, not in the first trial: its import holds the interpreter for seconds,
        # during which the trial's heartbeat thread cannot beat and other hosts would take it for dead.
        import_keras()
    print(
        f"asl-recog worker {worker_id()}: joined study {study_name!r} ({recipe['route']}); files in {folder}",
        flush=True,
    )
    try:
        join(storage, study_name, folder, plan, artifacts)
    finally:
        if search is not None:
            flush(search)  # the trials this worker ran, logged in the background, reach MLflow before it exits
    return _report(study, me)


def _tracking(study: Any, study_name: str, trainer: Any, uri: str | None, flag: bool) -> SearchRun | None:
    """The search's MLflow parent run on this host's tracking server, checked, or None when untracked."""
    run_id = study.user_attrs.get(RUN_ID_ATTR)
    if run_id is None:
        if flag:
            logger.warning(
                "--tracking-uri: study %r is not tracked in MLflow; this worker logs nothing there", study_name
            )
        return None
    if uri is None:
        raise ConfigurationError(
            f"study {study_name!r} is tracked in MLflow (parent run {str(run_id)[:40]!r}) and this worker has no "
            "tracking server: give --tracking-uri (or set $MLFLOW_TRACKING_URI) with the server the search logs to"
        )
    check_tracking_uri("--tracking-uri", uri)
    metric = trainer.common_settings()["metric"]
    search = join_search(uri, run_id, metric)
    print(f"asl-recog worker {worker_id()}: logging trials under MLflow run {search.run_id} on {uri}", flush=True)
    return search


def _report(study: Any, me: str) -> int:
    """Print the last line, counting the trials this worker's processes ran; 1 when one of them failed."""
    from optuna.trial import TrialState

    mine = [
        t
        for t in study.get_trials(deepcopy=False)
        # Trials run in this process (one at a time) carry its id as "worker"; trials of its worker processes as
        # "supervisor".
        if me in (t.user_attrs.get(SUPERVISOR_ATTR), t.user_attrs.get("worker")) and not t.user_attrs.get(OVER_LIMIT)
    ]
    count = {state: sum(t.state == state for t in mine) for state in (TrialState.COMPLETE, TrialState.PRUNED)}
    failed = [t.number for t in mine if t.state == TrialState.FAIL]
    detail = (
        f" (trial{'s' if len(failed) > 1 else ''} {', '.join(map(str, failed))}: see the leaderboard)" if failed else ""
    )
    print(
        f"asl-recog worker {me}: ran {len(mine)} trial{'' if len(mine) == 1 else 's'}: "
        f"{count[TrialState.COMPLETE]} complete, {count[TrialState.PRUNED]} pruned, {len(failed)} failed{detail}",
        flush=True,
    )
    return 1 if failed else 0


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``asl-recog worker``."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--storage",
        default=None,
        help=f"the search's Optuna storage URL (default: ${STORAGE_ENV}); a password here is visible in the "
        f"process list: prefer ${STORAGE_ENV} or --storage-file",
    )
    source.add_argument("--storage-file", default=None, help="a file whose first line is the storage URL")
    parser.add_argument("--study", required=True, help="the study's name (LocalBackend(study_name=...))")
    parser.add_argument(
        "--artifacts",
        default=None,
        help=f"this host's path to the search's artifact store, a folder or s3://bucket (default: ${ARTIFACTS_ENV}); "
        "the study's own record of it is never used",
    )
    parser.add_argument(
        "--allow-builder",
        action="append",
        default=[],
        metavar="MODULE:FUNCTION",
        help=f"a custom network builder this host may run when the search names it (repeatable; also "
        f"${ALLOW_BUILDERS_ENV}, comma-separated); the package's named builders are always allowed",
    )
    parser.add_argument(
        "--tracking-uri",
        default=None,
        help="this host's MLflow tracking server, for a search tracked in MLflow (default: $MLFLOW_TRACKING_URI); "
        "the study holds only the parent run's id",
    )
    parser.add_argument("--run-dir", default=None, help="where this worker keeps models and logs (default: a temp dir)")
    parser.add_argument("--processes", type=int, default=1, help="trials this worker runs at a time (default 1)")
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the search to start (default 60)")


def cmd_worker(args: argparse.Namespace) -> int:
    """``asl-recog worker``."""
    if args.processes < 1:
        raise ConfigurationError(f"--processes must be an integer >= 1, got {args.processes}")
    url = storage_url(args.storage, args.storage_file, "--storage")
    if url is None:
        raise ConfigurationError(f"no storage URL: set ${STORAGE_ENV} (or give --storage-file, or --storage)")
    missing = missing_sqlite_file(url)
    if missing is not None:  # SQLAlchemy would create it: an empty database, and a wait for a study never there
        raise ConfigurationError(
            f"no SQLite database at {missing}: a worker joins an existing search, so check the path in the "
            "storage URL (the search's own fit creates the file)"
        )
    artifacts = args.artifacts or os.environ.get(ARTIFACTS_ENV)
    if not artifacts:
        raise ConfigurationError(
            f"no artifact store: give --artifacts with this host's path to the search's store (or set "
            f"${ARTIFACTS_ENV}); a worker never takes the path from the study"
        )
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return run_worker(
            url,
            args.study,
            artifacts=artifacts,
            run_dir=args.run_dir,
            processes=args.processes,
            wait_s=args.wait,
            allow_builders=args.allow_builder,
            tracking_uri=args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or None,
            tracking_flag=args.tracking_uri is not None,
        )
    except SQLAlchemyError as exc:  # a database that cannot be reached: no traceback, no password
        print(f"asl-recog worker: error: {unreachable(url, exc)}", file=sys.stderr)
        return 1


__all__ = [
    "ARTIFACTS_ENV",
    "EXAMPLE",
    "add_worker_arguments",
    "allowed_builders",
    "cmd_worker",
    "rebuild_trainer",
    "run_worker",
]
