"""Distributed search: speed-up of 2 worker processes over 1, and PostgreSQL's per-trial overhead.

Two measurements (issue 17), each a Markdown table:

* ``--speedup``: the same fixed set of configurations (a grid over the "seed" network), searched
  by the process that calls ``fit`` alone (1 worker), then by it plus one ``asl-recog worker``
  process (2 workers) sharing the study through the storage. Every process is capped at
  ``--threads`` threads, so on a machine with 2 free cores the ideal speed-up is 2x.
* ``--overhead``: the storage's cost per trial, without training: trials whose runner reports
  ``--epochs`` values and returns at once, run through the engine (ask, reservation, heartbeat,
  reports, tell) on SQLite and on PostgreSQL.

``--storage auto`` starts a throwaway PostgreSQL with tools/test_postgres.sh (and stops it);
otherwise give a URL (``postgresql+psycopg://...``).

Usage:
  python bench/bench_distributed.py --speedup --overhead --storage auto
  python bench/bench_distributed.py --speedup --images 6000 --epochs 3 --threads 1
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def postgres(storage: str) -> Iterator[str]:
    """The storage URL; with ``auto``, a throwaway server that is stopped afterwards."""
    if storage != "auto":
        yield storage
        return
    env = {**os.environ, "ASL_RECOG_PG_PORT": "55433", "ASL_RECOG_PG_DIR": "/tmp/asl-recog-pg-bench"}
    script = str(ROOT / "tools" / "test_postgres.sh")
    url = subprocess.run(["bash", script, "start"], env=env, check=True, capture_output=True, text=True).stdout
    try:
        yield url.strip()
    finally:
        subprocess.run(["bash", script, "stop"], env=env, check=False, capture_output=True)


def _thread_caps(threads: int) -> None:
    # Before TensorFlow or BLAS load: they size their pools once.
    from asl_recog.backends.local._workers import thread_env

    os.environ.update(thread_env(threads))
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"


def speedup(url: str, images: int, epochs: int, threads: int) -> str:
    """Wall time of one grid search with 1 and with 2 worker processes."""
    import asl_recog as asl

    full = asl.load_sign_mnist("train")
    fit_part, validation = asl.train_validation_split(full, seed=0)
    train = fit_part[:images]
    grid = asl.GridParameterSampling({"hidden": asl.choice(32, 64, 128, 256), "learning_rate": asl.choice(1e-3, 3e-3)})
    rows = []
    for workers in (1, 2):
        study = f"bench-{uuid.uuid4().hex[:8]}"
        with tempfile.TemporaryDirectory() as folder:
            trainer = asl.HyperDriveTrainer(
                builder="seed",
                hyperparameter_sampling=grid,
                fixed_params={"epochs": epochs, "batch_size": 128, "dropout": 0.1},
                max_total_runs=grid.size,
                refit=False,
                progress=False,
                run_dir=Path(folder) / "run",
                backend=asl.LocalBackend(storage=url, study_name=study, artifacts=str(Path(folder) / "artifacts")),
            )
            helpers = []
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            for k in range(workers - 1):  # started with the search: they wait for its study
                command = [sys.executable, "-m", "asl_recog.cli", "worker", "--storage", url, "--study", study]
                command += ["--run-dir", str(Path(folder) / f"worker{k}")]
                helpers.append(subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL))
            start = time.perf_counter()
            result = trainer.fit(train, validation)
            seconds = time.perf_counter() - start
            for helper in helpers:
                helper.wait(600)
        hosts = result.leaderboard["host"].nunique()
        rows.append((workers, seconds, len(result.leaderboard), hosts, result.best_score))
    base = rows[0][1]
    lines = [
        f"Grid of {rows[0][2]} configurations of the seed network, {len(train)} training and {len(validation)} "
        f"validation images, {epochs} epochs, {threads} thread(s) per process, storage {url.split('@')[-1]}.",
        "",
        "| worker processes | search wall time (s) | speed-up | trials | best validation accuracy |",
        "|---:|---:|---:|---:|---:|",
    ]
    for workers, seconds, trials, _, best in rows:
        lines.append(f"| {workers} | {seconds:.1f} | {base / seconds:.2f}x | {trials} | {best:.4f} |")
    return "\n".join(lines)


def _quick_runner(task: object, reporter: object) -> object:
    """A trial that only talks to the storage: reports each epoch's value and completes."""
    from asl_recog.backends.local._scheduler import TrialOutcome

    epochs = int(task.payload["epochs"])  # type: ignore[attr-defined]
    history = [0.5 + 0.01 * step for step in range(1, epochs + 1)]
    for step, value in enumerate(history, start=1):
        reporter.report(step, value)  # type: ignore[attr-defined]
    return TrialOutcome("complete", history[-1], history)


def overhead(url: str, trials: int, epochs: int) -> str:
    """Seconds per trial of the engine on SQLite and on PostgreSQL, without training."""
    from asl_recog import choice
    from asl_recog.backends.local._engine import SpaceProposal, TrialSeededRandomSampler, open_study
    from asl_recog.backends.local._scheduler import Schedule, run_schedule

    lines = [
        f"{trials} trials, each reporting {epochs} values, one worker in one process; no training.",
        "",
        "| storage | per trial (ms) | search wall time (s) |",
        "|---|---:|---:|",
    ]
    for name, storage in (("SQLite (file under run_dir)", None), ("PostgreSQL 15 (localhost TCP)", url)):
        with tempfile.TemporaryDirectory() as folder:
            study = open_study(
                Path(folder),
                direction="maximize",
                sampler=TrialSeededRandomSampler(0),
                storage=storage,
                study_name=f"overhead-{uuid.uuid4().hex[:8]}",
            )
            schedule = Schedule(
                propose=SpaceProposal({"x": choice(*range(10_000))}),
                runner=_quick_runner,  # type: ignore[arg-type]
                max_trials=trials,
                payload={"epochs": epochs},
            )
            start = time.perf_counter()
            run_schedule(study, Path(folder), schedule)
            seconds = time.perf_counter() - start
        per_trial = 1000 * seconds / trials
        lines.append(f"| {name} | {per_trial:.1f} | {seconds:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speedup", action="store_true", help="1 vs 2 worker processes on one grid")
    parser.add_argument("--overhead", action="store_true", help="per-trial cost of PostgreSQL vs SQLite")
    parser.add_argument("--storage", default="auto", help="PostgreSQL URL, or auto (a throwaway server)")
    parser.add_argument("--images", type=int, default=6000, help="training images (speed-up)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs (speed-up); reports (overhead)")
    parser.add_argument("--threads", type=int, default=1, help="threads per process (speed-up)")
    parser.add_argument("--trials", type=int, default=200, help="trials (overhead)")
    args = parser.parse_args()
    if not (args.speedup or args.overhead):
        parser.error("choose --speedup, --overhead or both")
    _thread_caps(args.threads)
    with postgres(args.storage) as url:
        if args.speedup:
            print("### 1 vs 2 worker processes\n")
            print(speedup(url, args.images, args.epochs, args.threads) + "\n")
        if args.overhead:
            print("### Per-trial overhead of the storage\n")
            print(overhead(url, args.trials, args.epochs) + "\n")


if __name__ == "__main__":
    main()
