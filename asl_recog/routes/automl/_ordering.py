"""Budget-aware ordering: cheap first, from a static order or from fit times measured at the start.

A short budget must not be spent on a model that cannot finish in it (issue 25: a
2-minute search put the HOG SVM first, which used the whole budget and returned
nothing). So, in FLAML's spirit, cost grows through the search:

1. the first trial is :data:`BASELINE`, a cheap and strong configuration (a small MLP
   on HOG features: 13 s to fit 55k augmented rows on 2 busy cores, 0.976 test accuracy,
   0.06 ms per image on ONNX Runtime);
2. then each allowed algorithm's first configuration, cheapest first.

"Cheapest" comes from one of two places:

- **timed probes** (a time budget): each algorithm's first configuration is fitted on two
  small samples of the training rows, *after* they are featurized as the trial will see
  them (HOG of the augmented rows): the featurizer's time grows linearly and is scaled
  linearly; the model's two times give a growth exponent (clipped to 1..2) that scales it
  to the real number of rows. Timing HOG and the model together hid the model's growth
  behind HOG's linear cost and underestimated the HOG SVM (126 s against 170-240 s). The
  probes count against the budget and stop at :data:`PROBE_BUDGET_SHARE` of it;
  algorithms left unmeasured keep the static order, after every measured one.
- **the static order** :data:`CHEAP_FIRST` (measured once, below): used when the probes
  are skipped, and always in the repeatable mode (a seed, ``max_iterations`` and one
  worker), where the order must not depend on the machine's load.

Then, with estimates:

- an algorithm whose estimate is over ``SKIP_FACTOR`` times the limit (the trial timeout,
  the whole trial budget or the wall time left in the experiment) is **skipped**, with the
  reason (its trial would be killed at the limit);
- one estimated near the limit, or within the budget but not what the algorithms before
  it leave, is **deferred** to the end, where the trial timeout stops it if it runs long;
- the rest keep their place, and the unmeasured ones come last of all.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from asl_recog.models._latency import MARGIN
from asl_recog.routes.automl._portfolio import ALGORITHMS, build_pipeline
from asl_recog.routes.automl._served import SERVED_GROWTH, estimate_served_ms, scale_latency, served_ms

#: Rows of the two probe fits; small enough to cost a few seconds for the whole portfolio.
PROBE_ROWS = (300, 1200)
#: The probes stop once they have used this share of the experiment's time (they count against it).
PROBE_BUDGET_SHARE = 0.10
#: Skip only an estimate over this many times the limit. Estimates from 300- and 1,200-row fits
#: on a busy machine can be twice the real fit (docs/benchmarks.md, estimated against actual fit
#: times), and the costs are lopsided: a near miss costs at most one worker's trial timeout, a
#: wrong skip can cost the winner.
SKIP_FACTOR = 2.0
#: The most an algorithm's fit time may grow with the rows, as a power (the probes' measured
#: exponent is clipped to it). Kernel SVMs solve a problem over pairs of rows (quadratic and
#: worse); an MLP with early stopping may run more epochs on more rows; the rest are linear or
#: ``n log n`` in the rows. Probes of a few hundredths of a second are mostly noise, and an
#: unclipped exponent turns that noise into estimates thirty times the real fit. The HOG SVM's
#: fit grew as n^1.36-1.48 from the 1,200-row probe to the full preset's 65,226 rows (60 and 150
#: components); at 2.0, probes slowed by other work (exponent near 1.9) estimated 1,505 s for a
#: 105 s fit and skipped it (2026-12-05).
GROWTH_LIMIT: dict[str, float] = {"SVM": 1.6, "MLP": 1.5}
#: The least an algorithm's fit time may grow with the rows, as a power (1 where not named). A
#: kernel SVM's probes look linear (on 300 and 1,200 rows nearly every row is a support vector
#: and the calibration's fixed costs dominate), but its fit grows faster beyond: HOG SVM, 65,226
#: rows of the full preset's table, 186 s against 33 s estimated from linear growth (exponent
#: 1.44 from the 1,200-row probe; seed 0, 2026-12-05).
#: Trees sort the rows at each split (n log n: n^1.11 from 1,200 to 65,226 rows); SGD ran all 30
#: epochs on the probes and the table alike, yet grew as n^1.13 (the table leaves the cache). At
#: 1.0, linear-looking probes put its 78 s fit at 49-55 s, the forest's 155 s at 92-117 s (idle).
GROWTH_FLOOR: dict[str, float] = {"SVM": 1.4, "SGD": 1.1, "RandomForest": 1.1}
#: The limit of the algorithms not named in :data:`GROWTH_LIMIT`.
DEFAULT_GROWTH_LIMIT = 1.2
#: The leaderboard key of the baseline's estimate.
BASELINE_KEY = "baseline"
#: The first trial: (algorithm, params) of a cheap, strong configuration. HOG + MLP(64 hidden,
#: 10 epochs): 13.2 s to fit all 54,910 augmented rows, 0.9762 test accuracy, 0.06 ms per image
#: (HOG + PCA + KNN: 8.6 s, 0.9548, 0.35 ms; the default HOG MLP: 25.9 s, 0.9716), one thread
#: on a shared 2-core machine.
BASELINE: tuple[str, dict[str, Any]] = ("MLP", {"hidden": 64, "max_iter": 10})
#: The baseline goes first unless the probes estimate it over this share of the limit.
BASELINE_SHARE = 0.5
#: The static cheap-first order of the first configurations, on HOG features of the augmented
#: training file (55k rows), from fits measured on 2 shared cores: KNN 8.6 s, MLP 26-44 s,
#: Nystroem SVM 41 s (65k rows), extra trees 72 s, random forest about 145 s, SVM 170-240 s;
#: SGD (not measured alone) makes 24 one-vs-rest passes like the linear models but stops at 30
#: epochs; logistic regression, linear SVM and LightGBM were never measured to finish within 2 minutes.
CHEAP_FIRST = (
    "KNN",
    "MLP",
    "NystroemSVM",
    "SGD",
    "ExtremeRandomTrees",
    "RandomForest",
    "LogisticRegression",
    "LightGBM",
    "LinearSVM",
    "SVM",
)


@dataclass
class Ordering:
    """The outcome: algorithms to try first (in order), those skipped with why, and the estimates.

    Example:
        >>> plan = order_by_budget(["SVM", "KNN", "MLP"], {"SVM": 300.0, "KNN": 20.0, "MLP": 90.0}, 100.0, 240.0)
        >>> plan.order, plan.skipped
        (['KNN', 'MLP'], {'SVM': 'estimated 300 s to fit, over 2x the 100 s trial budget'})
    """

    order: list[str]
    skipped: dict[str, str] = field(default_factory=dict)
    deferred: list[str] = field(default_factory=list)
    estimates: dict[str, float] = field(default_factory=dict)
    probe_seconds: float = 0.0
    latencies: dict[str, float] = field(default_factory=dict)


def scale_seconds(
    small: float,
    large: float | None,
    rows: int,
    sizes: tuple[int, int] = PROBE_ROWS,
    max_exponent: float = 2.0,
    min_exponent: float = 1.0,
) -> float:
    """Seconds to fit ``rows`` rows, from probe fits on ``sizes`` rows (the second may be missing).

    The growth exponent the two fits show is clipped to ``min_exponent..max_exponent``.

    Example:
        >>> round(scale_seconds(0.1, 0.4, 12_000))  # 4x the time for 4x the rows: linear
        4
        >>> round(scale_seconds(1.0, None, 3_000))  # no second probe: linear, a lower bound
        10
        >>> round(scale_seconds(0.01, 0.16, 12_000, max_exponent=1.2))  # noise, not a quadratic fit
        3
        >>> round(scale_seconds(0.1, 0.4, 12_000, min_exponent=1.4))  # looks linear, grows faster
        10
    """
    n_small, n_large = sizes
    if large is None or small <= 0 or large <= 0:
        # Only a slow small probe skips the second one. Its time is mostly fixed cost (24
        # one-vs-rest fits, iterations to convergence), so a quadratic guess said "300,000 s"
        # for a fit of minutes; linear growth is a lower bound, and enough to skip on.
        return max(small, 1e-3) * rows / n_small
    exponent = min(max(math.log(large / small) / math.log(n_large / n_small), min_exponent), max_exponent)
    return large * (rows / n_large) ** exponent


def epochs_share(model: Any) -> float:
    """The share of its epoch cap a fitted model ran (1.0 where it has no cap or stopped at it).

    An MLP with early stopping stopped after 12-21 of its 30 epochs on the probes' 300 and
    1,200 rows, a draw of the sample, while the fit on all rows may run every epoch. Probe
    times divided by this share are the time of every epoch: on three probe seeds the MLP's
    estimates were then 46 s each (real fit 33 s idle, 24-45 s in searches) instead of 25-81 s. Solvers whose
    ``n_iter_`` is an array (one per class, as logistic regression's) are left alone.

    Example:
        >>> from sklearn.neural_network import MLPClassifier
        >>> mlp = MLPClassifier(max_iter=30)
        >>> mlp.n_iter_ = 12  # as a fit that stopped early sets it
        >>> epochs_share(mlp)
        0.4
    """
    while hasattr(model, "steps"):  # a pipeline: its last step is the model
        model = model.steps[-1][1]
    done, cap = getattr(model, "n_iter_", None), getattr(model, "max_iter", None)
    if isinstance(done, (int, np.integer)) and isinstance(cap, int) and 0 < done < cap:
        return int(done) / cap
    return 1.0


def _timed(work: Callable[[], Any]) -> tuple[Any, float]:
    """Run ``work()``; return its result and the smaller of its wall and CPU seconds.

    Both are upper bounds of the time on a free machine: wall time grows with other load
    (several times over beside another job), CPU time with BLAS threads. The smaller is kept.
    """
    start, cpu_start = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter of a tiny sample
        result = work()
    return result, min(time.perf_counter() - start, time.process_time() - cpu_start)


def probe(
    algorithms: list[str],
    defaults: dict[str, dict[str, Any]],
    x: np.ndarray,
    y: np.ndarray,
    budget_s: float,
    featurization: Any = "auto",
    seed: int = 0,
    limit_s: float | None = None,
    latencies: dict[str, float] | None = None,
) -> dict[str, float]:
    """Measure each configuration on two samples; return its estimated seconds to fit all of ``x``.

    Args:
        algorithms: the names to measure, cheapest first (the probes may stop before the end).
        defaults: each name's first configuration; a ``"algorithm"`` key in it names the
            algorithm when the name is not one (the :data:`BASELINE_KEY` entry).
        x, y: the training rows as trials see them (augmented copies included), flat pixels.
        budget_s: the experiment's seconds; the probes stop starting fits once they have
            used :data:`PROBE_BUDGET_SHARE` of it (a fit under way finishes).
        featurization: the trainer's setting, for the pipelines' featurizer.
        seed: draws the sample (the same rows for every configuration).
        limit_s: the longest fit a trial may take: a configuration the small sample already
            shows to be skipped (over ``SKIP_FACTOR`` times it) is not fitted on the larger one.
        latencies: if given (a search under ``max_latency_ms``), receives the estimated ONNX
            milliseconds per image, at all of ``x``'s rows, of each algorithm whose serving cost
            grows with its training rows (``AlgorithmSpec.stores_rows``): KNN's two probe fits
            are timed and the growth between them is carried on linearly to the real rows; the
            RBF SVM's larger probe is timed at the support vectors the real fit will have
            (see ``_served``).

    The featurizer (HOG) runs once per sample and is timed apart from the model: it grows
    linearly with the rows, while the model's growth is measured. With fewer rows than the
    larger sample, the fit on all rows is the measurement itself.
    """
    from sklearn.pipeline import Pipeline

    rng = np.random.default_rng(seed)
    small_rows, large_rows = PROBE_ROWS
    take = rng.choice(len(x), large_rows, replace=False) if len(x) > large_rows else np.arange(len(x))
    samples = [take[:small_rows], take] if len(x) > large_rows else [take]
    cap = PROBE_BUDGET_SHARE * budget_s
    started = time.perf_counter()
    features: dict[str, tuple[np.ndarray, float]] = {}  # featurizer -> (its output on `take`, seconds per row)
    estimates: dict[str, float] = {}
    for name in algorithms:
        if time.perf_counter() - started >= cap:
            break  # the rest keep the static order
        params = dict(defaults[name])
        algorithm = str(params.pop("algorithm", name))
        pipeline = build_pipeline(algorithm, params, seed, featurization)
        steps: list[tuple[str, Any]] = getattr(pipeline, "steps", None) or []
        per_row, rows_x = 0.0, x[take]
        hog = steps[0] if steps and steps[0][0] == "hog" else None
        if hog is not None:
            key = repr(hog[1])
            if key not in features:
                out, seconds = _timed(partial(hog[1].transform, rows_x))
                features[key] = (out, seconds / len(take))
            rows_x, per_row = features[key]
            pipeline = Pipeline(steps[1:])
        times: list[float] = []
        served: list[float] = []  # ONNX ms per image after each probe fit (stores_rows only)
        for sample in samples:
            if times:
                left = cap - (time.perf_counter() - started)
                # the least growth scale_seconds allows
                lower_bound = per_row * len(x) + times[0] * len(x) / large_rows
                if times[0] * large_rows / small_rows > left:
                    break  # the larger fit would overrun the probes' share: the small one gives a lower bound
                if limit_s is not None and lower_bound > SKIP_FACTOR * limit_s:
                    # The skip is decided without the larger fit. The probes of a 15-minute
                    # search took 3-4 minutes before LightGBM and LinearSVM were skipped.
                    break
            try:  # rows_x holds the rows of `take`, and each sample is its first rows
                _, seconds = _timed(partial(pipeline.fit, rows_x[: len(sample)], y[sample]))
            except ValueError:  # e.g. fewer rows than PCA components; the trial itself will tell
                break
            times.append(seconds / epochs_share(pipeline))
            if latencies is not None and ALGORITHMS[algorithm].stores_rows and algorithm not in SERVED_GROWTH:
                served.append(served_ms(hog, pipeline))
        if not times:
            continue
        if latencies is not None and algorithm in SERVED_GROWTH:
            # timed at the size the real fit will have (see _served): scaling two small probes erred 3-5x
            latencies[name] = estimate_served_ms(algorithm, hog, pipeline, len(x), len(samples[len(times) - 1]))
        elif served and latencies is not None:
            latencies[name] = scale_latency(served, len(x), [len(sample) for sample in samples])
        growth = GROWTH_LIMIT.get(algorithm, DEFAULT_GROWTH_LIMIT)
        floor = GROWTH_FLOOR.get(algorithm, 1.0)
        second = times[1] if len(times) > 1 else None
        model = (
            times[0]
            if len(samples) == 1
            else scale_seconds(times[0], second, len(x), max_exponent=growth, min_exponent=floor)
        )
        estimates[name] = per_row * len(x) + model
    return estimates


def cheap_first(algorithms: list[str], estimates: dict[str, float] | None = None) -> list[str]:
    """``algorithms`` cheapest first: measured ones by their estimate, then the rest in :data:`CHEAP_FIRST` order.

    Example:
        >>> cheap_first(["SVM", "MLP", "KNN", "RandomForest"])  # the static order
        ['KNN', 'MLP', 'RandomForest', 'SVM']
        >>> cheap_first(["SVM", "MLP", "KNN", "RandomForest"], {"SVM": 40.0, "MLP": 90.0})
        ['SVM', 'MLP', 'KNN', 'RandomForest']
    """
    measured = estimates or {}
    rank = {name: i for i, name in enumerate(CHEAP_FIRST)}
    static = sorted((a for a in algorithms if a not in measured), key=lambda a: rank.get(a, len(rank)))
    return sorted((a for a in algorithms if a in measured), key=measured.__getitem__) + static


def baseline_first(baseline_estimate: float | None, estimates: dict[str, float], limit_s: float) -> bool:
    """Whether the baseline trial goes first: unless the probes estimate it over :data:`BASELINE_SHARE`
    of ``limit_s`` while some algorithm's first configuration is measured cheaper.

    Example:
        >>> baseline_first(13.0, {"KNN": 9.0, "SVM": 200.0}, limit_s=100.0)
        True
        >>> baseline_first(80.0, {"KNN": 9.0}, limit_s=100.0)  # the probes say it would not finish well inside
        False
    """
    if baseline_estimate is None or baseline_estimate <= BASELINE_SHARE * limit_s:
        return True
    return not any(seconds < baseline_estimate for seconds in estimates.values())


def order_by_budget(
    algorithms: list[str],
    estimates: dict[str, float],
    budget_s: float,
    trial_timeout_s: float,
    remaining_s: float | None = None,
    latencies: dict[str, float] | None = None,
    max_latency_ms: float | None = None,
) -> Ordering:
    """Skip what cannot finish, defer what does not fit after the others, keep the rest in order.

    Args:
        algorithms: in the portfolio's order of preference.
        estimates: estimated fit seconds of each (from :func:`probe`).
        budget_s: worker-seconds left for trials (the wall time left times the workers).
        trial_timeout_s: the longest one trial may run (``iteration_timeout_minutes``).
        remaining_s: the wall time left in the experiment. One trial runs on one worker,
            so it must also end by then, however many workers share ``budget_s``.
        latencies: estimated ONNX milliseconds per image (from :func:`probe`), where measured.
        max_latency_ms: the search's latency limit. An algorithm estimated over ``SKIP_FACTOR``
            times it, with the check's margin, is skipped: the full preset fitted the HOG SVM for
            about 3 minutes and then rejected it at 2.7-3.5 ms per image.
    """
    limits = {"trial budget": budget_s, "trial timeout": trial_timeout_s}
    if remaining_s is not None:
        limits["left in the experiment"] = remaining_s
    which = min(limits, key=limits.__getitem__)
    limit = max(limits[which], 0.0)  # the probes may have used more than the time left: say "0 s", not "-30 s"
    plan = Ordering(order=[], estimates=dict(estimates), latencies=dict(latencies or {}))
    left = budget_s
    unmeasured: list[str] = []
    for algorithm in algorithms:
        seconds = estimates.get(algorithm)
        if seconds is None:
            # Not measured: the probes stopped at their share before reaching it (they go cheapest
            # first, so it is the expensive end of the static order) or its probe failed. It goes
            # after the deferred ones: an algorithm measured near the limit is a better bet than
            # one that may be far over it.
            unmeasured.append(algorithm)
            continue
        served = (latencies or {}).get(algorithm)
        if max_latency_ms is not None and served is not None and served * MARGIN > SKIP_FACTOR * max_latency_ms:
            plan.skipped[algorithm] = (
                f"estimated {served:.2f} ms per image fitted on all the rows "
                f"({MARGIN:g}x margin: {served * MARGIN:.2f} ms), "
                f"over {SKIP_FACTOR:g}x max_latency_ms={max_latency_ms:g}"
            )
        elif seconds > SKIP_FACTOR * limit:
            over = f"over {SKIP_FACTOR:g}x the {limit:.0f} s {which}" if limit > 0 else "and no time is left for it"
            plan.skipped[algorithm] = f"estimated {seconds:.0f} s to fit, {over}"
        elif seconds > limit or seconds > left:
            plan.deferred.append(algorithm)
        else:
            plan.order.append(algorithm)
            left -= seconds
    plan.order += plan.deferred + unmeasured
    return plan


__all__ = [
    "BASELINE",
    "BASELINE_KEY",
    "CHEAP_FIRST",
    "PROBE_BUDGET_SHARE",
    "PROBE_ROWS",
    "SKIP_FACTOR",
    "Ordering",
    "baseline_first",
    "cheap_first",
    "order_by_budget",
    "probe",
    "scale_seconds",
    "GROWTH_LIMIT",
]
