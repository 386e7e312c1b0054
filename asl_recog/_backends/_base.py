"""The backend interface: where a trainer's search runs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from asl_recog._data import SignMnistDataset
    from asl_recog._trainer import Trainer, TrainingResult


class Backend(ABC):
    """Runs a :class:`Trainer`'s search somewhere and returns a :class:`TrainingResult`.

    The trainer says *what* is searched and *how*; the backend says *where*.
    """

    name: str = "backend"

    def check(self, trainer: Trainer) -> None:
        """Raise ConfigurationError if this backend cannot express the trainer's settings."""

    @abstractmethod
    def fit(self, trainer: Trainer, train: SignMnistDataset, validation: SignMnistDataset) -> TrainingResult:
        """Run the trainer's search (dispatch on ``trainer.route``)."""
