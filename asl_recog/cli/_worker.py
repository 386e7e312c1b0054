"""``asl-recog worker``: join a search shared through an Optuna RDB storage, from any host.

The search that called ``fit`` with ``LocalBackend(storage=URL, study_name=NAME)``
wrote its recipe into the study (route, trainer settings as JSON, data and artifact
store). A worker reads it, rebuilds the trainer with the config-file parser (nothing
is unpickled: a custom builder is imported by its ``module:function`` name),
downloads the data and checks its checksum, then runs trials of the study until the
search's limits are reached. The limits are the search's, not the worker's: every
worker reserves its trials in the shared storage.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path
from typing import Any

from asl_recog._console import import_keras
from asl_recog._errors import ConfigurationError
from asl_recog.backends.local._recipe import resolve_callable
from asl_recog.backends.local._shared import fetch_data, join, open_shared, recipe_of
from asl_recog.backends.local._trial_loop import worker_id
from asl_recog.cli._config import TRAINERS, trainer_settings
from asl_recog.data._dataset import SignMnistDataset
from asl_recog.routes._settings import COMMON_SETTINGS

logger = logging.getLogger("asl_recog")

EXAMPLE = "asl-recog worker --storage postgresql+psycopg://asl@db.example/asl --study cnn-sweep"


def rebuild_trainer(recipe: dict[str, Any], processes: int, where: str) -> Any:
    """The search's trainer, from the recipe's JSON settings, running ``processes`` trials at a time here."""
    route = str(recipe.get("route"))
    settings = trainer_settings({route: dict(recipe["settings"])}, route, source=where)
    builder = settings.get("builder")
    if isinstance(builder, str) and ":" in builder:
        settings["builder"] = resolve_callable(builder, f"{where}: builder")
    settings[COMMON_SETTINGS["concurrency"].name(route)] = processes
    return TRAINERS[route](**settings, progress=False, refit=False, backend="local")


def run_worker(
    storage: str,
    study_name: str,
    *,
    artifacts: str | None = None,
    run_dir: str | None = None,
    processes: int = 1,
    wait_s: float = 60.0,
) -> int:
    """Join the shared study and run its trials until the search's limits are reached; returns 0."""
    print(f"asl-recog worker {worker_id()}: waiting for study {study_name!r}", flush=True)
    study = open_shared(storage, study_name, wait_s)
    recipe = recipe_of(study)
    folder = Path(run_dir) if run_dir else Path(tempfile.mkdtemp(prefix=f"asl-worker-{study_name}-"))
    folder.mkdir(parents=True, exist_ok=True)
    x, y, vx, vy = fetch_data(study, artifacts, folder / "data")
    train, validation = SignMnistDataset(x, y, source="artifact"), SignMnistDataset(vx, vy, source="artifact")
    trainer = rebuild_trainer(recipe, processes, f"study {study_name!r}")
    plan = trainer.route.local_plan(trainer, train, validation, folder)
    if recipe["route"] == "hyperdrive":
        # Import TensorFlow now, not in the first trial: its import holds the interpreter for seconds,
        # during which the trial's heartbeat thread cannot beat and other hosts would take it for dead.
        import_keras()
    print(
        f"asl-recog worker {worker_id()}: joined study {study_name!r} ({recipe['route']}); files in {folder}",
        flush=True,
    )
    join(storage, study_name, folder, plan, artifacts)
    return 0


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``asl-recog worker``."""
    parser.add_argument("--storage", required=True, help="the search's Optuna storage URL (postgresql+psycopg://...)")
    parser.add_argument("--study", required=True, help="the study's name (LocalBackend(study_name=...))")
    parser.add_argument(
        "--artifacts", default=None, help="this host's path to the search's artifact store (default: the recipe's)"
    )
    parser.add_argument("--run-dir", default=None, help="where this worker keeps models and logs (default: a temp dir)")
    parser.add_argument("--processes", type=int, default=1, help="trials this worker runs at a time (default 1)")
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the search to start (default 60)")


def cmd_worker(args: argparse.Namespace) -> int:
    """``asl-recog worker``."""
    if args.processes < 1:
        raise ConfigurationError(f"--processes must be an integer >= 1, got {args.processes}")
    return run_worker(
        args.storage,
        args.study,
        artifacts=args.artifacts,
        run_dir=args.run_dir,
        processes=args.processes,
        wait_s=args.wait,
    )


__all__ = ["EXAMPLE", "add_worker_arguments", "cmd_worker", "rebuild_trainer", "run_worker"]
