"""Honest comparison on the held-out test set: metrics, the Comparator, statistics, latency, the report,
the corruption benchmark (accuracy off the dataset: :class:`CorruptionSuite`) and real photos
(:func:`evaluate_photos`), and why a model answered what it did (:func:`explain`)."""

from __future__ import annotations

from asl_recog.evaluation._compare import Comparator
from asl_recog.evaluation._comparison import ComparisonResult
from asl_recog.evaluation._corruptions import CORRUPTIONS, FAMILIES, Corruption, corrupt
from asl_recog.evaluation._explain import Explanation, explain
from asl_recog.evaluation._photos import PhotoResult, evaluate_photos
from asl_recog.evaluation._robustness import CorruptionSuite, RobustnessResult

__all__ = [
    "CORRUPTIONS",
    "FAMILIES",
    "Comparator",
    "ComparisonResult",
    "Corruption",
    "CorruptionSuite",
    "Explanation",
    "PhotoResult",
    "RobustnessResult",
    "corrupt",
    "evaluate_photos",
    "explain",
]
