"""SDK v2 child jobs read back: each job's metric history and parameters (MLflow), as Trial records."""

from __future__ import annotations

import logging
from typing import Any

from asl_recog import _azure as sdk
from asl_recog._errors import MissingExtraError
from asl_recog.backends.azure import _results as results
from asl_recog.results import TrialStatus

logger = logging.getLogger("asl_recog")


# -- child metrics and params (MLflow) ----------------------------------------------------------------


class MlflowTracker:
    """Reads a child job's metric history and params from the workspace's MLflow tracking server."""

    def __init__(self, ml_client: Any, tracking_uri: str | None = None) -> None:
        self.ml_client = ml_client
        self._uri = tracking_uri
        self._client: Any = None

    def _mlflow(self) -> Any:
        if self._client is None:
            uri = self._uri or self.ml_client.workspaces.get(self.ml_client.workspace_name).mlflow_tracking_uri
            self._uri = str(uri)
            if str(uri).startswith("azureml:"):
                try:  # the plugin that lets MLflow read an azureml:// tracking server
                    import azureml.mlflow  # noqa: F401
                except ImportError as exc:
                    raise MissingExtraError("azureml-mlflow", "azure", "Reading Azure ML v2 job metrics") from exc
            self._client = sdk.mlflow_tracking.MlflowClient(tracking_uri=uri)
        return self._client

    def search_run(self, job_name: str) -> dict[str, dict[str, str]]:
        """``{"mlflow": {...}}`` naming the job's own MLflow run (Azure ML v2 tracks each job as the run
        of the same name), for a result's ``extras``: :func:`asl_recog.tracking.log_comparison` then adds
        the comparison's test figures to it, as it does for a local search's parent run. ``{}`` when the
        workspace's MLflow has no such run."""
        client = self._mlflow()
        try:
            run = client.get_run(job_name)
        except sdk.mlflow_exceptions.MlflowException as exc:
            logger.info("Azure ML v2: job %s has no MLflow run to log the comparison to (%s)", job_name, exc)
            return {}
        where = {"tracking_uri": str(self._uri), "run_id": job_name, "experiment_id": str(run.info.experiment_id)}
        return {"mlflow": where}

    def history(self, job_name: str, metric: str) -> list[float]:
        """Per-step values of ``metric`` ([] for a job that never logged, e.g. canceled before starting)."""
        client = self._mlflow()
        try:
            values = client.get_metric_history(job_name, metric)
        except sdk.mlflow_exceptions.MlflowException as exc:
            logger.info("Azure ML v2: no metrics for job %s (%s)", job_name, exc)
            return []
        return [m.value for m in sorted(values, key=lambda m: m.step)]

    def params(self, job_name: str) -> dict[str, str]:
        """The params the trial logged ({} for a job that never started)."""
        client = self._mlflow()
        try:
            return dict(client.get_run(job_name).data.params)
        except sdk.mlflow_exceptions.MlflowException as exc:
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
                job.name, TrialStatus.from_azure(job.status), params, history, model=algorithm or builder, handle=job
            )
        )
    return trials


__all__ = ["MlflowTracker", "child_trials", "trial_params"]
