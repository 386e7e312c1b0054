"""AutoML's models against their serving cost, per training table (issues 25 and 26).

One fit per (table, model), seed 0, on the grouped split's training part (no search, no refit),
each pipeline exactly as the AutoML portfolio builds it (``build_pipeline``, HOG features).
For each: the fit time, validation accuracy (grouped split), test accuracy (read after the fit,
for the record), the corruption suite's mCA on its fixed 1,000 test images, and the exported
ONNX model's single-image p50 on ONNX Runtime: the trade-off between accuracy, robustness and
latency that ``max_latency_ms`` cuts through.

Tables: ``geometric`` (one shifted and rotated copy per image, the AutoML route before issue 26),
``robust`` (one copy from every corruption family at 0.5), ``mixed`` (both copies; the route's
table since, ``asl_recog.data._augment.tabular_copies``).

Usage:
    python bench/bench_automl_recipes.py --tables geometric robust mixed --models baseline MLP KNN
    python bench/bench_automl_recipes.py --tables mixed --models baseline MLP MLP512 KNN KNN-300 NystroemSVM
Prints one Markdown row per fit as it finishes (a fit takes 10 s to 4 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

import asl_recog as asl
from asl_recog._console import configure_logging
from asl_recog.data._augment import TABULAR_STRENGTH, augment, tabular_copies
from asl_recog.data._labels import labels_to_indices
from asl_recog.evaluation import CorruptionSuite
from asl_recog.evaluation._latency import measure_latency
from asl_recog.routes.automl._ordering import BASELINE
from asl_recog.routes.automl._portfolio import build_pipeline

#: name -> (algorithm, params); every other parameter is the portfolio's default on HOG.
MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "baseline": BASELINE,
    "MLP": ("MLP", {}),
    "MLP512": ("MLP", {"hidden": 512, "max_iter": 40}),
    "KNN": ("KNN", {}),
    "KNN-100": ("KNN", {"n_prototypes": 100}),
    "KNN-300": ("KNN", {"n_prototypes": 300}),
    "KNN-1000": ("KNN", {"n_prototypes": 1000}),
    "NystroemSVM": ("NystroemSVM", {}),
    "NystroemSVM-500": ("NystroemSVM", {"n_landmarks": 500}),
    "SVM": ("SVM", {}),
}


def table(kind: str, images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if kind == "geometric":
        return augment(images, labels, copies=1, seed=0, mode="geometric")
    if kind == "robust":
        return augment(images, labels, copies=1, seed=0, strength=TABULAR_STRENGTH)
    return tabular_copies(images, labels, seed=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tables", nargs="+", choices=["geometric", "robust", "mixed"], default=["mixed"])
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=["baseline", "MLP", "KNN"])
    args = parser.parse_args()
    configure_logging(-1)
    warnings.filterwarnings("ignore", module="sklearn")  # capped iterations are a choice here, as in the search
    fit, validation = asl.train_validation_split(asl.load_sign_mnist("train"), seed=0)
    test = asl.load_sign_mnist("test")
    suite = CorruptionSuite()
    print(f"{os.cpu_count()} cores; grouped split: {len(fit)} fit / {len(validation)} validation images")
    print()
    print("| table | model | rows | fit (s) | validation | test | mCA | mirror | background | noise | ONNX p50 (ms) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.tables:
            images, labels = table(kind, fit.images, fit.labels)
            x = images.reshape(len(images), -1).astype(np.float32) / 255.0
            y = labels_to_indices(labels)
            for name in args.models:
                algorithm, params = MODELS[name]
                pipeline = build_pipeline(algorithm, {**params, "featurizer": "hog"}, seed=0)
                start = time.perf_counter()
                with threadpool_limits(os.cpu_count() or 1):
                    pipeline.fit(x, y)
                seconds = time.perf_counter() - start
                model = asl.SklearnModel(pipeline)
                onnx_model = asl.export_onnx(model, os.path.join(tmp, f"{kind}-{name}.onnx"))
                result = suite.evaluate(onnx_model, test)
                p50 = measure_latency(onnx_model, test.images, repeats=300).p50_ms
                print(
                    f"| {kind} | {name} | {len(x):,} | {seconds:.1f} | {model.score(validation):.4f} "
                    f"| {model.score(test):.4f} | {result.mca:.3f} | {result.per_corruption['mirror']:.2f} "
                    f"| {result.per_family['background']:.2f} | {result.per_family['noise']:.2f} | {p50:.3f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
