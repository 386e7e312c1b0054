"""The backend interface: where a trainer's search runs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from asl_recog.data._dataset import SignMnistDataset
    from asl_recog.results import TrainingResult


class Trainer(Protocol):
    """A trainer as backends see it: its route object and its settings.

    Backends sit below the routes and never import them (not even for annotations), so a
    backend names the trainer by what it reads; a remote backend reads only the route's typed
    spec (:func:`~asl_recog.backends.remote_spec`). :class:`asl_recog.Trainer` satisfies it.
    """

    @property
    def route(self) -> Any:
        """The :class:`~asl_recog.routes.Route`: local plan, refit, remote spec."""

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor settings, as stored."""


class Backend(ABC):
    """Runs a :class:`Trainer`'s search somewhere and returns a :class:`TrainingResult`.

    The trainer says *what* is searched and *how*; the backend says *where*.

    Example:
        >>> class LoggingBackend(Backend):  # a backend of your own: run elsewhere, return a TrainingResult
        ...     name = "logging"
        ...     def fit(self, trainer, train, validation):
        ...         print(f"{len(train)} training images")
        ...         return LocalBackend().fit(trainer, train, validation)
        >>> tiny = {"hidden": 16, "batch_size": 64, "epochs": 1, "dropout": 0.1}
        >>> trainer = HyperDriveTrainer(builder="seed", fixed_params=tiny, max_total_runs=1, progress=False,
        ...                             backend=LoggingBackend())
        >>> result = trainer.fit(train, validation)
        300 training images
        >>> result.best_params["hidden"]
        16
    """

    name: str = "backend"

    def __deepcopy__(self, memo: dict[int, Any]) -> Backend:
        # A backend stands for a place (a workspace client, a storage): sklearn.base.clone(trainer)
        # deep-copies settings that are not estimators, and a clone must run in the same place.
        return self

    def check(self, trainer: Trainer) -> None:
        """Raise ConfigurationError if this backend cannot express the trainer's settings.

        The default accepts every setting; backends with limits override it.
        """
        return None

    @abstractmethod
    def fit(self, trainer: Trainer, train: SignMnistDataset, validation: SignMnistDataset) -> TrainingResult:
        """Run the trainer's search; ``trainer.route`` (a Route) supplies what is route-specific."""
