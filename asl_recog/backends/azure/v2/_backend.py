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
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asl_recog._errors import ConfigurationError, MissingExtraError, ModelFileError
from asl_recog.backends._base import Backend
from asl_recog.backends.azure import _job as entry
from asl_recog.backends.azure import _refit as refit
from asl_recog.backends.azure import _results as results
from asl_recog.backends.azure import _translate as tr
from asl_recog.backends.azure._data import automl_training_data, ensure_v2_data, stage_source
from asl_recog.search._space import PrimaryMetricGoal

if TYPE_CHECKING:
    from asl_recog.data._dataset import SignMnistDataset
    from asl_recog.routes._trainer import Trainer, TrainingResult
    from asl_recog.routes.automl._trainer import AutoMLTrainer
    from asl_recog.routes.hyperdrive._trainer import HyperDriveTrainer

logger = logging.getLogger("asl_recog")

TERMINAL = {"completed", "failed", "canceled", "notresponding", "paused"}


# -- SDK v2 jobs, built from a trainer (offline: no workspace call) ---------------------------------


def automl_job(trainer: AutoMLTrainer, compute: str, experiment_name: str, train: str, validation: str) -> Any:
    """The v2 ``automl.classification`` job of an AutoMLTrainer (validation: our grouped split)."""
    tr.import_v2()
    from azure.ai.ml import Input, automl
    from azure.ai.ml.constants import AssetTypes

    s = tr.automl_settings(trainer, "v2")
    job = automl.classification(
        training_data=Input(type=AssetTypes.MLTABLE, path=train),
        validation_data=Input(type=AssetTypes.MLTABLE, path=validation),
        target_column_name="label",
        primary_metric=s["primary_metric"],
        enable_model_explainability=False,
        compute=compute,
        experiment_name=experiment_name,
    )
    job.set_limits(
        timeout_minutes=int(s["experiment_timeout_minutes"]),
        trial_timeout_minutes=s["iteration_timeout_minutes"],
        max_trials=s["max_iterations"],
        max_concurrent_trials=s["max_concurrent_iterations"],
        enable_early_termination=s["enable_early_stopping"],
    )
    job.set_training(
        enable_onnx_compatible_models=s["enable_onnx_compatible_models"],
        allowed_training_algorithms=s["allowed_models"],
        blocked_training_algorithms=s["blocked_models"],
        enable_vote_ensemble=s["enable_voting_ensemble"],
        enable_stack_ensemble=False,
    )  # our trainer has no stacking ensemble
    job.set_featurization(mode="off")  # pixels are numeric already; scaling stays inside each pipeline
    return job


def training_environment(environment: Any = None) -> Any:
    """The trial environment: the given one (entity or ``"name:version"``), or the library's requirements."""
    tr.import_v2()
    from azure.ai.ml.entities import Environment

    if environment is not None:
        return environment
    conda = {
        "name": "asl-recog-train",
        "channels": ["conda-forge"],
        "dependencies": [f"python={entry.TRAINING_PYTHON}", "pip", {"pip": entry.training_requirements("v2")}],
    }
    return Environment(
        image=entry.TRAINING_IMAGE,
        conda_file=conda,
        description="asl_recog training (built from the library's requirements)",
    )


def sweep_job(
    trainer: HyperDriveTrainer,
    compute: str,
    experiment_name: str,
    environment: Any,
    code: str | os.PathLike[str],
    train: str,
    validation: str,
) -> Any:
    """The v2 sweep job: ``command(...)`` over the entry point, then ``.sweep(...)`` and ``set_limits``."""
    tr.import_v2()
    from azure.ai.ml import Input, command

    tr.check_hyperdrive(trainer, "v2")
    sampling = trainer.resolved_sampling()
    space, algorithm = tr.v2_sampling(sampling)
    line, constants = entry.v2_command(trainer, list(space))
    inputs: dict[str, Any] = {
        "data": Input(type="mltable", path=train, mode="ro_mount"),
        "validation": Input(type="mltable", path=validation, mode="ro_mount"),
        **constants,
        **{name: tr.representative(expr) for name, expr in sampling.parameter_space.items()},
    }
    trial = command(
        code=str(code),
        command=line,
        inputs=inputs,
        environment=environment,
        compute=compute,
        experiment_name=experiment_name,
        display_name="asl-recog-trial",
    )
    sweep = trial(**space).sweep(
        sampling_algorithm=algorithm,
        primary_metric=trainer.primary_metric_name,
        goal=tr.v2_goal(trainer.goal),
        early_termination_policy=tr.v2_policy(trainer.policy),
        compute=compute,
    )
    sweep.set_limits(
        max_total_trials=trainer.max_total_runs,
        max_concurrent_trials=trainer.max_concurrent_runs,
        timeout=tr.v2_timeout_seconds(trainer.max_duration_minutes),
    )
    sweep.experiment_name = experiment_name
    sweep.display_name = f"asl-recog-{trainer.builder}-sweep"
    return sweep


# -- child metrics and params (MLflow) ----------------------------------------------------------------


class MlflowTracker:
    """Reads a child job's metric history and params from the workspace's MLflow tracking server."""

    def __init__(self, ml_client: Any, tracking_uri: str | None = None) -> None:
        self.ml_client = ml_client
        self._uri = tracking_uri
        self._client: Any = None

    def _mlflow(self) -> Any:
        if self._client is None:
            try:
                from mlflow.tracking import MlflowClient
            except ImportError as exc:
                raise MissingExtraError("mlflow-skinny", "azure", "Reading Azure ML v2 job metrics") from exc
            uri = self._uri or self.ml_client.workspaces.get(self.ml_client.workspace_name).mlflow_tracking_uri
            if str(uri).startswith("azureml:"):
                try:  # the plugin that lets MLflow read an azureml:// tracking server
                    import azureml.mlflow  # noqa: F401
                except ImportError as exc:
                    raise MissingExtraError("azureml-mlflow", "azure", "Reading Azure ML v2 job metrics") from exc
            self._client = MlflowClient(tracking_uri=uri)
        return self._client

    def history(self, job_name: str, metric: str) -> list[float]:
        """Per-step values of ``metric`` ([] for a job that never logged, e.g. canceled before starting)."""
        client = self._mlflow()
        from mlflow.exceptions import MlflowException

        try:
            values = client.get_metric_history(job_name, metric)
        except MlflowException as exc:
            logger.info("Azure ML v2: no metrics for job %s (%s)", job_name, exc)
            return []
        return [m.value for m in sorted(values, key=lambda m: m.step)]

    def params(self, job_name: str) -> dict[str, str]:
        """The params the trial logged ({} for a job that never started)."""
        client = self._mlflow()
        from mlflow.exceptions import MlflowException

        try:
            return dict(client.get_run(job_name).data.params)
        except MlflowException as exc:
            logger.info("Azure ML v2: no params for job %s (%s)", job_name, exc)
            return {}


def _number(text: Any) -> Any:
    """MLflow stores params as text; give numbers back as numbers."""
    if not isinstance(text, str):
        return text
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            continue
    return text


def _literal(value: Any) -> Any:
    """A job input's value when it is a literal (not a data input)."""
    value = getattr(value, "default", value) if not isinstance(value, (int, float, str, bool)) else value
    return _number(value) if isinstance(value, (int, float, str, bool)) else None


def trial_params(job: Any, tracker: MlflowTracker, sampled: list[str], parent_tags: dict[str, Any]) -> dict[str, Any]:
    """A sweep trial's sampled params: from MLflow params, the trial's inputs, or the parent's tags
    (HyperDrive records each child's params as JSON under ``_aml_system_<child>``)."""
    logged = {k: _number(v) for k, v in tracker.params(job.name).items() if k in sampled}
    if logged:
        return logged
    inputs = {k: _literal(v) for k, v in dict(getattr(job, "inputs", None) or {}).items() if k in sampled}
    if inputs and all(v is not None for v in inputs.values()):
        return inputs
    return results.parse_params(parent_tags.get(f"_aml_system_{job.name}") or parent_tags.get(job.name))


def child_trials(
    ml_client: Any,
    tracker: MlflowTracker,
    parent: str,
    metric: str,
    *,
    automl: bool,
    builder: str = "",
    sampled: list[str] | None = None,
) -> list[results.Trial]:
    """The children of a v2 job as trials (AutoML: those with a ``run_algorithm`` property)."""
    parent_tags = {} if automl else dict(getattr(ml_client.jobs.get(parent), "tags", None) or {})
    trials = []
    for job in ml_client.jobs.list(parent_job_name=parent):
        props = dict(getattr(job, "properties", None) or {})
        algorithm = props.get("run_algorithm", "")
        if automl and not algorithm:
            continue  # setup and featurization children
        if automl:
            params: dict[str, Any] = {
                "algorithm": algorithm,
                **({"preprocessor": props["run_preprocessor"]} if props.get("run_preprocessor") else {}),
            }
        else:
            params = trial_params(job, tracker, sampled or [], parent_tags)
        history = tracker.history(job.name, metric) or results.as_history(props.get("score"))
        trials.append(
            results.Trial(
                job.name, results.our_status(job.status), params, history, model=algorithm or builder, handle=job
            )
        )
    return trials


class AzureBackend(Backend):
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
        >>> # Not run as a doctest: it needs an Azure ML workspace, its credentials and a network.
        >>> from asl_recog import AzureBackend, AutoMLTrainer  # doctest: +SKIP
        >>> backend = AzureBackend.from_config("config.json", compute="cpu-cluster")  # doctest: +SKIP
        >>> trainer = AutoMLTrainer(experiment_timeout_minutes=60, backend=backend)  # doctest: +SKIP
        >>> result = trainer.fit(load_sign_mnist("train"))  # doctest: +SKIP
    """

    name = "azure"

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
        from azure.ai.ml import MLClient

        if credential is None:
            try:
                from azure.identity import DefaultAzureCredential
            except ImportError as exc:
                raise MissingExtraError("azure-identity", "azure", "Signing in to Azure ML") from exc
            credential = DefaultAzureCredential()
        env = entry.workspace_from_env() if path is None else None
        if env is not None:  # inside an Azure ML job, or configured through AZUREML_ARM_* variables
            client = MLClient(credential, subscription_id=env[0], resource_group_name=env[1], workspace_name=env[2])
        else:
            client = MLClient.from_config(credential, path=None if path is None else str(path))
        return cls(client, entry.compute_from_config(path, compute), **kwargs)

    def __repr__(self) -> str:
        ws = getattr(self.ml_client, "workspace_name", None)
        return f"AzureBackend(workspace={ws!r}, compute={self.compute!r}, experiment_name={self.experiment_name!r})"

    # -- Backend ----------------------------------------------------------------------------------

    def check(self, trainer: Trainer) -> None:
        """Reject settings SDK v2 cannot express (called when the trainer is built)."""
        tr.check_trainer(trainer, "v2", "AzureBackend")

    def fit(self, trainer: Trainer, train: SignMnistDataset, validation: SignMnistDataset) -> TrainingResult:
        self.check(trainer)
        from asl_recog.routes._trainer import _default_run_dir

        run_dir = self.download_dir or Path(getattr(trainer, "run_dir", None) or _default_run_dir(trainer.route))
        run_dir.mkdir(parents=True, exist_ok=True)
        if trainer.route == "automl":
            train = automl_training_data(trainer, train)
        train_id = ensure_v2_data(self.ml_client, f"{self.data_name}-train", train, role="train").asset_id
        validation_id = ensure_v2_data(
            self.ml_client, f"{self.data_name}-validation", validation, role="validation"
        ).asset_id
        if trainer.route == "automl":
            return self._fit_automl(trainer, train_id, validation_id, run_dir)  # type: ignore[arg-type]
        return self._fit_sweep(
            trainer,
            train_id,
            validation_id,
            run_dir,  # type: ignore[arg-type]
            images=len(train) + len(validation),
        )

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

    def _fit_automl(self, trainer: AutoMLTrainer, train: str, validation: str, run_dir: Path) -> TrainingResult:
        job, _ = self._submit(
            automl_job(trainer, self.compute, self.experiment_name, train, validation), bool(trainer.progress)
        )
        trials = child_trials(self.ml_client, self.tracker, job.name, trainer.primary_metric, automl=True)
        goal = PrimaryMetricGoal.MAXIMIZE  # every AutoML classification metric is maximised
        onnx = bool(trainer.enable_onnx_compatible_models)
        ordered = results.ranked(trials, goal)
        if not ordered:
            results.best_trial(trials, goal, trainer.primary_metric)  # raises, naming the statuses seen

        def fetch(trial: results.Trial) -> Path | None:  # the wanted file of one trial, or None
            folder = self._download(trial.trial, run_dir / "best" / trial.trial)
            try:
                path = results.find_model_file(folder, prefer_onnx=onnx)
            except ModelFileError:
                return None
            return None if onnx and path.suffix != ".onnx" else path

        # Best first: the first trial with the wanted file within max_model_size_mb.
        found = results.first_that_fits(ordered, fetch, trainer.max_model_size_mb)
        if found is None:
            wanted = "outputs/model.onnx" if onnx else "a model file"
            raise results.nothing_fits(
                ordered,
                trainer.max_model_size_mb,
                f"none of the {len(ordered)} completed AutoML trials of job {job.name} left "
                f"{wanted}; open the job in Azure ML studio to see its outputs",
            )
        trial, path = found
        extras = refit.note_automl_refit(trainer, {"azure_job": job.name, "data": [train, validation]})
        return results.make_result(
            trials,
            trial,
            results.load_model_file(path),
            metric=trainer.primary_metric,
            goal=goal,
            backend=self.name,
            run_dir=run_dir,
            extras=extras,
        )

    def _fit_sweep(
        self, trainer: HyperDriveTrainer, train: str, validation: str, run_dir: Path, *, images: int
    ) -> TrainingResult:
        environment = training_environment(self.environment)
        with tempfile.TemporaryDirectory(prefix="asl-recog-code-") as code:
            stage_source(Path(code))
            job, _ = self._submit(
                sweep_job(trainer, self.compute, self.experiment_name, environment, code, train, validation),
                bool(trainer.progress),
            )  # code is uploaded at submit
        trials = child_trials(
            self.ml_client,
            self.tracker,
            job.name,
            trainer.primary_metric_name,
            automl=False,
            builder=str(trainer.builder),
            sampled=list(trainer.resolved_sampling().parameter_space),
        )
        results.best_trial(trials, trainer.goal, trainer.primary_metric_name)  # raises when none completed

        def fetch(trial: results.Trial) -> Path:  # a completed trial always saves outputs/model.keras
            folder = self._download(trial.trial, run_dir / "best")
            try:
                return results.find_model_file(folder, prefer_onnx=False)  # .keras: larger than its ONNX
            except ModelFileError as exc:
                raise ModelFileError(f"sweep trial {trial.trial}: {exc}") from exc

        return refit.finish_sweep(
            trainer,
            trials,
            fetch,
            images,
            lambda p: self._refit(trainer, p, environment, train, validation, run_dir),
            backend=self.name,
            run_dir=run_dir,
            extras={"azure_job": job.name},
            where=f"sweep {job.name}: no model file",
        )

    def _refit(
        self,
        trainer: HyperDriveTrainer,
        plan: refit.RefitPlan,
        environment: Any,
        train: str,
        validation: str,
        run_dir: Path,
    ) -> Path:
        """Submit the refit command job, wait for it, download its outputs; the folder they are in."""
        with tempfile.TemporaryDirectory(prefix="asl-recog-code-") as code:
            stage_source(Path(code))
            job, status = self._submit(
                refit.v2_refit_job(
                    trainer, plan, self.compute, self.experiment_name, environment, code, train, validation
                ),
                bool(trainer.progress),
            )
        if results.our_status(status) != "complete":
            raise refit.RefitJobFailed(
                f"the refit job {job.name} ended with status {status}; open it in Azure ML studio to read its logs"
            )
        return self._download(job.name, run_dir / "refit")
