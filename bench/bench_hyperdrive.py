"""HyperDrive route, locally: best CNN of a time-boxed search, scored on the test file.

Runs the "default" builder's default search space (three batch-normalised conv
blocks with shift/rotation/zoom augmentation) with a Bandit policy, selecting on
the default grouped validation split of the full training file. The test file is
read only after training, to report test accuracy.

Usage: python bench/bench_hyperdrive.py [--runs 3] [--minutes 15] [--concurrency 1]
Prints Markdown tables (summary, then the leaderboard).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time

import asl_recog as asl


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="max_total_runs")
    parser.add_argument("--minutes", type=float, default=15.0, help="max_duration_minutes (no trial starts later)")
    parser.add_argument("--concurrency", type=int, default=1, help="max_concurrent_runs")
    parser.add_argument("--builder", default="default", choices=["default", "seed"])
    parser.add_argument("--run-dir", default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)

    train = asl.load_sign_mnist("train")
    run_dir = args.run_dir or tempfile.mkdtemp(prefix="bench-hyperdrive-")
    trainer = asl.HyperDriveTrainer(
        builder=args.builder, policy=asl.BanditPolicy(slack_factor=0.05, evaluation_interval=1, delay_evaluation=2),
        max_total_runs=args.runs, max_concurrent_runs=args.concurrency, max_duration_minutes=args.minutes,
        run_dir=os.path.join(run_dir, "run"), progress=False)
    start = time.perf_counter()
    result = trainer.fit(train)  # grouped validation split of the training file
    seconds = time.perf_counter() - start
    test = asl.load_sign_mnist("test")  # read only now, after the search
    test_accuracy = result.best_model.score(test)

    board = result.leaderboard
    epochs = sum(len(h) for h in board["history"])
    print("| route | best params | validation accuracy | test accuracy | trials | epochs trained "
          "| search time | cores |")
    print("|---|---|---|---|---|---|---|---|")
    params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in result.best_params.items())
    print(f"| HyperDrive (local, {args.builder} builder, Bandit 0.05) | {params} | {result.best_score:.4f} "
          f"| {test_accuracy:.4f} | {len(board)} | {epochs} | {seconds / 60:.1f} min | {os.cpu_count()} |")
    print()
    print("| trial | status | validation accuracy per epoch | duration (s) |")
    print("|---|---|---|---|")
    for _, row in board.iterrows():
        history = " ".join(f"{v:.3f}" for v in row["history"])
        print(f"| {row['trial']} | {row['status']} | {history} | {row['duration_s']:.0f} |")


if __name__ == "__main__":
    main()
