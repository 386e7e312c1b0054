"""One latency and throughput measurement, applied the same way to every model."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Latency:
    """Inference speed of one model.

    Attributes:
        p50_ms, p95_ms: single-image ``predict_proba`` latency percentiles (milliseconds),
            over ``repeats`` calls on different images, after a warm-up.
        throughput: images per second on batches of ``batch_size`` (median batch time).
        repeats, batch_size: how it was measured.
    """

    p50_ms: float
    p95_ms: float
    throughput: float
    repeats: int
    batch_size: int


def measure_latency(
    model: Any,
    images: np.ndarray,
    *,
    repeats: int = 200,
    batch_size: int = 1024,
    batch_repeats: int = 5,
    warmup: int = 20,
) -> Latency:
    """Time ``model.predict_proba`` on raw uint8 images, as a service receives them.

    Single-image latency cycles through distinct images (one call each);
    throughput is ``batch_size`` divided by the median time of ``batch_repeats``
    batch calls. Both include the model's own input conversion, so every model
    pays the same per-call costs.

    Example:
        >>> from asl_recog import OnnxModel
        >>> latency = measure_latency(OnnxModel.load("runs/best.onnx"), test.images, repeats=20)
        >>> 0 < latency.p50_ms < 1000  # milliseconds per image; the figure depends on the machine
        True
    """
    images = np.asarray(images)
    if len(images) == 0:
        raise ValueError("latency needs at least one image")
    if repeats < 1 or batch_size < 1 or batch_repeats < 1:
        raise ValueError("repeats, batch_size and batch_repeats must be positive")
    singles = [images[i % len(images)][None] for i in range(repeats + warmup)]
    _call_ns(model, singles[:warmup])
    times = _call_ns(model, singles[warmup:])
    clock = time.perf_counter_ns
    batch = np.resize(images, (batch_size, *images.shape[1:]))  # repeat images to fill the batch
    model.predict_proba(batch)  # warm-up: allocations, lazy graph builds
    batch_times = []
    for _ in range(batch_repeats):
        start = clock()
        model.predict_proba(batch)
        batch_times.append(clock() - start)
    return Latency(
        p50_ms=float(np.percentile(times, 50)) / 1e6,
        p95_ms=float(np.percentile(times, 95)) / 1e6,
        throughput=batch_size / (float(np.median(batch_times)) / 1e9),
        repeats=repeats,
        batch_size=batch_size,
    )


def side_by_side_p50(
    models: dict[str, Any], images: np.ndarray, *, rounds: int = 7, repeats: int = 200, warmup: int = 20
) -> dict[str, float]:
    """Single-image p50 (ms) of each model, measured in alternating rounds: the median of its rounds' p50s.

    One model timed after another meets the machine in another state (another process's burst, a
    clock change), and on a 2-core machine that moved one file's p50 by 50 % between runs a minute
    apart. Rounds that alternate the models, in a rotated order each round, give each the same
    conditions; the median over rounds drops a round that met a burst. This is what a choice
    between two files of one network should rest on (the main job's int8 or float file).

    Example:
        >>> from asl_recog import OnnxModel
        >>> model = OnnxModel.load("runs/best.onnx")
        >>> p50 = side_by_side_p50({"a": model, "b": model}, test.images, rounds=3, repeats=20)
        >>> sorted(p50), all(0 < v < 1000 for v in p50.values())
        (['a', 'b'], True)
    """
    images = np.asarray(images)
    if len(images) == 0:
        raise ValueError("latency needs at least one image")
    if not models or rounds < 1 or repeats < 1:
        raise ValueError("side_by_side_p50 needs at least one model, and positive rounds and repeats")
    names = list(models)
    singles = [images[i % len(images)][None] for i in range(repeats)]
    for name in names:
        _call_ns(models[name], singles[: max(warmup, 1)])
    per_round: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            per_round[name].append(float(np.percentile(_call_ns(models[name], singles), 50)) / 1e6)
    return {name: float(np.median(values)) for name, values in per_round.items()}


def _call_ns(model: Any, singles: list[np.ndarray]) -> np.ndarray:
    """Nanoseconds of one ``predict_proba`` call on each of ``singles`` (batches of one image)."""
    times = np.empty(len(singles))
    clock = time.perf_counter_ns
    for i, x in enumerate(singles):
        start = clock()
        model.predict_proba(x)
        times[i] = clock() - start
    return times
