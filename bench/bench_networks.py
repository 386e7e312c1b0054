"""Network size against accuracy and robustness: the Pareto table of the default builder's shapes (issue 30, item 2).

One fit per network shape, seed 0, with the default recipe (robust training on: every corruption
family on half of each batch, the transfer share, cosine decay) at the search's epoch count
(``--epochs``, 10 by default; the default space searches 10 or 12), on the grouped split's
training part, no search and no refit: ``train_network(build_default, {...shape, "epochs": E},
defaults=DEFAULTS["default"])``, as a search's trial runs.
For each: parameters and multiply-adds per image (``_cost.network_cost``), the ONNX file's
single-image p50 on one thread (median of ``--calls`` calls after 20 warm-up calls, raw uint8
validation images in and probabilities out, as the scoring service runs one image) and its batched
throughput (1,024-image batches on 2 threads; ``evaluation._latency.measure_latency``), the clean
validation accuracy (what selection reads), then, read only after training and for the record, the
test file's accuracy and the corruption suite's mCA on its fixed 1,000-image subsample (no "unknown"
threshold), with the mirror and background figures.

Usage:
    python bench/bench_networks.py                       # the shapes below, 10 epochs
    python bench/bench_networks.py --shapes default separable --epochs 12
Prints one Markdown row per shape as it finishes (docs/benchmarks.md, "Network size").
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import asl_recog as asl
from asl_recog._console import configure_logging
from asl_recog.data._labels import labels_to_indices
from asl_recog.evaluation import CorruptionSuite
from asl_recog.evaluation._latency import measure_latency
from asl_recog.models._base import KerasModel
from asl_recog.routes.hyperdrive._builders import DEFAULTS, build_default
from asl_recog.routes.hyperdrive._cost import network_cost
from asl_recog.routes.hyperdrive._training import train_network

#: The shapes measured: name -> the default builder's params that differ from its defaults.
SHAPES: dict[str, dict[str, object]] = {
    "default": {},
    "separable": {"separable": True},
    "filters 16": {"filters": 16},
    "filters 24": {"filters": 24},
    "2 blocks, filters 16": {"blocks": 2, "filters": 16},
    "separable, filters 48": {"separable": True, "filters": 48},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--shapes", nargs="+", choices=sorted(SHAPES), default=list(SHAPES))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--calls", type=int, default=2000, help="single-image calls timed per ONNX file")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    configure_logging(-1)
    fit, validation = asl.train_validation_split(asl.load_sign_mnist("train"), seed=0)
    x, y = fit.float_images, labels_to_indices(fit.labels)
    vx, vy = validation.float_images, labels_to_indices(validation.labels)
    print(f"epochs {args.epochs}, seed {args.seed}, {len(fit):,} training and {len(validation):,} validation images")
    print(
        "| network | params | parameters | MACs per image | ONNX p50, 1 image (ms) | images/s, batches of 1,024 "
        "| clean validation | test accuracy | mCA | mirror | background | fit (s) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    test = None
    for name in args.shapes:
        shape = SHAPES[name]
        params = {**shape, "epochs": args.epochs}
        start = time.perf_counter()
        # The training loop reads the recipe (robust and transfer shares, cosine decay) from its
        # defaults, as a search's trial does: without them it would train plainly.
        network, history, _ = train_network(
            build_default, params, (x, y), (vx, vy), seed=args.seed, defaults=DEFAULTS["default"]
        )
        seconds = time.perf_counter() - start
        cost = network_cost(network)
        model = KerasModel(network, params, {})
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "network.onnx"
            asl.export_onnx(model, path, parity_data=validation[:256], test_data=False)
            # The Comparator's measurement: raw uint8 images in, predict_proba out; one thread for a
            # single image (as the scoring service runs), both cores for the 1,024-image batches.
            speed = measure_latency(asl.OnnxModel.load(path, threads=2), validation.images, repeats=args.calls)
        test = test if test is not None else asl.load_sign_mnist("test")  # read after training, for the record
        accuracy = model.score(test)
        robust = CorruptionSuite(seed=args.seed).evaluate(model, test)
        described = ", ".join(f"{k}={v}" for k, v in shape.items()) or "(defaults)"
        print(
            f"| {name} | {described} | {cost.parameters:,} | {cost.macs / 1e6:.2f} M | {speed.p50_ms:.3f} "
            f"| {speed.throughput:,.0f} "
            f"| {history[-1]:.4f} | {accuracy:.4f} | {robust.mca:.3f} | {robust.per_corruption['mirror']:.2f} "
            f"| {robust.per_family['background']:.2f} | {seconds:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
