"""Honest comparison on the held-out test file: metrics, the Comparator, statistics, latency and the report."""

from __future__ import annotations

from asl_recog.evaluation._compare import Comparator, ComparisonResult

__all__ = ["Comparator", "ComparisonResult"]
