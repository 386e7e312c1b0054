"""The default network's clean accuracy against its robustness, per epochs and robust_strength (issue 26).

One fit per setting, seed 0, on the grouped split's training part (no search, no refit):
``train_network(build_default, {"epochs": E, "robust_strength": s})``, then the test accuracy
(read after training, for the record) and the corruption suite's mCA on its fixed 1,000-image
subsample, with no "unknown" threshold (that is chosen at export). A setting takes 2-4 minutes
on 2 cores. Strength 0 is the previous recipe (Keras shift, rotation and zoom layers).

With ``--outliers`` (``outlier_share``: no-hand images per batch image, outlier exposure) it
also chooses the "unknown" threshold as export does (``choose_unknown_threshold`` on the
grouped validation split) and reports what it refuses: held-out no-hand photos (the benchmark
half of the photo pool, never trained on) and the clean test file, and mCA with refusals
counted wrong.

Usage:
    python bench/bench_robust_strength.py --epochs 4 --strengths 0 0.25 0.5
    python bench/bench_robust_strength.py --epochs 6 --strengths 0.75 --shares 0.5 --outliers 0 0.125
Prints one Markdown row per setting as it finishes.
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np

import asl_recog as asl
from asl_recog._console import configure_logging
from asl_recog.data._labels import labels_to_indices
from asl_recog.evaluation import CorruptionSuite
from asl_recog.models._base import KerasModel
from asl_recog.models._unknown import choose_unknown_threshold
from asl_recog.routes.hyperdrive._builders import build_default
from asl_recog.routes.hyperdrive._training import train_network


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--epochs", type=int, nargs="+", default=[6])
    parser.add_argument("--strengths", type=float, nargs="+", default=[0.0, 0.5])
    parser.add_argument("--filters", type=int, default=32, help="the first conv block's filters (doubling per block)")
    parser.add_argument(
        "--shares", type=float, nargs="+", default=[1.0], help="robust_share: the corrupted share of each batch"
    )
    parser.add_argument(
        "--outliers", type=float, nargs="*", default=None, help="outlier_share values; adds the threshold's columns"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    configure_logging(-1)
    fit, validation = asl.train_validation_split(asl.load_sign_mnist("train"), seed=0)
    x, y = fit.float_images, labels_to_indices(fit.labels)
    vx, vy = validation.float_images, labels_to_indices(validation.labels)
    test = asl.load_sign_mnist("test")
    print(f"filters {args.filters}, seed {args.seed}")
    thresholds = args.outliers is not None
    extra = (
        " outlier_share | threshold | no-hand refused (held out) | clean test refused | mCA (refusals wrong) "
        "| threshold, max_refused 1 % | no-hand refused | clean test refused | mCA (refusals wrong) |"
    )
    print(
        "| epochs | robust_strength | robust_share | clean validation | test accuracy | mCA (no threshold) "
        f"| mirror | background | fit s |{extra if thresholds else ''}"
    )
    print("|---:" * (18 if thresholds else 9) + "|")
    settings = itertools.product(args.epochs, args.strengths, args.shares, args.outliers or [0.0])
    for epochs, strength, share, outliers in settings:
        start = time.perf_counter()
        params = {"epochs": epochs, "robust_strength": strength, "robust_share": share, "filters": args.filters}
        params["outlier_share"] = outliers
        network, history, _ = train_network(build_default, params, (x, y), (vx, vy), seed=args.seed)
        seconds = time.perf_counter() - start
        model = KerasModel(network, params, {})
        accuracy = model.score(test)  # labels against labels (class indices skip J: not the same numbers)
        robust = CorruptionSuite(seed=args.seed).evaluate(model, test)
        print(
            f"| {epochs} | {strength:g} | {share:g} | {history[-1]:.3f} | {accuracy:.3f} | {robust.mca:.3f} "
            f"| {robust.per_corruption['mirror']:.2f} | {robust.per_family['background']:.2f} | {seconds:.0f} |"
            + (refusals(model, validation, test, outliers, args.seed) if thresholds else ""),
            flush=True,
        )


def refusals(
    model: KerasModel, validation: asl.SignMnistDataset, test: asl.SignMnistDataset, outliers: float, seed: int
) -> str:
    """The threshold export would store for ``model`` (the rule's default bound, then 1 %), and what each refuses."""
    proba = np.asarray(model.predict_proba(test.images)).max(axis=1)
    cells = [f" {outliers:g} |"]
    for bound in (0.05, 0.01):
        unknown = choose_unknown_threshold(model, validation, max_refused=bound)
        robust = CorruptionSuite(seed=seed).evaluate(model, test, unknown.threshold)
        cells.append(
            f" {unknown.threshold:.3f} | {unknown.refused_held_out_photos:.3f} | "
            f"{float(np.mean(proba < unknown.threshold)):.3f} | {robust.mca:.3f} |"
        )
    return "".join(cells)


if __name__ == "__main__":
    main()
