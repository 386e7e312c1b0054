"""A route object: everything a backend needs from a route, so that no backend branches on its name.

The trainers say *what* is searched and *how*; backends say *where*. A backend
reads the route it was given through this object:

- the local backend asks for a :class:`~asl_recog.backends.local.LocalPlan`
  (:attr:`Route.local_plan`) and, after the search, for the refit (:attr:`Route.refit`);
- the Azure backends read :attr:`Route.azure_job`, the kind of Azure job the
  route becomes: ``"automl"`` (an Automated ML job) or ``"sweep"`` (a sweep over
  the command :attr:`Route.entry_module`, as HyperDrive runs). Any route that is
  a sweep of a training command runs on Azure without a change to the backends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from asl_recog.backends.local._plan import LocalPlan
    from asl_recog.data._dataset import SignMnistDataset
    from asl_recog.results import TrainingResult

#: the kinds of Azure job a route can become
AzureJob = Literal["automl", "sweep"]


@dataclass(frozen=True)
class Route:
    """One way of searching for a model (AutoML or HyperDrive), as backends see it.

    Attributes:
        name: short name: the run directory's prefix and the config file's section.
        title: the name shown in progress output.
        azure_job: the kind of Azure job the route becomes (``"automl"`` or ``"sweep"``).
        local_plan: ``(trainer, train, validation, run_dir) -> LocalPlan``: the local search.
        refit: ``(trainer, result, train, validation, run_dir) -> result``: retrain the
            selected configuration on all the data (``refit=True``).
        entry_module: for sweeps, the module Azure runs as ``python -m <entry_module>``.
        trial_params: ``(trainer, params) -> params``: a trial's parameters completed
            with the trainer's fixed ones and the defaults (for a refit job on Azure).
        azure_names: for AutoML jobs, our algorithm names -> Azure AutoML's (names
            without a counterpart are absent).

    Example:
        >>> from asl_recog import HyperDriveTrainer
        >>> HyperDriveTrainer.route.name, HyperDriveTrainer.route.azure_job
        ('hyperdrive', 'sweep')
    """

    name: str
    title: str
    azure_job: AzureJob
    local_plan: Callable[[Any, SignMnistDataset, SignMnistDataset, Path], LocalPlan]
    refit: Callable[[Any, TrainingResult, SignMnistDataset, SignMnistDataset, Path], TrainingResult]
    entry_module: str = ""
    trial_params: Callable[[Any, dict[str, Any]], dict[str, Any]] = lambda trainer, params: dict(params)
    azure_names: Mapping[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.name


__all__ = ["AzureJob", "Route"]
