"""ONNX inference vs native predict: single-image latency and batch throughput.

Trains the default CNN, the seed CNN (one short epoch each: accuracy is not the
point) and the AutoML portfolio's default SVM (PCA + SVC) on 2,400 real
training images, exports each with ``asl_recog.export_onnx`` and times every
runtime with the Comparator's own measurement (``asl_recog.evaluation._latency``): raw
uint8 images in, ``predict_proba`` out.

Usage: python bench/bench_onnx.py [--repeats 2000] [--batch 1024] [--threads N]
Prints a Markdown table. The machine may be shared with other work: compare
rows of one run, not numbers across runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

import asl_recog as asl
from asl_recog.data._labels import labels_to_indices
from asl_recog.evaluation._latency import measure_latency


def _train(train: asl.SignMnistDataset) -> dict[str, tuple[asl.Model, str]]:
    from asl_recog.routes.automl._portfolio import ALGORITHMS, build_pipeline
    from asl_recog.routes.hyperdrive._builders import DEFAULTS, build_default, build_seed

    y = labels_to_indices(train.labels)
    models: dict[str, tuple[asl.Model, str]] = {}
    for name, builder, params in (
        ("default CNN", build_default, DEFAULTS["default"]),
        ("seed CNN", build_seed, DEFAULTS["seed"]),
    ):
        network = builder(params)
        network.fit(train.float_images, y, epochs=1, batch_size=128, verbose=0)
        models[name] = (asl.KerasModel(network, params=params), f"Keras {builder.__name__}({params})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        svm = build_pipeline("SVM", ALGORITHMS["SVM"].defaults).fit(train.flat, y)
    models["SVM (PCA+SVC)"] = (asl.SklearnModel(svm), f"scikit-learn portfolio SVM {ALGORITHMS['SVM'].defaults}")
    return models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2000, help="single-image calls timed per model")
    parser.add_argument("--batch", type=int, default=1024, help="batch size for throughput")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="onnxruntime threads for batches of 64+ (default min(2, cores)); single images use 1",
    )
    args = parser.parse_args()

    train = asl.load_sign_mnist("train")
    rng = np.random.default_rng(0)
    train = train[np.sort(rng.choice(len(train), 2400, replace=False))]
    images = asl.load_sign_mnist("test").images[:2048]  # timing inputs only; no score is reported
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-onnx-") as tmp:
        for name, (model, what) in _train(train).items():
            start = time.perf_counter()
            path = os.path.join(tmp, f"{len(rows)}.onnx")
            asl.export_onnx(model, path, parity_data=train[:256])
            export_s = time.perf_counter() - start
            onnx_model = asl.OnnxModel.load(path, threads=args.threads)
            native = "Keras (direct call / predict)" if isinstance(model, asl.KerasModel) else "scikit-learn"
            for runtime, target in (("onnxruntime", onnx_model), (native, model)):
                speed = measure_latency(target, images, repeats=args.repeats, batch_size=args.batch)
                rows.append(
                    (
                        name,
                        runtime,
                        speed,
                        os.path.getsize(path) if runtime == "onnxruntime" else None,
                        export_s if runtime == "onnxruntime" else None,
                    )
                )
            print(f"measured {name}: {what}", file=sys.stderr)

    threads = args.threads or min(2, os.cpu_count() or 1)
    print(
        f"| model | runtime | single-image p50 (ms) | p95 (ms) | batch of {args.batch} (images/s) "
        "| ONNX size | export + parity (s) |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, runtime, speed, size, export_s in rows:
        label = f"{runtime} (1 thread; {threads} for batches)" if runtime == "onnxruntime" else runtime
        print(
            f"| {name} | {label} | {speed.p50_ms:.3f} | {speed.p95_ms:.3f} | {speed.throughput:,.0f} | "
            f"{f'{size / 1e6:.2f} MB' if size else '-'} | {f'{export_s:.1f}' if export_s else '-'} |"
        )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"\n{args.repeats} single-image calls after 20 warm-up calls; throughput = median of 5 batch calls. "
        f"Inputs: raw uint8 28x28 test images. {os.cpu_count()} cores, 1-min load average at the end "
        f"{load:.1f} (the machine may be shared)."
    )


if __name__ == "__main__":
    main()
