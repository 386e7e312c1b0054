"""What the AutoML route's search and refit read from a trainer: its settings, as a typed view.

The search (``_search``) and the refit (``_refit``) are the route's hooks, and the route is
what :class:`~asl_recog.AutoMLTrainer` is built on. Typing the hooks with the trainer class
would make a circle (trainer -> route -> search -> trainer), even if only for the type checker;
this Protocol names just the settings they read, and the trainer satisfies it structurally.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable


@runtime_checkable  # tests/test_architecture.py checks that the trainer has every member
class AutoMLSettings(Protocol):
    """The settings of an AutoML search (the names and meanings of :class:`~asl_recog.AutoMLTrainer`'s).

    Example:
        >>> from asl_recog import AutoMLTrainer
        >>> settings: AutoMLSettings = AutoMLTrainer(experiment_timeout_minutes=2)
        >>> settings.experiment_timeout_minutes, settings.algorithms()[:2]
        (2, ['SVM', 'MLP'])
    """

    primary_metric: str
    experiment_timeout_minutes: float
    iteration_timeout_minutes: float
    max_iterations: int | None
    enable_early_stopping: bool
    max_concurrent_iterations: int
    enable_onnx_compatible_models: bool
    allowed_models: Sequence[str] | None
    blocked_models: Sequence[str] | None
    enable_voting_ensemble: bool
    enable_stack_ensemble: bool
    featurization: Any
    augment: bool
    max_model_size_mb: float
    max_latency_ms: float | None
    refit: bool
    seed: int | None
    resume: bool

    def algorithms(self) -> list[str]:
        """The portfolio after ``allowed_models`` and ``blocked_models``."""
        ...


__all__ = ["AutoMLSettings"]
