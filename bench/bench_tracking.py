"""What MLflow tracking costs a search: the same fixed 20-trial search with and without ``tracking_uri``.

The search: ``HyperDriveTrainer(builder="seed")`` (``--builder default``: the default network),
20 trials of 1 epoch on 2,400 real training images (100 per letter, grouped split's training
part) scored on 720 validation images, one trial at a time in the calling process, no refit,
seed 0, so both arms run the same trials. The tracked arm logs to a real ``mlflow server``
(SQLite store) that this script starts on 127.0.0.1 and stops by its process id. Each arm runs
in a fresh interpreter (so the import of MLflow, which tracking needs, is counted), and the arms
alternate, so a change in machine load hits both.

Reported per arm: the median wall time of ``fit`` (from the call to its return), and the
median peak resident memory of the process (``ru_maxrss``); then the ratio of the medians, and the
median of each round's own ratio (the two arms of a round run back to back), and the CPU seconds the
server used during each arm (it shares the machine's cores with the search). Round 0 waits until the
server has finished its own start, which takes tens of CPU seconds after it first answers.

Usage: python bench/bench_tracking.py [--rounds 3] [--trials 20] [--builder seed|default]
Prints a Markdown table (docs/benchmarks.md, "Tracking overhead").
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the tests' real-server helper: mlflow server, stopped by pid


def one(tracking_uri: str | None, trials: int, out: Path, builder: str = "seed") -> dict[str, float]:
    """Run the fixed search once in this process; wall seconds of fit and peak RSS in MiB."""
    import numpy as np

    import asl_recog as asl

    fit_part, validation = asl.train_validation_split(asl.load_sign_mnist("train"), seed=0)

    def per_letter(data: asl.SignMnistDataset, n: int) -> asl.SignMnistDataset:
        rng = np.random.default_rng(0)
        picks = [rng.choice(np.flatnonzero(data.labels == c), n, replace=False) for c in np.unique(data.labels)]
        return data[np.sort(np.concatenate(picks))]

    train, valid = per_letter(fit_part, 100), per_letter(validation, 30)
    trainer = asl.HyperDriveTrainer(
        builder=builder,
        max_total_runs=trials,
        fixed_params={"epochs": 1, "batch_size": 64},
        refit=False,
        progress=False,
        run_dir=out,
        tracking_uri=tracking_uri,
    )
    start = time.perf_counter()
    result = trainer.fit(train, valid)
    seconds = time.perf_counter() - start
    assert len(result.leaderboard) == trials, result.leaderboard
    return {"seconds": seconds, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--builder", default="seed", help="the network each trial trains: seed (default) or default")
    parser.add_argument("--one", choices=["on", "off"], help=argparse.SUPPRESS)
    parser.add_argument("--uri", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        figures = one(args.uri if args.one == "on" else None, args.trials, Path(args.out), args.builder)
        print("BENCH " + json.dumps(figures), flush=True)
        return

    from mlflow_server import start_mlflow_server, stop_mlflow_server

    def server_cpu(pid: int) -> float:
        """CPU seconds used so far by the server and its worker processes."""
        import psutil

        total = 0.0
        for process in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    def settle(pid: int, timeout_s: float = 180.0) -> None:
        """Wait until the server stops working on its own start (its workers import for tens of CPU
        seconds after it first answers), so that round 0's first arm does not share the cores with it."""
        deadline, last = time.monotonic() + timeout_s, server_cpu(pid)
        while time.monotonic() < deadline:
            time.sleep(3)
            now = server_cpu(pid)
            if now - last < 0.15:  # under 5 % of a core
                return
            last = now

    env = {**os.environ, "MLFLOW_EXPERIMENT_NAME": "bench-tracking", "TF_CPP_MIN_LOG_LEVEL": "3"}
    with tempfile.TemporaryDirectory(prefix="bench-tracking-") as tmp:
        server = start_mlflow_server(Path(tmp) / "mlflow")
        settle(server.process.pid)
        runs: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
        try:
            for r in range(args.rounds):
                for arm in ("off", "on") if r % 2 == 0 else ("on", "off"):
                    command = [
                        sys.executable,
                        __file__,
                        "--one",
                        arm,
                        "--uri",
                        server.url,
                        "--trials",
                        str(args.trials),
                        "--builder",
                        args.builder,
                    ]
                    before = server_cpu(server.process.pid)
                    done = subprocess.run(
                        [*command, "--out", str(Path(tmp) / f"{arm}{r}")], env=env, capture_output=True, text=True
                    )
                    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH ")), None)
                    if done.returncode != 0 or line is None:
                        raise SystemExit(f"{arm} round {r} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
                    runs[arm].append({**json.loads(line[6:]), "server_cpu_s": server_cpu(server.process.pid) - before})
                    print(f"round {r} {arm}: {runs[arm][-1]}", file=sys.stderr, flush=True)
        finally:
            stop_mlflow_server(server)
    keys = ("seconds", "peak_mib", "server_cpu_s")
    med = {arm: {k: statistics.median(x[k] for x in v) for k in keys} for arm, v in runs.items()}
    print(f"\n{args.trials}-trial search (1-epoch {args.builder} CNN, 2,400 images), {args.rounds} rounds, "
          "alternating; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{time.strftime('%Y-%m-%d')}\n")  # fmt: skip
    print("| arm | median fit wall (s) | runs (s) | median peak RSS (MiB) | median server CPU (s) |")
    print("|---|---|---|---|---|")
    for arm, label in (("off", "no tracking"), ("on", "tracking_uri (mlflow server)")):
        each = ", ".join(f"{x['seconds']:.1f}" for x in runs[arm])
        row = f"{med[arm]['seconds']:.1f} | {each} | {med[arm]['peak_mib']:.0f} | {med[arm]['server_cpu_s']:.2f}"
        print(f"| {label} | {row} |")
    ratio = med["on"]["seconds"] / med["off"]["seconds"]
    # Each round ran both arms back to back: the median of the rounds' own ratios is less moved by a
    # change of load between rounds than the ratio of the two medians.
    paired = statistics.median(on["seconds"] / off["seconds"] for on, off in zip(runs["on"], runs["off"], strict=True))
    print(f"\ntracked / untracked wall: {ratio:.3f} ({(ratio - 1) * 100:+.1f} %) as a ratio of medians, "
          f"{paired:.3f} ({(paired - 1) * 100:+.1f} %) as the median of the rounds' ratios; "
          f"peak RSS {med['on']['peak_mib'] - med['off']['peak_mib']:+.0f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
