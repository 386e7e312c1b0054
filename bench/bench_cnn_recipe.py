"""The default CNN's recipe on the grouped validation split: accuracy per epoch, and seconds per epoch.

The HyperDrive search selects on this split, so recipe changes are judged here,
never on the test file. One configuration, one process:

    python bench/bench_cnn_recipe.py --epochs 12                 # validation accuracy per epoch
    python bench/bench_cnn_recipe.py --epochs 2 --images 8000 --no-validation --plain
                                                                  # seconds per epoch, op determinism off

``--plain`` skips TensorFlow's op determinism (on by default for seeded fits) to
measure its cost side by side, e.g. with ``farm-bench --vs`` or two shell loops.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import asl_recog as asl
import asl_recog.routes.hyperdrive._training as training
from asl_recog._console import configure_logging
from asl_recog.data._labels import labels_to_indices
from asl_recog.routes.hyperdrive._builders import DEFAULTS, build_default


def _arrays(data: asl.SignMnistDataset) -> tuple[np.ndarray, np.ndarray]:
    return (data.images.astype(np.float32) / 255.0)[..., None], labels_to_indices(data.labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--params", default="{}", help="JSON of builder params, e.g. '{\"batch_size\": 256}'")
    parser.add_argument("--threads", type=int, default=None, help="TensorFlow intra-op threads (default: all)")
    parser.add_argument("--images", type=int, default=None, help="train on the first N fit images only")
    parser.add_argument("--no-validation", action="store_true", help="train on the whole file, report time only")
    parser.add_argument("--plain", action="store_true", help="leave TensorFlow's op determinism off")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    configure_logging(-1)
    training.configure_threads(args.threads)
    if args.plain:
        training.make_deterministic = lambda: None  # the cost comparison's baseline
    train = asl.load_sign_mnist("train")
    fit, validation = (train, None) if args.no_validation else asl.train_validation_split(train, seed=args.seed)
    if args.images:
        fit = fit[: args.images]
    params = {**json.loads(args.params), "epochs": args.epochs}
    start = time.perf_counter()
    _, history, _ = training.train_network(
        build_default,
        params,
        _arrays(fit),
        _arrays(validation) if validation is not None else None,
        seed=args.seed,
        defaults=DEFAULTS["default"],
    )
    seconds = time.perf_counter() - start
    curve = " ".join(f"{v:.4f}" for v in history) or "-"
    mode = "plain" if args.plain else "deterministic"
    print(f"| {json.dumps(params)} | {len(fit):,} | {mode} | {seconds / args.epochs:.1f} | {curve} |")


if __name__ == "__main__":
    main()
