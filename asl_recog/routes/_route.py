"""A route object: everything a backend needs from a route, so that no backend branches on its name.

The trainers say *what* is searched and *how*; backends say *where*. A backend
reads the route it was given through this object:

- the local backend asks for a :class:`~asl_recog.backends.local.LocalPlan`
  (:attr:`Route.local_plan`) and, after the search, for the refit (:attr:`Route.refit`);
- remote backends (Azure ML) ask for a :class:`~asl_recog.backends.SweepSpec` or an
  :class:`~asl_recog.backends.AutoMLSpec` (:attr:`Route.remote_spec`): the job the route
  becomes, typed. Any route that is a sweep of a training command runs remotely
  without a change to the backends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asl_recog.backends._remote import RemoteSpec
    from asl_recog.backends.local._plan import LocalPlan
    from asl_recog.data._dataset import SignMnistDataset
    from asl_recog.results import TrainingResult


@dataclass(frozen=True)
class Route:
    """One way of searching for a model (AutoML or HyperDrive), as backends see it.

    Attributes:
        name: short name: the run directory's prefix and the config file's section.
        title: the name shown in progress output.
        local_plan: ``(trainer, train, validation, run_dir) -> LocalPlan``: the local search.
        refit: ``(trainer, result, train, validation, run_dir) -> result``: retrain the
            selected configuration on all the data (``refit=True``).
        remote_spec: ``trainer -> SweepSpec | AutoMLSpec``: the job a remote backend runs.
        trial_params: ``(trainer, params) -> params``: a trial's parameters completed
            with the trainer's fixed ones and the defaults.

    Example:
        >>> from asl_recog import HyperDriveTrainer
        >>> trainer = HyperDriveTrainer(builder="seed", max_total_runs=2, progress=False)
        >>> trainer.route.name, trainer.route.remote_spec(trainer).kind
        ('hyperdrive', 'sweep')
    """

    name: str
    title: str
    local_plan: Callable[[Any, SignMnistDataset, SignMnistDataset, Path], LocalPlan]
    refit: Callable[[Any, TrainingResult, SignMnistDataset, SignMnistDataset, Path], TrainingResult]
    remote_spec: Callable[[Any], RemoteSpec]
    trial_params: Callable[[Any, dict[str, Any]], dict[str, Any]] = lambda trainer, params: dict(params)

    def __str__(self) -> str:
        return self.name


__all__ = ["Route"]
