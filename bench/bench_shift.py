"""What models can and cannot read off the dataset: the library's corruption suite, as Markdown tables.

A thin front end of :class:`asl_recog.evaluation.CorruptionSuite` (19 corruptions in 7
families, 3 severities each, pinned in docs/robustness.md): for each model, clean accuracy
and mCA (95 % bootstrap CI) on the same fixed subsample of the test file, the mean per
family, and accuracy per corruption and severity. "unknown" answers (the model's stored
threshold) count as wrong. Deterministic for ``--seed``; no timing.

Usage:
    python bench/bench_shift.py --model cnn=runs/demo/hyperdrive/model.onnx --model automl=runs/demo/automl/model.onnx
    python bench/bench_shift.py --tiny --max-images 200       # a tiny model, a smoke run of a few seconds
Prints the tables (and writes them to ``--out``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

import asl_recog as asl
from asl_recog.data._labels import labels_to_indices
from asl_recog.evaluation import FAMILIES, CorruptionSuite, RobustnessResult
from asl_recog.evaluation._robustness import unknown_threshold


def summary_table(results: dict[str, RobustnessResult]) -> str:
    """Models down; clean, mCA with its CI, then each family's mean across."""
    lines = [
        "| model | images | clean | mCA (95% CI) | " + " | ".join(FAMILIES) + " |",
        "|---|---:|---:|---:|" + "---:|" * len(FAMILIES),
    ]
    for name, r in results.items():
        families = " | ".join(f"{r.per_family[f]:.3f}" if f in r.per_family else "-" for f in FAMILIES)
        lines.append(
            f"| {name} | {r.n_images:,} | {r.clean_accuracy:.4f} | {r.mca:.4f} ({r.mca_ci[0]:.3f}-{r.mca_ci[1]:.3f})"
            f" | {families} |"
        )
    return "\n".join(lines)


def detail_table(results: dict[str, RobustnessResult]) -> str:
    """Corruption and severity down, models across."""
    first = next(iter(results.values())).table
    frame = pd.DataFrame({"family": first["family"], "level": first["level"]})
    for name, r in results.items():
        frame[name] = r.table["accuracy"].to_numpy()
    lines = ["| family | corruption | " + " | ".join(results) + " |", "|---|---|" + "---:|" * len(results)]
    for _, row in frame.iterrows():
        lines.append(f"| {row['family']} | {row['level']} | " + " | ".join(f"{row[n]:.3f}" for n in results) + " |")
    return "\n".join(lines)


def tiny_model() -> asl.Model:
    """A small real model (PCA + logistic regression on 2,400 grouped-split training images), for smoke runs."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    fit_part, _ = asl.train_validation_split(asl.load_sign_mnist("train"), seed=0)
    fit_part = fit_part[:: max(1, len(fit_part) // 2400)]
    estimator = make_pipeline(PCA(30, random_state=0), LogisticRegression(max_iter=300))
    return asl.SklearnModel(estimator.fit(fit_part.flat, labels_to_indices(fit_part.labels)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", action="append", help="NAME=PATH (or PATH) of a model; repeat for several")
    source.add_argument("--tiny", action="store_true", help="train a tiny model first (a smoke run)")
    parser.add_argument("--max-images", type=int, default=1000, help="the fixed test subsample (0: all 7,172)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corruptions", nargs="+", default=None, help="only these corruptions (default all)")
    parser.add_argument("--out", default=None, help="also write the Markdown here")
    args = parser.parse_args(argv)
    models: dict[str, asl.Model] = {}
    if args.tiny:
        models["tiny"] = tiny_model()
    for item in args.model or []:
        name, _, path = item.rpartition("=")
        models[name or Path(path).stem] = asl.Model.load(path)
    suite = CorruptionSuite(args.corruptions, max_images=args.max_images or None, seed=args.seed)
    test = asl.load_sign_mnist("test")
    results = {name: suite.evaluate(model, test, unknown_threshold(model)) for name, model in models.items()}
    text = f"{suite!r}\n\n{summary_table(results)}\n\n{detail_table(results)}"
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
