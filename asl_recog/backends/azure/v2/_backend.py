"""AzureBackend: run a trainer's search on Azure ML through SDK v2 (``azure-ai-ml``), the supported path.

AutoML becomes an ``automl.classification`` job and HyperDrive a ``command(...).sweep(...)``
job; both are submitted with ``ml_client.jobs.create_or_update``, followed with
``ml_client.jobs.stream``, and their children (``ml_client.jobs.list(parent_job_name=...)``)
become the leaderboard. Child metrics and params are read with MLflow from the
workspace's tracking URI (v2 jobs log through MLflow). With ``refit=True`` a sweep is followed by
one ``command`` job retraining the selected trial on all the data (``_azure_refit``). All SDK imports are lazy.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asl_recog import _azure as sdk
from asl_recog._errors import ConfigurationError, ModelFileError
from asl_recog.backends._remote import AutoMLSpec, SweepSpec
from asl_recog.backends.azure import _job as entry
from asl_recog.backends.azure import _refit as refit
from asl_recog.backends.azure import _results as results
from asl_recog.backends.azure import _translate as tr
from asl_recog.backends.azure._backend import AzureBackendBase, require_completed, staged_code
from asl_recog.backends.azure._data import ensure_v2_data
from asl_recog.backends.azure.v2._jobs import automl_job, sweep_job, training_environment
from asl_recog.backends.azure.v2._trials import MlflowTracker, child_trials
from asl_recog.results import TrainingResult

if TYPE_CHECKING:
    from asl_recog.data._dataset import SignMnistDataset

logger = logging.getLogger("asl_recog")

TERMINAL = {"completed", "failed", "canceled", "notresponding", "paused"}


class AzureBackend(AzureBackendBase):
    """Run AutoML and HyperDrive searches on Azure ML with SDK v2 (``azure-ai-ml``).

    Args:
        ml_client: an ``azure.ai.ml.MLClient`` for the workspace.
        compute: the name of a compute cluster.
        experiment_name: the experiment jobs are filed under.
        data_name: prefix of the registered MLTable data assets (``<name>-train``, ``<name>-validation``).
        environment: trial environment for sweeps: an ``azure.ai.ml.entities.Environment``,
            ``"azureml:name:version"``, or None to build one from the library's requirements.
        download_dir: where the best model is downloaded (default: the trainer's ``run_dir``).
        poll_seconds: status polling interval when the trainer's ``progress`` is off.
        tracking_uri: MLflow URI to read child metrics from (default: the workspace's).

    Example:
        Offline: the trainer is checked and its AutoML job built without a workspace (a real client
        comes from ``AzureBackend.from_config("config.json", compute="cpu-cluster")``, then
        ``trainer.fit(train, validation)`` submits it).

        >>> from asl_recog import AutoMLTrainer
        >>> from asl_recog.backends import remote_spec
        >>> from asl_recog.backends.azure.v2._jobs import automl_job
        >>> backend = AzureBackend(ml_client=None, compute="cpu-cluster", tracking_uri="file:./mlruns")
        >>> trainer = AutoMLTrainer(experiment_timeout_minutes=60, progress=False, backend=backend)
        >>> job = automl_job(remote_spec(trainer), "cpu-cluster", "asl-recog", "azureml:t:1", "azureml:v:1")
        >>> job.limits.timeout_minutes, job.training_data.path
        (60, 'azureml:t:1')
    """

    name = "azure"
    sdk = "v2"

    def __init__(
        self,
        ml_client: Any,
        compute: str,
        experiment_name: str = "asl-recog",
        data_name: str = "sign-language-mnist",
        environment: Any = None,
        *,
        download_dir: str | os.PathLike[str] | None = None,
        poll_seconds: float = 30.0,
        tracking_uri: str | None = None,
    ) -> None:
        tr.import_v2()
        if not compute or not isinstance(compute, str):
            raise ConfigurationError(f"AzureBackend needs compute: the name of a compute cluster, got {compute!r}")
        self.ml_client = ml_client
        self.compute = compute
        self.experiment_name = experiment_name
        self.data_name = data_name
        self.environment = environment
        self.download_dir = Path(download_dir) if download_dir is not None else None
        self.poll_seconds = poll_seconds
        self.tracker = MlflowTracker(ml_client, tracking_uri)

    @classmethod
    def from_config(
        cls,
        path: str | os.PathLike[str] | None = None,
        compute: str | None = None,
        credential: Any = None,
        **kwargs: Any,
    ) -> AzureBackend:
        """Connect with ``MLClient.from_config(DefaultAzureCredential(), path=path)``.

        With ``path=None`` and the ``AZUREML_ARM_SUBSCRIPTION``, ``AZUREML_ARM_RESOURCEGROUP`` and
        ``AZUREML_ARM_WORKSPACE_NAME`` variables set, the workspace comes from them instead.

        The compute is ``compute``, else a ``"compute"`` key in config.json, else
        ``$ASL_RECOG_AZURE_COMPUTE``, else ``"cpu-cluster"``.
        """
        tr.import_v2()
        return cls(sdk.connect_v2(path, credential), entry.compute_from_config(path, compute), **kwargs)

    def __repr__(self) -> str:
        ws = getattr(self.ml_client, "workspace_name", None)
        return f"AzureBackend(workspace={ws!r}, compute={self.compute!r}, experiment_name={self.experiment_name!r})"

    # -- AzureBackendBase ----------------------------------------------------------------------------

    def _register(self, train: SignMnistDataset, validation: SignMnistDataset) -> tuple[str, str]:
        train_id = ensure_v2_data(self.ml_client, f"{self.data_name}-train", train, role="train").asset_id
        validation_id = ensure_v2_data(
            self.ml_client, f"{self.data_name}-validation", validation, role="validation"
        ).asset_id
        return train_id, validation_id

    # -- internals ----------------------------------------------------------------------------------

    def _submit(self, job: Any, show_output: bool) -> tuple[Any, str]:
        """Submit ``job``, follow it to a terminal status; return the created job and that status."""
        created = self.ml_client.jobs.create_or_update(job)
        logger.info("Azure ML v2: submitted job %s (%s)", created.name, getattr(created, "studio_url", ""))
        if show_output:
            self.ml_client.jobs.stream(created.name)  # prints the logs; returns when the job ends
        status = self.ml_client.jobs.get(created.name).status
        while str(status).replace(" ", "").lower() not in TERMINAL:
            time.sleep(self.poll_seconds)
            status = self.ml_client.jobs.get(created.name).status
        logger.info("Azure ML v2: job %s finished with status %s", created.name, status)
        return created, str(status)

    def _download(self, name: str, target: Path) -> Path:
        target.mkdir(parents=True, exist_ok=True)
        self.ml_client.jobs.download(name, download_path=str(target))
        return target

    def _fit_automl(self, spec: AutoMLSpec, train: str, validation: str, run_dir: Path) -> TrainingResult:
        job, _ = self._submit(automl_job(spec, self.compute, self.experiment_name, train, validation), spec.progress)
        trials = child_trials(self.ml_client, self.tracker, job.name, spec.metric, automl=True)
        onnx = spec.onnx

        def fetch(trial: results.Trial) -> Path | None:  # the wanted file of one trial, or None
            folder = self._download(trial.trial, run_dir / "best" / trial.trial)
            try:
                path = results.find_model_file(folder, prefer_onnx=onnx)
            except ModelFileError:
                return None
            return None if onnx and path.suffix != ".onnx" else path

        return refit.finish_automl(
            spec,
            trials,
            fetch,
            backend=self.name,
            run_dir=run_dir,
            extras={"azure_job": job.name, "data": [train, validation], **self.tracker.search_run(job.name)},
            children=f"trials of job {job.name}",
            parent="job",
            wanted="outputs/model.onnx" if onnx else "a model file",
        )

    def _fit_sweep(self, spec: SweepSpec, train: str, validation: str, run_dir: Path, *, images: int) -> TrainingResult:
        environment = training_environment(self.environment)
        with staged_code(spec) as code:
            job, _ = self._submit(
                sweep_job(spec, self.compute, self.experiment_name, environment, code, train, validation),
                spec.progress,
            )  # code is uploaded at submit
        trials = child_trials(
            self.ml_client,
            self.tracker,
            job.name,
            spec.metric,
            automl=False,
            builder=str(spec.builder),
            sampled=list(spec.sampling.parameter_space),
        )
        return refit.finish_sweep(
            spec,
            trials,
            lambda trial: self._download(trial.trial, run_dir / "best"),
            images,
            lambda p: self._refit(spec, p, environment, train, validation, run_dir),
            backend=self.name,
            run_dir=run_dir,
            extras={"azure_job": job.name, **self.tracker.search_run(job.name)},
            sweep=f"sweep {job.name}",
        )

    def _refit(
        self,
        spec: SweepSpec,
        plan: refit.RefitPlan,
        environment: Any,
        train: str,
        validation: str,
        run_dir: Path,
    ) -> Path:
        """Submit the refit command job, wait for it, download its outputs; the folder they are in."""
        with staged_code(spec) as code:
            job, status = self._submit(
                refit.v2_refit_job(
                    spec, plan, self.compute, self.experiment_name, environment, code, train, validation
                ),
                spec.progress,
            )
        require_completed(f"job {job.name}", status)
        return self._download(job.name, run_dir / "refit")
