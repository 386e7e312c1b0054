"""Honest comparison on the held-out test set: metrics, the Comparator, statistics, latency, the report,
and the corruption benchmark (accuracy off the dataset: :class:`CorruptionSuite`)."""

from __future__ import annotations

from asl_recog.evaluation._compare import Comparator, ComparisonResult
from asl_recog.evaluation._corruptions import CORRUPTIONS, FAMILIES, Corruption, corrupt
from asl_recog.evaluation._robustness import CorruptionSuite, RobustnessResult

__all__ = [
    "CORRUPTIONS",
    "FAMILIES",
    "Comparator",
    "ComparisonResult",
    "Corruption",
    "CorruptionSuite",
    "RobustnessResult",
    "corrupt",
]
