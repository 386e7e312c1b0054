"""HyperDrive route, locally: a search plus refit per seed, scored on the test file afterwards.

For each seed: the default builder's default space with a Bandit policy, selected
on the default grouped validation split of the training file, then refit on the
whole training file (the trainer's default). The test file is read only after
training, by the Comparator: the refit model's accuracy, and, for the record, the
accuracy of every epoch checkpoint the refit saved (never used for selection). The test
file's 7,172 images copy about 380 source photos, so errors come in whole photos (about 19
images, 0.26 points, each): the table says how many photos were misread and which letters.

Off the dataset too: the refit model's mean corruption accuracy (mCA, with its 95 % CI)
and its mean per corruption family, on the corruption suite's fixed 1,000-image subsample
of the test file (docs/robustness.md). The model answers every image there. Then the
"unknown" threshold as the main job chooses it (``choose_unknown_threshold`` on the selected
trial's model and the search's validation split) and what it makes the refit model, the one
served, refuse: no-hand photos of the photo pool's benchmark half (never trained or fitted
on), the clean test file, and the suite's images (mCA with "unknown" counted wrong).

Usage:
    python bench/bench_hyperdrive.py --seeds 0 1 2 [--runs 3] [--minutes 10] [--epochs E]
    python bench/bench_hyperdrive.py --seeds 0 1 2 --runs 1 --epochs 6 --no-policy   # the quick preset's CNN
    python bench/bench_hyperdrive.py --seeds 0 --runs 1 --epochs 6 --no-policy --param transfer_share=0.3
    python bench/bench_hyperdrive.py --seeds 0 1 2 --runs 9 --policy successive_halving   # rung budgets
Prints Markdown tables. One seed takes about 15-20 minutes on 2 cores (the quick preset's
5-6); seeds may be run separately and their rows put together.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

import asl_recog as asl
from asl_recog._console import configure_logging
from asl_recog.data._labels import LETTERS
from asl_recog.data._photos import background_crops
from asl_recog.evaluation import CorruptionSuite
from asl_recog.models._unknown import choose_unknown_threshold

#: The early-termination policies a run can use (--policy): the default search's Bandit policy, none (the
#: quick preset), or the local-only rung budgets (issue 30), whose trials stop at 1, 3 or 9 epochs.
POLICIES = {
    "bandit": lambda: asl.BanditPolicy(slack_factor=0.05, evaluation_interval=1, delay_evaluation=2),
    "none": lambda: None,
    "successive_halving": lambda: asl.SuccessiveHalvingPolicy(min_resource=1, reduction_factor=3),
    "hyperband": lambda: asl.HyperbandPolicy(min_resource=1, reduction_factor=3),
}


def run_seed(seed: int, args: argparse.Namespace, train: asl.SignMnistDataset, folder: Path) -> dict:
    fixed = {**({"epochs": args.epochs} if args.epochs else {}), **dict(args.param)} or None
    trainer = asl.HyperDriveTrainer(
        builder="default",
        policy=POLICIES["none" if args.no_policy else args.policy](),
        max_total_runs=args.runs,
        max_duration_minutes=args.minutes,
        fixed_params=fixed,
        seed=seed,
        run_dir=folder / f"seed{seed}",
        progress=False,
    )
    start = time.perf_counter()
    result = trainer.fit(train)  # the grouped validation split of the training file
    total = time.perf_counter() - start
    test = asl.load_sign_mnist("test")  # read only now, by the Comparator
    checkpoints = sorted((folder / f"seed{seed}" / "refit").glob("epoch_*.keras"))
    models = {"refit": result.best_model, **{path.stem: str(path) for path in checkpoints}}
    comparison = asl.Comparator(models, measure_speed=False).evaluate(test)
    summary = comparison.summary
    robust = asl.Comparator({"refit": result.best_model}, measure_speed=False).evaluate(test, corruptions=True)
    return {
        "unknown": refusals(result, train, seed, test),
        "robustness": robust.robustness["refit"],
        "seed": seed,
        "params": result.best_params,
        "validation": result.best_score,
        "trial": result.best_trial,
        "trials": len(result.leaderboard),
        "search_s": total - result.refit_seconds,
        "refit_s": result.refit_seconds,
        "test": float(summary.loc["refit", "accuracy"]),
        "errors": int(round((1 - summary.loc["refit", "accuracy"]) * len(test))),
        "photos": (int(summary.loc["refit", "photos_misread"]), int(summary.loc["refit", "photos"])),
        "confusions": confusions(comparison.confusion["refit"]),
        "curve": [float(summary.loc[path.stem, "accuracy"]) for path in checkpoints],
        "board": result.leaderboard,
    }


def confusions(matrix: np.ndarray) -> str:
    """A confusion matrix's errors (the Comparator's: rows true, columns answered) as 'true->answered xN',
    most frequent first (e.g. 'Y->I x20')."""
    errors = matrix * (1 - np.eye(len(matrix), dtype=matrix.dtype))
    cells = sorted(zip(*np.nonzero(errors), strict=True), key=lambda cell: -errors[cell])
    return ", ".join(f"{LETTERS[t]}->{LETTERS[p]} x{errors[t, p]}" for t, p in cells) or "none"


def refusals(result: asl.TrainingResult, train: asl.SignMnistDataset, seed: int, test: asl.SignMnistDataset) -> dict:
    """The main job's threshold for this search, and what the refit model refuses with it."""
    _, validation = asl.train_validation_split(train, seed=seed)  # the trainer's own split for this seed
    unknown = choose_unknown_threshold(result.trial_model or result.best_model, validation)
    served = result.best_model

    def refused(images: np.ndarray) -> float:
        return float(np.mean(np.asarray(served.predict_proba(images)).max(axis=1) < unknown.threshold))

    return {
        "threshold": unknown.threshold,
        "no_hand": refused(background_crops("benchmark", 200, 0)),
        "test": refused(test.images),
        "mca": CorruptionSuite().evaluate(served, test, unknown.threshold).mca,
    }


def _param(text: str) -> tuple[str, object]:
    key, _, value = text.partition("=")
    if value.lower() in ("true", "false"):
        return key, value.lower() == "true"
    try:
        return key, int(value)
    except ValueError:
        return key, float(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--runs", type=int, default=3, help="max_total_runs")
    parser.add_argument("--minutes", type=float, default=10.0, help="max_duration_minutes (no trial starts later)")
    parser.add_argument("--epochs", type=int, default=None, help="fix the epochs instead of searching them")
    parser.add_argument("--no-policy", action="store_true", help="no early termination (the quick preset has none)")
    parser.add_argument("--policy", choices=sorted(POLICIES), default="bandit", help="the early-termination policy")
    parser.add_argument(
        "--param",
        type=_param,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="fix one more param, e.g. transfer_share=0.3 or normalize=true (repeatable)",
    )
    parser.add_argument("--run-dir", default=None)
    args = parser.parse_args()
    configure_logging(-1)
    train = asl.load_sign_mnist("train")
    folder = Path(args.run_dir or tempfile.mkdtemp(prefix="bench-hyperdrive-"))
    rows = [run_seed(seed, args, train, folder) for seed in args.seeds]
    print(
        "| seed | selected params (trial) | validation accuracy | search | refit | test accuracy | test errors "
        "| source photos misread | errors (true->answered) | test accuracy per refit epoch (record only) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in r["params"].items())
        curve = " ".join(f"{v:.4f}" for v in r["curve"])
        print(
            f"| {r['seed']} | {params} ({r['trial']} of {r['trials']}) | {r['validation']:.4f} "
            f"| {r['search_s'] / 60:.1f} min | {r['refit_s'] / 60:.1f} min | **{r['test']:.4f}** | {r['errors']} "
            f"| {r['photos'][0]} of {r['photos'][1]} | {r['confusions']} | {curve} |"
        )
    mean = sum(r["test"] for r in rows) / len(rows)
    print()
    print(f"Mean test accuracy over {len(rows)} seed(s): **{mean:.4f}**; cores: {os.cpu_count()}.")
    print()
    families = list(rows[0]["robustness"].per_family.index)
    print("| seed | clean (1,000 images) | mCA (95% CI) | " + " | ".join(families) + " |")
    print("|---|---:|---:|" + "---:|" * len(families))
    for r in rows:
        rb = r["robustness"]
        print(
            f"| {r['seed']} | {rb.clean_accuracy:.4f} | {rb.mca:.4f} ({rb.mca_ci[0]:.3f}-{rb.mca_ci[1]:.3f}) | "
            + " | ".join(f"{v:.3f}" for v in rb.per_family)
            + " |"
        )
    print(f"\nMean mCA over {len(rows)} seed(s): **{sum(r['robustness'].mca for r in rows) / len(rows):.4f}**.")
    print()
    print(
        "| seed | 'unknown' threshold | no-hand photos refused (held out) | clean test refused | mCA, 'unknown' wrong |"
    )
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        u = r["unknown"]
        print(f"| {r['seed']} | {u['threshold']:.3f} | {u['no_hand']:.3f} | {u['test']:.4f} | {u['mca']:.3f} |")
    print()
    print("| seed | trial | status | validation accuracy per epoch | duration (s) |")
    print("|---|---|---|---|---|")
    for r in rows:
        for _, row in r["board"].iterrows():
            history = " ".join(f"{v:.3f}" for v in row["history"])
            print(f"| {r['seed']} | {row['trial']} | {row['status']} | {history} | {row['duration_s']:.0f} |")


if __name__ == "__main__":
    main()
