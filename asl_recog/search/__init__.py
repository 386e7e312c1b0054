"""What is searched, in Azure HyperDrive's vocabulary: expressions, samplings, policies and the goal;
plus the local-only rung policies (successive halving, Hyperband)."""

from __future__ import annotations

from asl_recog.search._rungs import HyperbandPolicy, RungPolicy, SuccessiveHalvingPolicy
from asl_recog.search._space import (
    BanditPolicy,
    BayesianParameterSampling,
    EarlyTerminationPolicy,
    GridParameterSampling,
    MedianStoppingPolicy,
    NoTerminationPolicy,
    PrimaryMetricGoal,
    RandomParameterSampling,
    Sampling,
    TruncationSelectionPolicy,
    choice,
    lognormal,
    loguniform,
    normal,
    qlognormal,
    qloguniform,
    qnormal,
    quniform,
    randint,
    uniform,
)

__all__ = [
    "BanditPolicy",
    "BayesianParameterSampling",
    "EarlyTerminationPolicy",
    "GridParameterSampling",
    "HyperbandPolicy",
    "MedianStoppingPolicy",
    "NoTerminationPolicy",
    "PrimaryMetricGoal",
    "RandomParameterSampling",
    "RungPolicy",
    "Sampling",
    "SuccessiveHalvingPolicy",
    "TruncationSelectionPolicy",
    "choice",
    "lognormal",
    "loguniform",
    "normal",
    "qlognormal",
    "qloguniform",
    "qnormal",
    "quniform",
    "randint",
    "uniform",
]
