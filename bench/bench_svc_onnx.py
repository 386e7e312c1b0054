"""The AutoML SVM's ONNX graph: skl2onnx's SVMClassifier against this package's GEMMs, side by side.

Fits the portfolio's SVM (HOG, PCA, calibrated RBF SVC) on the full preset's training table
(the grouped split's training part, three rows per image: ``tabular_copies``, seed 0), converts
it twice, and times one image at a time on one thread, as the scoring service and the search's
latency gate run it. The two graphs are timed in alternating rounds, so load on the machine
touches both alike; the table gives each graph's median over the rounds' medians and the ratio.
Parity: the largest difference from scikit-learn's probabilities on 2,000 validation images.
Only the SVC's graph differs between the two: since 73291a2 both calibrate with
``models/_calibration_onnx.py`` (before it, skl2onnx's calibration added about 0.06 ms to each).

    python bench/bench_svc_onnx.py                          # 150 components, C 10 (the HOG default)
    python bench/bench_svc_onnx.py --components 60 --rows 20000
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
import warnings
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

import asl_recog as asl
import asl_recog.models._svc_onnx as svc_onnx
from asl_recog._console import configure_logging
from asl_recog.data._augment import tabular_copies
from asl_recog.data._labels import labels_to_indices
from asl_recog.models._export import convert_sklearn_estimator
from asl_recog.models._latency import graph_session
from asl_recog.routes.automl._portfolio import build_pipeline


def convert(pipeline: Any, gemm: bool) -> Any:
    """The pipeline's ONNX graph, with this package's SVC graph or with skl2onnx's own."""
    if gemm:
        return convert_sklearn_estimator(pipeline)
    original = svc_onnx.gemm_svc
    svc_onnx.gemm_svc = contextlib.nullcontext  # the export enters it by this name
    try:
        return convert_sklearn_estimator(pipeline)
    finally:
        svc_onnx.gemm_svc = original


def time_rounds(sessions: dict[str, Any], images: np.ndarray, rounds: int, calls: int) -> dict[str, float]:
    """Each session's median, over ``rounds`` alternating rounds, of its per-round median milliseconds."""
    medians: dict[str, list[float]] = {name: [] for name in sessions}
    for session in sessions.values():  # warm-up
        for i in range(20):
            session.run(None, {"pixels": images[i : i + 1]})
    for r in range(rounds):
        for name, session in sessions.items():
            times = []
            for i in range(calls):
                one = images[(r * calls + i) % len(images)][None]
                start = time.perf_counter()
                session.run(None, {"pixels": one})
                times.append(time.perf_counter() - start)
            medians[name].append(float(np.median(times)) * 1000.0)
    return {name: float(np.median(values)) for name, values in medians.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--components", type=int, default=150, help="PCA components before the SVC")
    parser.add_argument("--C", type=float, default=10.0)
    parser.add_argument("--rows", type=int, default=0, help="fit on the first ROWS rows of the table (0: all)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    configure_logging(-1)
    warnings.filterwarnings("ignore", module="sklearn")
    fit, validation = asl.train_validation_split(asl.load_sign_mnist("train"), seed=0)
    images, labels = tabular_copies(fit.images, fit.labels, seed=0)
    x = images.reshape(len(images), -1).astype(np.float32) / 255.0
    y = labels_to_indices(labels)
    if args.rows:
        x, y = x[: args.rows], y[: args.rows]
    pipeline = build_pipeline("SVM", {"n_components": args.components, "C": args.C, "featurizer": "hog"}, seed=0)
    start = time.perf_counter()
    with threadpool_limits(os.cpu_count() or 1):
        pipeline.fit(x, y)
    seconds = time.perf_counter() - start
    vectors = pipeline.steps[-1][1].calibrated_classifiers_[0].estimator.support_vectors_.shape[0]
    held = validation.flat[:2000].astype(np.float32)
    expected = pipeline.predict_proba(held)
    accuracy = np.mean(expected.argmax(axis=1) == labels_to_indices(validation.labels[:2000]))
    graphs = {"skl2onnx SVMClassifier": convert(pipeline, gemm=False), "GEMMs (_svc_onnx)": convert(pipeline, True)}
    sessions = {name: graph_session(proto) for name, proto in graphs.items()}
    medians = time_rounds(sessions, held, args.rounds, args.calls)
    print(
        f"{os.cpu_count()} cores; {len(x):,} rows, {args.components} components, C {args.C:g}: "
        f"fit {seconds:.0f} s, {vectors:,} support vectors, validation accuracy (2,000 images) {accuracy:.4f}"
    )
    print()
    print("| graph | p50 (ms, median of rounds) | ratio to skl2onnx | max abs diff from scikit-learn |")
    print("|---|---|---|---|")
    base = medians["skl2onnx SVMClassifier"]
    for name, session in sessions.items():
        proba = session.run(None, {"pixels": held})[1]
        print(f"| {name} | {medians[name]:.3f} | {medians[name] / base:.2f} | {np.abs(proba - expected).max():.1e} |")


if __name__ == "__main__":
    main()
