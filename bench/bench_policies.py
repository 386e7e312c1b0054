"""Early-termination policies: search time and best validation accuracy, with and without a policy.

The same random search (same seed, so every policy sees the same trial
configurations) over the "seed" builder with a wide learning-rate range, on the
full training file with the default grouped validation split, is run with no
policy, a Bandit policy and a Median stopping policy. A good policy cuts the
total time (and epochs trained) without losing the best validation accuracy.

Usage: python bench/bench_policies.py [--runs 6] [--epochs 5] [--policies none bandit median]
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import tempfile
import time

import asl_recog as asl

POLICIES = {
    "none": None,
    "bandit": asl.BanditPolicy(slack_factor=0.1, evaluation_interval=1, delay_evaluation=1),
    "median": asl.MedianStoppingPolicy(evaluation_interval=1, delay_evaluation=1),
    "truncation": asl.TruncationSelectionPolicy(truncation_percentage=30, evaluation_interval=1, delay_evaluation=1),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--policies", nargs="*", default=["none", "bandit", "median"], choices=list(POLICIES))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    train = asl.load_sign_mnist("train")
    fit_part, validation = asl.train_validation_split(train)  # the default grouped split
    sampling = asl.RandomParameterSampling(
        {
            "learning_rate": asl.loguniform(math.log(1e-5), math.log(3e-2)),
            "hidden": asl.choice(64, 128, 256),
            "dropout": asl.uniform(0.1, 0.5),
        },
        seed=0,
    )
    rows = []
    for name in args.policies:
        run_dir = tempfile.mkdtemp(prefix=f"bench-policy-{name}-")
        trainer = asl.HyperDriveTrainer(
            builder="seed",
            hyperparameter_sampling=sampling,
            policy=POLICIES[name],
            fixed_params={"epochs": args.epochs, "batch_size": 128},
            max_total_runs=args.runs,
            seed=0,
            run_dir=run_dir,
            progress=False,
        )
        start = time.perf_counter()
        result = trainer.fit(fit_part, validation)
        seconds = time.perf_counter() - start
        board = result.leaderboard
        rows.append(
            (
                name,
                seconds,
                sum(len(h) for h in board["history"]),
                (board["status"] == "pruned").sum(),
                result.best_score,
                result.best_model.info["trial"],
            )
        )
        print(f"{name}: {seconds:.0f}s", file=sys.stderr)
    base = rows[0][1]
    print(
        f"| policy | search time | vs {rows[0][0]} | epochs trained | trials stopped early "
        f"| best validation accuracy | best trial |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, seconds, epochs, pruned, best, trial in rows:
        print(
            f"| {name} | {seconds / 60:.1f} min | {seconds / base:.0%} | {epochs} / {args.runs * args.epochs} "
            f"| {pruned} / {args.runs} | {best:.4f} | {trial} |"
        )


if __name__ == "__main__":
    main()
