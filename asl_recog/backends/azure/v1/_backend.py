"""AzureMLBackend: run a trainer's search on Azure ML through SDK v1 (``azureml-core``).

Kept because users asked for it (the seed project used SDK v1); Microsoft ended
support for SDK v1 on 2026-06-30, so constructing this backend warns once and
points to :class:`~asl_recog.AzureBackend` (SDK v2). With ``refit=True`` a HyperDrive run is followed by
one ``ScriptRunConfig`` retraining the selected trial on all the data (``_azure_refit``). All SDK imports are lazy.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asl_recog import _azure as sdk
from asl_recog._deprecation import warn_once
from asl_recog._errors import ConfigurationError
from asl_recog.backends._remote import AutoMLSpec, SweepSpec
from asl_recog.backends.azure import _job as entry
from asl_recog.backends.azure import _refit as refit
from asl_recog.backends.azure import _results as results
from asl_recog.backends.azure import _translate as tr
from asl_recog.backends.azure._backend import AzureBackendBase, require_completed, staged_code
from asl_recog.backends.azure._data import ensure_v1_dataset
from asl_recog.backends.azure.v1._jobs import automl_config, hyperdrive_config, script_run_config, training_environment
from asl_recog.backends.azure.v1._trials import automl_trials, hyperdrive_trials
from asl_recog.results import TrainingResult

if TYPE_CHECKING:
    from asl_recog.data._dataset import SignMnistDataset

logger = logging.getLogger("asl_recog")

DEPRECATION = (
    "AzureMLBackend uses the Azure ML SDK v1 (azureml-core), whose support Microsoft ended on "
    "2026-06-30. Use asl_recog.AzureBackend (SDK v2, pip install 'asl-recog[azure]') instead; "
    "the trainer calls stay the same."
)


def _warn_deprecated() -> None:
    warn_once("AzureMLBackend", DEPRECATION, stacklevel=3)


class AzureMLBackend(AzureBackendBase):
    """Run AutoML and HyperDrive searches on Azure ML with SDK v1 (deprecated by Microsoft; see AzureBackend).

    Args:
        workspace: an ``azureml.core.Workspace``.
        compute_target: a compute target object or the name of an AmlCompute cluster.
        experiment_name: the Azure ML experiment runs are filed under.
        dataset_name: prefix of the registered datasets (``<name>-train``, ``<name>-validation``).
        environment: trial environment for HyperDrive: an ``azureml.core.Environment``, a registered
            environment's name, or None to build one from the library's requirements.
        datastore: where data is uploaded (default: the workspace's default datastore).
        download_dir: where the best model is downloaded (default: the trainer's ``run_dir``).

    Example:
        Offline: the trainer is checked and its HyperDriveConfig built without a workspace (a real
        one comes from ``AzureMLBackend.from_config("config.json", compute_target="gpu-cluster")``,
        then ``trainer.fit(train, validation)`` submits it).

        >>> import warnings
        >>> from asl_recog import HyperDriveTrainer
        >>> from asl_recog.backends import remote_spec
        >>> from asl_recog.backends.azure.v1._jobs import hyperdrive_config, script_run_config, training_environment
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")  # SDK v1's end-of-support notice
        ...     backend = AzureMLBackend(workspace=None, compute_target="gpu-cluster")
        >>> trainer = HyperDriveTrainer(builder="seed", max_total_runs=8, progress=False, backend=backend)
        >>> spec = remote_spec(trainer)
        >>> src = script_run_config(spec, ".", "gpu-cluster", training_environment(), "TRAIN", "VALID")
        >>> hyperdrive_config(spec, src)._max_total_runs
        8
    """

    name = "azureml"
    sdk = "v1"

    def __init__(
        self,
        workspace: Any,
        compute_target: Any,
        experiment_name: str = "asl-recog",
        dataset_name: str = "sign-language-mnist",
        environment: Any = None,
        *,
        datastore: Any = None,
        download_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        tr.import_v1()
        _warn_deprecated()
        if not compute_target:
            raise ConfigurationError("AzureMLBackend needs compute_target: a compute cluster name or ComputeTarget")
        self.workspace = workspace
        self.compute_target = compute_target
        self.experiment_name = experiment_name
        self.dataset_name = dataset_name
        self.environment = environment
        self.datastore = datastore
        self.download_dir = Path(download_dir) if download_dir is not None else None

    @classmethod
    def from_config(
        cls,
        path: str | os.PathLike[str] | None = None,
        compute_target: str | None = None,
        auth: Any = None,
        **kwargs: Any,
    ) -> AzureMLBackend:
        """Connect with ``Workspace.from_config(path)`` (config.json from the Azure portal).

        With ``path=None`` and the ``AZUREML_ARM_*`` workspace variables set, ``Workspace.get``
        uses them instead. The compute target is ``compute_target``, else a ``"compute"`` key in config.json,
        else ``$ASL_RECOG_AZURE_COMPUTE``, else ``"cpu-cluster"``. ``auth`` is any azureml-core
        authentication (e.g. ``ServicePrincipalAuthentication`` for CI); None signs in interactively.
        """
        tr.import_v1()
        return cls(sdk.connect_v1(path, auth), entry.compute_from_config(path, compute_target), **kwargs)

    def __repr__(self) -> str:
        ws = getattr(self.workspace, "name", self.workspace)
        compute = getattr(self.compute_target, "name", self.compute_target)
        return f"AzureMLBackend(workspace={ws!r}, compute_target={compute!r}, experiment_name={self.experiment_name!r})"

    # -- AzureBackendBase ----------------------------------------------------------------------------

    def _register(self, train: SignMnistDataset, validation: SignMnistDataset) -> tuple[Any, Any]:
        return tuple(  # type: ignore[return-value]
            ensure_v1_dataset(self.workspace, f"{self.dataset_name}-{role}", split, role=role, datastore=self.datastore)
            for role, split in (("train", train), ("validation", validation))
        )

    # -- internals ----------------------------------------------------------------------------------

    def _experiment(self) -> Any:
        return sdk.aml_core.Experiment(self.workspace, self.experiment_name)

    def _submit(self, config: Any, show_output: bool) -> Any:
        run = self._experiment().submit(config)
        logger.info("Azure ML v1: submitted run %s (%s)", run.id, getattr(run, "get_portal_url", lambda: "")())
        run.wait_for_completion(show_output=show_output, raise_on_error=False)
        logger.info("Azure ML v1: run %s finished with status %s", run.id, run.get_status())
        return run

    def _fit_automl(self, spec: AutoMLSpec, train: Any, validation: Any, run_dir: Path) -> TrainingResult:
        config = automl_config(spec, self.compute_target, train.tabular, validation.tabular)
        run = self._submit(config, spec.progress)
        trials = automl_trials(run, spec.metric)
        wanted = "outputs/model.onnx" if spec.onnx else "outputs/model.pkl"
        target = run_dir / "best" / Path(wanted).name

        def fetch(trial: results.Trial) -> Path | None:  # lists artifacts lazily: one call per run
            if wanted not in trial.handle.get_file_names():
                return None
            target.parent.mkdir(parents=True, exist_ok=True)
            trial.handle.download_file(name=wanted, output_file_path=str(target))
            return target

        datasets = [getattr(train.tabular, "name", None), getattr(validation.tabular, "name", None)]
        return refit.finish_automl(
            spec,
            trials,
            fetch,
            backend=self.name,
            run_dir=run_dir,
            extras={"azure_run_id": run.id, "datasets": datasets},
            children=f"iterations of run {run.id}",
            parent="run",
            wanted=wanted,
        )

    def _fit_sweep(self, spec: SweepSpec, train: Any, validation: Any, run_dir: Path, *, images: int) -> TrainingResult:
        environment = training_environment(self.environment, self.workspace)
        with staged_code(spec) as code:
            src = script_run_config(
                spec,
                code,
                self.compute_target,
                environment,
                train.files.as_named_input("train").as_mount(),
                validation.files.as_named_input("validation").as_mount(),
            )
            config = hyperdrive_config(spec, src)
            run = self._submit(config, spec.progress)  # the snapshot is taken at submit
        trials = hyperdrive_trials(run, spec.metric, str(spec.builder))

        def download(trial: results.Trial) -> Path:
            target = run_dir / "best"
            trial.handle.download_files(prefix=entry.OUTPUT_DIR, output_directory=str(target), append_prefix=True)
            return target

        return refit.finish_sweep(
            spec,
            trials,
            download,
            images,
            lambda p: self._refit(spec, p, environment, train, validation, run_dir),
            backend=self.name,
            run_dir=run_dir,
            extras={"azure_run_id": run.id},
            sweep=f"HyperDrive run {run.id}",
        )

    def _refit(
        self,
        spec: SweepSpec,
        plan: refit.RefitPlan,
        environment: Any,
        train: Any,
        validation: Any,
        run_dir: Path,
    ) -> Path:
        """Submit the refit ScriptRunConfig, wait for it, download its outputs; the folder they are in."""
        with staged_code(spec) as code:
            config = refit.v1_refit_config(
                spec,
                plan,
                code,
                self.compute_target,
                environment,
                train.files.as_named_input("train").as_mount(),
                validation.files.as_named_input("validation").as_mount(),
            )
            run = self._submit(config, spec.progress)  # the snapshot is taken at submit
        require_completed(f"run {run.id}", run.get_status())
        target = run_dir / "refit"
        run.download_files(prefix=entry.OUTPUT_DIR, output_directory=str(target), append_prefix=True)
        return target
