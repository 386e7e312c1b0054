"""Does validation accuracy predict test accuracy? Random vs grouped split, on the real data.

Fits logistic regression and 1-nearest-neighbour on the training part of each
split and scores the same fitted model on the split's validation part and on
sign_mnist_test.csv: an honest split gives a validation score close to the
test score of the model it validates. (The test file is read here only to
measure the split, never to choose anything.)

Usage: python bench/bench_split.py [--seeds 0 1 2]
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

import asl_recog as asl
from asl_recog.data._split import similarity_groups

MODELS = {
    "logistic regression": lambda: LogisticRegression(max_iter=200),
    "1-NN": lambda: KNeighborsClassifier(n_neighbors=1),
}


def accuracies(model_name: str, fit: asl.SignMnistDataset, *scored: asl.SignMnistDataset) -> list[float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MODELS[model_name]().fit(fit.flat, fit.labels)
    return [float(model.score(data.flat, data.labels)) for data in scored]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    train, test = asl.load_sign_mnist("train"), asl.load_sign_mnist("test")
    start = time.perf_counter()
    groups = similarity_groups(train)
    group_seconds = time.perf_counter() - start
    rows = []
    for name in MODELS:
        for strategy in ("random", "grouped"):
            pairs = []
            for seed in args.seeds:
                fit, val = asl.train_validation_split(
                    train, strategy=strategy, seed=seed, groups=groups if strategy == "grouped" else None
                )
                pairs.append(accuracies(name, fit, val, test))
                print(
                    f"  {name} {strategy} seed {seed}: validation {pairs[-1][0]:.4f}, test {pairs[-1][1]:.4f}",
                    flush=True,
                )
            val_scores, test_scores = np.array(pairs).T
            gaps = val_scores - test_scores
            rows.append((name, strategy, val_scores.mean(), test_scores.mean(), gaps.mean(), np.abs(gaps).max()))
    print(f"grouping {len(train):,} images into {len(np.unique(groups)):,} groups took {group_seconds:.2f} s\n")
    print(
        "| model | split | validation accuracy | test accuracy (same model) | mean gap (points) "
        f"| worst gap over {len(args.seeds)} seeds |"
    )
    print("|---|---|---|---|---|---|")
    for name, strategy, val_acc, test_acc, gap, worst in rows:
        print(f"| {name} | {strategy} | {val_acc:.4f} | {test_acc:.4f} | {gap * 100:+.1f} | {worst * 100:.1f} |")


if __name__ == "__main__":
    main()
