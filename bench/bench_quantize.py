"""Float vs int8 ONNX export of a CNN: file size, latency, throughput and validation accuracy.

Exports the model twice with ``asl_recog.export_onnx``, float and ``quantize="int8"`` (ONNX Runtime's
static quantization, calibrated on the grouped validation split), and times both with the
Comparator's own measurement (``asl_recog.evaluation._latency``): raw uint8 images in,
``predict_proba`` out, on ONNX Runtime. Accuracy is measured on the grouped **validation** split
only (seed 0 of ``train_validation_split``); the test file is not read (only the Comparator reads it).

Usage: python bench/bench_quantize.py [--model MODEL.keras] [--epochs 2] [--repeats 2000] [--batch 1024]
Without ``--model`` it trains the default CNN (``DEFAULTS["default"]``) on the split's training
part for ``--epochs`` epochs first. Give a model that was not trained on the validation split
(e.g. a HyperDrive trial's ``models/trial_00000.keras``, not a refit), or the accuracy is in-sample.
Prints a Markdown table. The machine may be shared: compare rows of one run, not runs.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

import asl_recog as asl
from asl_recog.data._labels import labels_to_indices
from asl_recog.evaluation._latency import measure_latency
from asl_recog.models._quantize import QUANTIZATION_KEY


def _train_default(fit_part: asl.SignMnistDataset, epochs: int) -> asl.KerasModel:
    from asl_recog.routes.hyperdrive._builders import DEFAULTS, build_default

    network = build_default(DEFAULTS["default"])
    network.fit(fit_part.float_images, labels_to_indices(fit_part.labels), epochs=epochs, batch_size=128, verbose=0)
    return asl.KerasModel(network, params=DEFAULTS["default"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a saved Keras model (.keras); default: train the default CNN")
    parser.add_argument("--epochs", type=int, default=2, help="epochs when training the default CNN here")
    parser.add_argument("--repeats", type=int, default=2000, help="single-image calls timed per file")
    parser.add_argument("--batch", type=int, default=1024, help="images per batch for throughput")
    args = parser.parse_args()

    fit_part, validation = asl.train_validation_split(asl.load_sign_mnist("train"), seed=0)
    start = time.perf_counter()
    model = asl.Model.load(args.model) if args.model else _train_default(fit_part, args.epochs)
    source = args.model or f"default CNN trained here for {args.epochs} epochs ({time.perf_counter() - start:.0f} s)"
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_quantize_") as tmp:
        for label, quantize in (("float32", None), ("int8", "int8")):
            path = Path(tmp) / f"{label}.onnx"
            start = time.perf_counter()
            asl.export_onnx(
                model,
                path,
                parity_data=validation[:256],
                quantize=quantize,
                calibration_data=validation,
                test_data=False,
            )
            export_s = time.perf_counter() - start
            for threads in (1, 2):
                # threads=1: every call on one thread (the single-image session always is).
                onnx_model = asl.OnnxModel.load(path, threads=threads)
                speed = measure_latency(onnx_model, validation.images, repeats=args.repeats, batch_size=args.batch)
                if threads == 1:
                    accuracy = float(np.mean(onnx_model.predict(validation) == validation.labels))
                    agreement = onnx_model.metadata.get(QUANTIZATION_KEY, {}).get("agreement")
                    row = [label, f"{path.stat().st_size / 1e6:.2f}", f"{export_s:.1f}", f"{speed.p50_ms:.3f}"]
                    row += [f"{speed.p95_ms:.3f}", f"{speed.throughput:,.0f}"]
                else:
                    row += [
                        f"{speed.throughput:,.0f}",
                        f"{accuracy:.4f}",
                        "-" if agreement is None else f"{agreement:.4f}",
                    ]
            rows.append(row)
    print(f"model: {source}; validation: {len(validation):,} images (grouped split, seed 0)\n")
    header = [
        "file",
        "size (MB)",
        "export (s)",
        "p50 1 image (ms, 1 thread)",
        "p95 (ms)",
        f"images/s, batch {args.batch}, 1 thread",
        "images/s, 2 threads",
        "validation accuracy",
        "agreement with float",
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
