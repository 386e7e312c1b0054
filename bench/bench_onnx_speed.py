"""What the export's graph rewrites and the split batches save: one network, side by side.

Two changes for issue 30's serving targets, each timed against what it replaced:

- **Graph rewrites** (``asl_recog/models/_onnx_fuse.py``): ``export_onnx`` makes the weightless
  per-image layer normalisation one ``LayerNormalization`` node instead of eleven, and Flatten's
  run-time target shape a constant. The same trained network is exported with the rewrites
  switched off for the measurement and with them (and as int8), and the files' single-image p50 is
  timed alternately with the Comparator's own measurement (``measure_latency``: raw uint8 test
  images in, ``predict_proba`` out, one onnxruntime thread), several rounds, medians.
- **Split batches** (``OnnxModel.predict_proba``): a batch of 1,024 images is scored as parts on two
  threads at once on one single-threaded session, where it ran on a twin session with two
  intra-op threads. Both are timed on the same files (the twin built here as ``OnnxModel`` built it).

The network: the default builder's defaults (issue 30's "default network") trained for one epoch
on the grouped split's fit part (accuracy is not the point; int8 calibrates on its validation
part), or a saved ``.keras`` model (``--model``); ``--onnx NAME=PATH`` adds other exported files
(e.g. AutoML's) to the batch table.

Usage: python bench/bench_onnx_speed.py [--model PATH.keras] [--onnx NAME=PATH ...] [--rounds 5]
Prints two Markdown tables (docs/benchmarks.md, "ONNX graph rewrites and split batches").
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from typing import Any
from unittest import mock

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import onnx
import onnxruntime as ort

import asl_recog as asl
from asl_recog.data._labels import labels_to_indices
from asl_recog.evaluation._latency import measure_latency
from asl_recog.models import _export


def _network(path: str | None, fit_part: asl.SignMnistDataset) -> tuple[asl.Model, str]:
    if path:
        return asl.Model.load(path), path
    from asl_recog.routes.hyperdrive._builders import DEFAULTS, build_default

    network = build_default(DEFAULTS["default"])
    network.fit(fit_part.float_images, labels_to_indices(fit_part.labels), epochs=1, batch_size=128, verbose=0)
    what = "the default network (builder defaults), 1 epoch on the grouped split's fit part"
    return asl.KerasModel(network, params=DEFAULTS["default"]), what


def _twin(model: asl.OnnxModel) -> Any:
    """The batch session OnnxModel used before: two intra-op threads that sleep between calls."""
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = 2, 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model.onnx_bytes, sess_options=options, providers=["CPUExecutionProvider"])


def _batch_rate(call: Any, repeats: int = 15) -> float:
    call()  # warm-up: allocations, the thread pool
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1024 / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", default=None, help="a saved Keras model (.keras); default: train the default")
    parser.add_argument("--onnx", nargs="*", default=[], metavar="NAME=PATH", help="more files for the batch table")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2000, help="single-image calls per round and file")
    args = parser.parse_args()
    fit_part, validation = asl.train_validation_split(asl.load_sign_mnist("train"), seed=0)
    model, what = _network(args.model, fit_part)
    images = asl.load_sign_mnist("test").images[:2048]  # timing inputs; the difference row reads them too
    calibration = validation  # int8 ranges and agreement, as the main job calibrates
    with tempfile.TemporaryDirectory(prefix="bench-onnx-speed-") as tmp:
        with mock.patch.object(_export, "simplify_keras_graph", lambda proto: {}):
            plain = asl.export_onnx(model, os.path.join(tmp, "plain.onnx"), test_data=False)
        fused = asl.export_onnx(model, os.path.join(tmp, "fused.onnx"), test_data=False)
        int8 = asl.export_onnx(
            model, os.path.join(tmp, "int8.onnx"), test_data=False, quantize="int8", calibration_data=calibration
        )
    files = {"float, as Keras exports it": plain, "float, rewritten (the default)": fused, "int8, rewritten": int8}
    nodes = {k: len(onnx.load_from_string(m.onnx_bytes).graph.node) for k, m in files.items()}
    runs: dict[str, list[Any]] = {k: [] for k in files}
    for r in range(args.rounds):
        for name in list(files) if r % 2 == 0 else list(files)[::-1]:  # alternate the order per round
            runs[name].append(measure_latency(files[name], images, repeats=args.repeats, batch_repeats=1))
        print(f"round {r}: " + ", ".join(f"{k} {v[-1].p50_ms:.4f} ms" for k, v in runs.items()), file=sys.stderr)
    diff = float(np.abs(plain.predict_proba(images) - fused.predict_proba(images)).max())
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    print(f"\n{what}; {args.rounds} rounds of {args.repeats} single-image calls, alternating; "
          f"{machine}, {time.strftime('%Y-%m-%d %H:%M')}\n")  # fmt: skip
    print("| file | nodes | p50, 1 image (ms), median of rounds | rounds (ms) | p95 (ms) |")
    print("|---|---:|---:|---|---:|")
    for name, found in runs.items():
        p50, p95 = (statistics.median(getattr(x, k) for x in found) for k in ("p50_ms", "p95_ms"))
        print(f"| {name} | {nodes[name]} | {p50:.4f} | {', '.join(f'{x.p50_ms:.4f}' for x in found)} | {p95:.4f} |")
    names = list(runs)
    ratio = statistics.median(a.p50_ms / b.p50_ms for a, b in zip(runs[names[1]], runs[names[0]], strict=True))
    print(f"\nrewritten / as exported, single-image p50: {ratio:.3f} (median of the rounds' ratios); "
          f"largest probability difference on {len(images):,} test images: {diff:.1e}\n")  # fmt: skip

    batch_files = {**files, **{k: asl.OnnxModel.load(v) for k, v in (x.split("=", 1) for x in args.onnx)}}
    batch = images[:1024]
    rates: dict[str, dict[str, list[float]]] = {k: {"twin": [], "parts": []} for k in batch_files}
    for r in range(args.rounds):
        for name, file in batch_files.items():
            twin, feed = _twin(file), file.graph_feed(batch)
            arms = {
                "twin": lambda twin=twin, feed=feed: twin.run(None, feed),
                "parts": lambda file=file: file.predict_proba(batch),
            }
            for arm in arms if r % 2 == 0 else list(arms)[::-1]:
                rates[name][arm].append(_batch_rate(arms[arm]))
    print("| file | images/s, 1,024 at once: twin session, 2 intra-op threads (before) "
          "| in 2 parts on 2 threads (now) | now / before |")  # fmt: skip
    print("|---|---:|---:|---:|")
    for name, arms in rates.items():
        before, now = statistics.median(arms["twin"]), statistics.median(arms["parts"])
        print(f"| {name} | {before:,.0f} | {now:,.0f} | {now / before:.2f} |")
    print(f"\nmedians of {args.rounds} rounds of 15 calls each, arms alternating")


if __name__ == "__main__":
    main()
