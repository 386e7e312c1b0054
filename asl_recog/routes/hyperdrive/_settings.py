"""What the HyperDrive route's search and refit read from a trainer: its settings, as a typed view.

The search (``_search``) and the refit (``_refit``) are the route's hooks, and the route is
what :class:`~asl_recog.HyperDriveTrainer` is built on. Typing the hooks with the trainer
class would make a circle (trainer -> route -> search -> trainer), even if only for the type
checker; this Protocol names just the settings they read, and the trainer satisfies it
structurally.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from asl_recog.search._space import EarlyTerminationPolicy, PrimaryMetricGoal, Sampling


@runtime_checkable  # tests/test_architecture.py checks that the trainer has every member
class HyperDriveSettings(Protocol):
    """The settings of a HyperDrive sweep (the names and meanings of :class:`~asl_recog.HyperDriveTrainer`'s).

    Example:
        >>> from asl_recog import HyperDriveTrainer
        >>> settings: HyperDriveSettings = HyperDriveTrainer(max_total_runs=4)
        >>> settings.max_total_runs, settings.goal.value
        (4, 'maximize')
    """

    builder: str | Callable[[dict[str, Any]], Any]
    policy: EarlyTerminationPolicy | None
    primary_metric_name: str
    max_total_runs: int
    max_concurrent_runs: int
    max_duration_minutes: float | None
    fixed_params: Mapping[str, Any] | None
    max_model_size_mb: float
    seed: int | None

    @property
    def goal(self) -> PrimaryMetricGoal:
        """The direction of the primary metric."""
        ...

    def resolved_sampling(self) -> Sampling:
        """The sampling to run: the given one, or the builder's default space less ``fixed_params``."""
        ...


__all__ = ["HyperDriveSettings"]
