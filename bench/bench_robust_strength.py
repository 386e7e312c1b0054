"""The default network's clean accuracy against its robustness, per epochs and robust_strength (issue 26).

One fit per setting, seed 0, on the grouped split's training part (no search, no refit):
``train_network(build_default, {"epochs": E, "robust_strength": s})``, then the test accuracy
(read after training, for the record) and the corruption suite's mCA on its fixed 1,000-image
subsample, with no "unknown" threshold (that is chosen at export). A setting takes 2-4 minutes
on 2 cores. Strength 0 is the previous recipe (Keras shift, rotation and zoom layers).

Usage:
    python bench/bench_robust_strength.py --epochs 4 --strengths 0 0.25 0.5
Prints one Markdown row per setting as it finishes.
"""

from __future__ import annotations

import argparse
import itertools
import time

import asl_recog as asl
from asl_recog._console import configure_logging
from asl_recog.data._labels import labels_to_indices
from asl_recog.evaluation import CorruptionSuite
from asl_recog.models._base import KerasModel
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
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    configure_logging(-1)
    fit, validation = asl.train_validation_split(asl.load_sign_mnist("train"), seed=0)
    x, y = (fit.images.astype("float32") / 255)[..., None], labels_to_indices(fit.labels)
    vx, vy = (validation.images.astype("float32") / 255)[..., None], labels_to_indices(validation.labels)
    test = asl.load_sign_mnist("test")
    print(f"filters {args.filters}, seed {args.seed}")
    print(
        "| epochs | robust_strength | robust_share | clean validation | test accuracy | mCA (no threshold) "
        "| mirror | background | fit s |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for epochs, strength, share in itertools.product(args.epochs, args.strengths, args.shares):
        start = time.perf_counter()
        params = {"epochs": epochs, "robust_strength": strength, "robust_share": share, "filters": args.filters}
        network, history, _ = train_network(build_default, params, (x, y), (vx, vy), seed=args.seed)
        seconds = time.perf_counter() - start
        model = KerasModel(network, params, {})
        accuracy = model.score(test)  # labels against labels (class indices skip J: not the same numbers)
        robust = CorruptionSuite(seed=args.seed).evaluate(model, test)
        print(
            f"| {epochs} | {strength:g} | {share:g} | {history[-1]:.3f} | {accuracy:.3f} | {robust.mca:.3f} "
            f"| {robust.per_corruption['mirror']:.2f} | {robust.per_family['background']:.2f} | {seconds:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
