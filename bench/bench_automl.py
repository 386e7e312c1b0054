"""AutoML route, locally: best model of a time-boxed search, scored on the test file, over seeds.

The search selects on the default grouped validation split of the full training
file; the test file is read only after training, to report test accuracy. Each
seed is one whole search (split, search, ensembles, refit); the winner is exported
to ONNX (with the parity check) and its single-image latency measured.

Usage:
    python bench/bench_automl.py --minutes 15 --seeds 0 1 2 --stack   # the full target (>= 0.965, mean of 3)
    python bench/bench_automl.py --minutes 3 --seeds 0 1 2 --stack    # the quick target (>= 0.95)
    python bench/bench_automl.py --minutes 15 --featurization off      # raw pixels, as before issue 14
    python bench/bench_automl.py --minutes 1 --seeds 0 --trainer-defaults  # short budgets (issue 25)
    python bench/bench_automl.py --preset quick --seeds 0 1 2   # the main job's AutoML settings
Options: [--iteration-minutes 8] [--concurrency 2] [--models SVM KNN ...] [--no-augment] [--no-refit]
[--max-latency-ms 1] [--trainer-defaults: AutoMLTrainer's own defaults but the budget and seed]
[--preset quick|full: exactly the main job's AutoML settings (asl_recog.cli._pipeline.PRESETS)]
Each winner is also scored on the corruption suite (mCA on its fixed 1,000 test images, no threshold).
Prints Markdown tables: one row per seed (a search that returned no model says why), the mean,
then each seed's probe estimates against the real fit times, and its leaderboard top rows.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from typing import Any

import asl_recog as asl
from asl_recog.cli._pipeline import PRESETS
from asl_recog.evaluation import CorruptionSuite
from asl_recog.evaluation._latency import measure_latency


def one_seed(args: argparse.Namespace, seed: int, train: Any, test: Any, run_dir: str) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "iteration_timeout_minutes": args.iteration_minutes,
        "max_concurrent_iterations": args.concurrency,
        "allowed_models": args.models,
        "augment": not args.no_augment,
        "featurization": args.featurization,
        "enable_stack_ensemble": args.stack,
        "refit": not args.no_refit,
        "max_latency_ms": args.max_latency_ms,
    }
    if args.preset:
        settings = dict(PRESETS[args.preset]["automl"])
    elif args.trainer_defaults:
        settings = {"experiment_timeout_minutes": args.minutes}
    else:
        settings["experiment_timeout_minutes"] = args.minutes
    trainer = asl.AutoMLTrainer(seed=seed, run_dir=os.path.join(run_dir, f"seed{seed}"), progress=False, **settings)
    start = time.perf_counter()
    try:
        result = trainer.fit(train)  # grouped validation split of the training file
    except asl.TrialFailedError as exc:  # issue 25: a short budget must say why it has no model
        return {"seed": seed, "result": None, "error": str(exc), "search_s": time.perf_counter() - start}
    seconds = time.perf_counter() - start
    onnx_path = os.path.join(run_dir, f"seed{seed}", "best.onnx")
    onnx_model = asl.export_onnx(result.best_model, onnx_path)  # refuses to write on a parity failure
    latency = measure_latency(onnx_model, test.images, repeats=300)
    robustness = CorruptionSuite().evaluate(onnx_model, test)
    return {
        "mca": robustness.mca,
        "mirror": float(robustness.per_corruption["mirror"]),
        "background": float(robustness.per_family["background"]),
        "seed": seed,
        "result": result,
        "test": result.best_model.score(test),
        "search_s": seconds - result.refit_seconds,
        "refit_s": result.refit_seconds,
        "p50_ms": latency.p50_ms,
        "onnx_mb": os.path.getsize(onnx_path) / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=15.0, help="experiment_timeout_minutes")
    parser.add_argument("--iteration-minutes", type=float, default=8.0, help="iteration_timeout_minutes")
    parser.add_argument("--concurrency", type=int, default=2, help="max_concurrent_iterations")
    parser.add_argument("--models", nargs="*", default=None, help="allowed_models (default: all)")
    parser.add_argument("--seeds", nargs="*", type=int, default=[0], help="one whole search per seed")
    parser.add_argument("--featurization", choices=["auto", "off"], default="auto")
    parser.add_argument("--stack", action="store_true", help="enable_stack_ensemble")
    parser.add_argument("--no-augment", action="store_true", help="train on the original images only")
    parser.add_argument("--no-refit", action="store_true", help="keep the best trial's own model")
    parser.add_argument("--max-latency-ms", type=float, default=None, help="max_latency_ms")
    parser.add_argument(
        "--trainer-defaults", action="store_true", help="AutoMLTrainer's defaults for all but --minutes and the seed"
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default=None, help="the main job's AutoML settings")
    parser.add_argument("--run-dir", default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)

    train = asl.load_sign_mnist("train")
    test = asl.load_sign_mnist("test")  # scored only after each search
    run_dir = args.run_dir or tempfile.mkdtemp(prefix="bench-automl-")
    rows = [one_seed(args, seed, train, test, run_dir) for seed in args.seeds]

    setting = (
        f"{args.minutes:g} min, featurization={args.featurization}, stack={args.stack}, "
        f"augment={not args.no_augment}, {args.concurrency} workers, {os.cpu_count()} cores"
    )
    if args.trainer_defaults:
        setting = f"{args.minutes:g} min, AutoMLTrainer's defaults, {os.cpu_count()} cores"
    if args.preset:
        setting = f"the {args.preset} preset ({PRESETS[args.preset]['automl']}), {os.cpu_count()} cores"
    print(f"AutoML (local): {setting}")
    print()
    print(
        "| seed | best model | validation | test accuracy | mCA | mirror | background | search | refit "
        "| ONNX p50 (ms) | ONNX MB | skipped | guardrails alerted |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        result = row["result"]
        if result is None:
            why = row["error"][:300]
            print(f"| {row['seed']} | **no model** ({why}) | | |||| {row['search_s'] / 60:.1f} min |||||")
            continue
        alerted = [g["name"] for g in result.extras.get("guardrails", []) if g["status"] == "alerted"]
        skipped = ", ".join(result.extras.get("ordering", {}).get("skipped", {})) or "-"
        model = result.best_model.info.get("algorithm")
        featurizer = result.best_params.get("featurizer", "")
        print(
            f"| {row['seed']} | {model} {featurizer} | {result.best_score:.4f} | {row['test']:.4f} "
            f"| {row['mca']:.3f} | {row['mirror']:.2f} | {row['background']:.2f} "
            f"| {row['search_s'] / 60:.1f} min | {row['refit_s']:.0f} s | {row['p50_ms']:.2f} "
            f"| {row['onnx_mb']:.1f} | {skipped} | {', '.join(alerted) or 'none'} |"
        )
    tests = [row["test"] for row in rows if row["result"] is not None]
    spread = f" (sd {statistics.stdev(tests):.4f})" if len(tests) > 1 else ""
    if tests:
        mcas = [row["mca"] for row in rows if row["result"] is not None]
        print(
            f"| mean of {len(tests)} | | | {statistics.mean(tests):.4f}{spread} | {statistics.mean(mcas):.3f} "
            "| | | | | | | | |"
        )
    for row in (row for row in rows if row["result"] is not None):
        ordering = row["result"].extras.get("ordering", {})
        print()
        print(f"seed {row['seed']}: probe estimates against the first trials' real fit times")
        print()
        print("| first trial | estimated (s) | actual (s) | actual / estimated |")
        print("|---|---|---|---|")
        compared = ordering.get("estimated_vs_actual", {})
        for name, estimate in ordering.get("estimated_fit_seconds", {}).items():
            real = compared.get(name)
            actual = f"{real['actual_s']:.1f} | {real['ratio']:.2f}" if real else "not finished | -"
            print(f"| {name} | {estimate:.1f} | {actual} |")
        board = row["result"].leaderboard
        print()
        print(f"seed {row['seed']}: leaderboard top rows")
        print()
        print("| trial | model | featurizer | status | validation | duration (s) |")
        print("|---|---|---|---|---|---|")
        for _, trial in board.head(8).iterrows():
            print(
                f"| {trial['trial']} | {trial['model']} | {trial['params'].get('featurizer', '')} | {trial['status']} "
                f"| {trial[row['result'].primary_metric]:.4f} | {trial['duration_s']:.0f} |"
            )


if __name__ == "__main__":
    main()
