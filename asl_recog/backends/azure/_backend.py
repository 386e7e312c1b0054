"""The fit skeleton the Azure backends share: check, register the data, submit the spec's job, collect.

Each SDK backend (v1 :class:`~asl_recog.AzureMLBackend`, v2 :class:`~asl_recog.AzureBackend`)
says how to register a split and how to run an AutoML job or a sweep; this base turns the
trainer into its route's :class:`~asl_recog.backends.SweepSpec` or
:class:`~asl_recog.backends.AutoMLSpec` once, and the SDK backends read only that spec.
"""

from __future__ import annotations

import tempfile
from abc import abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asl_recog.backends._base import Backend, Trainer
from asl_recog.backends._remote import AutoMLSpec, SweepSpec
from asl_recog.backends.azure import _checks as checks
from asl_recog.backends.azure._data import automl_training_data, stage_source
from asl_recog.backends.azure._refit import RefitJobFailed
from asl_recog.backends.azure._translate import Sdk
from asl_recog.results import TrialStatus
from asl_recog.results._run_dir import run_dir_of

if TYPE_CHECKING:
    from asl_recog.data._dataset import SignMnistDataset
    from asl_recog.results import TrainingResult


@contextmanager
def staged_code(spec: SweepSpec) -> Iterator[str]:
    """A temporary folder holding the package and the launcher of ``spec.entry_module``.

    Azure snapshots the code when a job is submitted, so the folder only has to live until then.
    """
    with tempfile.TemporaryDirectory(prefix="asl-recog-code-") as code:
        stage_source(Path(code), spec.entry_module)
        yield code


def require_completed(job: str, status: str) -> None:
    """Raise RefitJobFailed unless the refit ``job`` (e.g. ``"run 42"``) ended as completed.

    Example:
        >>> require_completed("job refit-1", "Completed")
        >>> require_completed("run 7", "Failed")
        Traceback (most recent call last):
        ...
        asl_recog.backends.azure._refit.RefitJobFailed: the refit run 7 ended with status Failed; ...
    """
    if TrialStatus.from_azure(status) is not TrialStatus.COMPLETED:
        raise RefitJobFailed(f"the refit {job} ended with status {status}; open it in Azure ML studio to read its logs")


class AzureBackendBase(Backend):
    """What the Azure SDK backends share; a subclass registers data and runs the two kinds of job.

    Example:
        >>> class Offline(AzureBackendBase):  # a backend that records what it would submit
        ...     sdk, download_dir = "v2", None
        ...     def _register(self, train, validation): return "t", "v"
        ...     def _fit_automl(self, spec, train, validation, run_dir): return ("automl", spec.metric)
        ...     def _fit_sweep(self, spec, train, validation, run_dir, *, images): return ("sweep", spec.builder)
        >>> from asl_recog import AutoMLTrainer
        >>> backend = Offline()
        >>> trainer = AutoMLTrainer(experiment_timeout_minutes=15, progress=False, backend=backend)
        >>> backend.fit(trainer, train, validation)
        ('automl', 'accuracy')
    """

    #: which SDK the subclass speaks, for the checks' messages and limits
    sdk: Sdk
    download_dir: Path | None

    def check(self, trainer: Trainer) -> None:
        """Reject settings this SDK cannot express (called when the trainer is built)."""
        checks.check_trainer(trainer, self.sdk, type(self).__name__)

    def fit(self, trainer: Trainer, train: SignMnistDataset, validation: SignMnistDataset) -> TrainingResult:
        """Run ``trainer``'s search as the Azure job its route's spec describes (AutoML job or sweep)."""
        spec = checks.check_trainer(trainer, self.sdk, type(self).__name__)
        run_dir = self.download_dir or run_dir_of(trainer)
        run_dir.mkdir(parents=True, exist_ok=True)
        if isinstance(spec, AutoMLSpec):
            train = automl_training_data(spec, train)
        train_ref, validation_ref = self._register(train, validation)
        if isinstance(spec, AutoMLSpec):
            return self._fit_automl(spec, train_ref, validation_ref, run_dir)
        return self._fit_sweep(spec, train_ref, validation_ref, run_dir, images=len(train) + len(validation))

    @abstractmethod
    def _register(self, train: SignMnistDataset, validation: SignMnistDataset) -> tuple[Any, Any]:
        """Upload (or find) both splits in the workspace; what the jobs take as their inputs."""

    @abstractmethod
    def _fit_automl(self, spec: AutoMLSpec, train: Any, validation: Any, run_dir: Path) -> TrainingResult:
        """Run the AutoML job, pick its best trial that fits, and return the result."""

    @abstractmethod
    def _fit_sweep(self, spec: SweepSpec, train: Any, validation: Any, run_dir: Path, *, images: int) -> TrainingResult:
        """Run the sweep (and the refit job when asked), and return the result."""


__all__ = ["AzureBackendBase", "require_completed", "staged_code"]
