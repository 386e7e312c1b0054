"""AutoML route, locally: best model of a time-boxed search, scored on the test file.

The search selects on the default grouped validation split of the full training
file; the test file is read only after training, to report test accuracy.

Usage: python bench/bench_automl.py [--minutes 15] [--concurrency 2] [--iteration-minutes 8]
Prints Markdown tables (summary, then the leaderboard's top rows).
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
    parser.add_argument("--minutes", type=float, default=15.0, help="experiment_timeout_minutes")
    parser.add_argument("--iteration-minutes", type=float, default=8.0, help="iteration_timeout_minutes")
    parser.add_argument("--concurrency", type=int, default=2, help="max_concurrent_iterations")
    parser.add_argument("--models", nargs="*", default=None, help="allowed_models (default: all)")
    parser.add_argument("--no-augment", action="store_true", help="train on the original images only")
    parser.add_argument("--run-dir", default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)

    train = asl.load_sign_mnist("train")
    run_dir = args.run_dir or tempfile.mkdtemp(prefix="bench-automl-")
    trainer = asl.AutoMLTrainer(
        experiment_timeout_minutes=args.minutes,
        iteration_timeout_minutes=args.iteration_minutes,
        max_concurrent_iterations=args.concurrency,
        allowed_models=args.models,
        augment=not args.no_augment,
        run_dir=os.path.join(run_dir, "run"),
        progress=False,
    )
    start = time.perf_counter()
    result = trainer.fit(train)  # grouped validation split of the training file
    seconds = time.perf_counter() - start
    test = asl.load_sign_mnist("test")  # read only now, after the search
    test_accuracy = result.best_model.score(test)

    board = result.leaderboard
    print(
        f"| route | best model | validation {result.primary_metric} | test accuracy | trials (completed/total) "
        f"| search time | cores |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| AutoML (local, augment={not args.no_augment}, {args.concurrency} workers) "
        f"| {result.best_model.info.get('algorithm')} | {result.best_score:.4f} | {test_accuracy:.4f} "
        f"| {(board['status'] == 'completed').sum()}/{len(board)} | {seconds / 60:.1f} min | {os.cpu_count()} |"
    )
    print()
    print("| trial | model | status | validation accuracy | test accuracy | duration (s) |")
    print("|---|---|---|---|---|---|")
    for _, row in board.head(8).iterrows():
        test_score = ""
        if row["status"] == "completed":
            path = os.path.join(run_dir, "run", "models")
            files = [f for f in os.listdir(path) if f.endswith(".aslskl") and f"{row['trial']:05d}" in f]
            if files:
                test_score = f"{asl.Model.load(os.path.join(path, files[0])).score(test):.4f}"
        print(
            f"| {row['trial']} | {row['model']} | {row['status']} | {row[result.primary_metric]:.4f} "
            f"| {test_score} | {row['duration_s']:.0f} |"
        )


if __name__ == "__main__":
    main()
