"""Budget-aware ordering: what to try first, from fit times measured at the start of the search.

A short budget must not be spent on a model that cannot finish in it. Before the
trials, each allowed algorithm's first configuration (featurizer included) is fitted
on two small samples of the training rows; the two times give a growth exponent
(clipped to 1..2: linear models and trees grow about linearly, kernel SVMs and
neighbour searches up to quadratically) that scales the time to the real number of
rows. Measured, not tabled: the same code orders the portfolio on a laptop, on 2
busy cores and on a 64-core node.

Then, in the portfolio's order of preference:

- an algorithm whose estimate is over ``SKIP_FACTOR`` times the limit (the trial timeout,
  the whole trial budget or the wall time left in the experiment) is **skipped**, with the
  reason (its trial would be killed at the limit);
- one estimated near the limit, or within the budget but not what the algorithms before
  it leave, is **deferred** to the end, where the trial timeout stops it if it runs long;
- the rest keep their place.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from asl_recog.routes.automl._portfolio import build_pipeline

#: Rows of the two probe fits; small enough to cost a few seconds for the whole portfolio.
PROBE_ROWS = (300, 1200)
#: A probe on the small sample slower than this share of the budget is not repeated on the larger one.
PROBE_SHARE = 0.02
#: Skip only an estimate over this many times the limit. Estimates from 300- and 1,200-row fits
#: are rough: the quick preset's MLP, a 40-44 s fit on an idle machine, was estimated at 91 s
#: beside a test run and skipped against a 90 s timeout, which lost the best model. A near miss
#: costs at most one worker's trial timeout; a wrong skip can cost the winner.
SKIP_FACTOR = 2.0


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


def scale_seconds(small: float, large: float | None, rows: int, sizes: tuple[int, int] = PROBE_ROWS) -> float:
    """Seconds to fit ``rows`` rows, from probe fits on ``sizes`` rows (the second may be missing).

    Example:
        >>> round(scale_seconds(0.1, 0.4, 12_000))  # 4x the time for 4x the rows: linear
        4
        >>> round(scale_seconds(1.0, None, 3_000))  # no second probe: linear, a lower bound
        10
    """
    n_small, n_large = sizes
    if large is None or small <= 0 or large <= 0:
        # Only a slow small probe skips the second one. Its time is mostly fixed cost (24
        # one-vs-rest fits, iterations to convergence), so a quadratic guess said "300,000 s"
        # for a fit of minutes; linear growth is a lower bound, and enough to skip on.
        return max(small, 1e-3) * rows / n_small
    exponent = min(max(math.log(large / small) / math.log(n_large / n_small), 1.0), 2.0)
    return large * (rows / n_large) ** exponent


def probe(
    algorithms: list[str],
    defaults: dict[str, dict[str, Any]],
    x: np.ndarray,
    y: np.ndarray,
    budget_s: float,
    featurization: Any = "auto",
    seed: int = 0,
    limit_s: float | None = None,
) -> dict[str, float]:
    """Measure each algorithm's first configuration on two samples; return its estimated full fit seconds.

    With fewer rows than the larger sample, the fit on all rows is the measurement itself.
    ``limit_s`` is the longest fit a trial may take: an algorithm the small sample already
    shows to be skipped (over ``SKIP_FACTOR`` times it) is not fitted on the larger one.
    """
    rng = np.random.default_rng(seed)
    small_rows, large_rows = PROBE_ROWS
    sizes = (small_rows, large_rows) if len(x) > large_rows else (len(x),)
    estimates: dict[str, float] = {}
    for algorithm in algorithms:
        times: list[float] = []
        for rows in sizes:
            if times and times[0] > PROBE_SHARE * budget_s:
                break  # already slow on the small sample; do not spend more of the budget on it
            if times and limit_s is not None and times[0] * len(x) / large_rows > SKIP_FACTOR * limit_s:
                # Over the limit even if the larger sample took no longer than the small one (the
                # least growth scale_seconds allows), so the skip is decided. The probes of a
                # 15-minute search took 3-4 minutes before LightGBM and LinearSVM were skipped.
                break
            take = rng.choice(len(x), rows, replace=False)
            # Both wall and CPU time are upper bounds of the fit's time on a free machine: wall
            # time grows with other load (a 40 s MLP was estimated at 312 s and skipped when
            # make demo ran beside a test run), CPU time with BLAS threads. The smaller is kept.
            start, cpu_start = time.perf_counter(), time.process_time()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # convergence chatter of a tiny sample
                try:
                    build_pipeline(algorithm, dict(defaults[algorithm]), seed, featurization).fit(x[take], y[take])
                except ValueError:  # e.g. fewer rows than PCA components; the trial itself will tell
                    break
            times.append(min(time.perf_counter() - start, time.process_time() - cpu_start))
        if len(sizes) == 1 and times:
            estimates[algorithm] = times[0]
        elif times:
            estimates[algorithm] = scale_seconds(times[0], times[1] if len(times) > 1 else None, len(x))
    return estimates


def order_by_budget(
    algorithms: list[str],
    estimates: dict[str, float],
    budget_s: float,
    trial_timeout_s: float,
    remaining_s: float | None = None,
) -> Ordering:
    """Skip what cannot finish, defer what does not fit after the others, keep the rest in order.

    Args:
        algorithms: in the portfolio's order of preference.
        estimates: estimated fit seconds of each (from :func:`probe`).
        budget_s: worker-seconds left for trials (the wall time left times the workers).
        trial_timeout_s: the longest one trial may run (``iteration_timeout_minutes``).
        remaining_s: the wall time left in the experiment. One trial runs on one worker,
            so it must also end by then, however many workers share ``budget_s``.
    """
    limits = {"trial budget": budget_s, "trial timeout": trial_timeout_s}
    if remaining_s is not None:
        limits["left in the experiment"] = remaining_s
    which = min(limits, key=limits.__getitem__)
    limit = limits[which]
    plan = Ordering(order=[], estimates=dict(estimates))
    left = budget_s
    for algorithm in algorithms:
        seconds = estimates.get(algorithm)
        if seconds is None:  # not measured (the probe failed): try it where it stood
            plan.order.append(algorithm)
            continue
        if seconds > SKIP_FACTOR * limit:
            over = f"over {SKIP_FACTOR:g}x the {limit:.0f} s {which}"
            plan.skipped[algorithm] = f"estimated {seconds:.0f} s to fit, {over}"
        elif seconds > limit or seconds > left:
            plan.deferred.append(algorithm)
        else:
            plan.order.append(algorithm)
            left -= seconds
    plan.order += plan.deferred
    return plan


__all__ = ["PROBE_ROWS", "SKIP_FACTOR", "Ordering", "order_by_budget", "probe", "scale_seconds"]
