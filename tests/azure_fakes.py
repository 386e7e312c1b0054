"""The fakes of the Azure tests, at the narrowest seams where the SDKs would call Azure.

SDK v1 (``AzureMLBackend``): a workspace, the dataset registry and blob uploads, runs, and
``azureml.core.Experiment``. SDK v2 (``AzureBackend``): ``MLClient``'s jobs, data and
workspaces. Everything else is the real SDK, building real job objects offline. The scripted
fakes replay children and artifacts a test wrote in advance; ``azure_sim`` drives the same
fakes with a simulation for the conformance checks. The SDKs are imported where a fake uses
them, so that this module imports without either extra.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

import asl_recog as asl
from asl_recog.backends.azure._data import CSV_NAME

# -- SDK v1 ------------------------------------------------------------------------------------------


class FakeWorkspace:
    """What the SDK reads from a Workspace offline; its datastore is a real AzureBlobDatastore."""

    name, subscription_id, resource_group, _auth = "ws", "00000000-0000-0000-0000-000000000000", "rg", None

    def __init__(self) -> None:
        from azureml.data.azure_storage_datastore import AzureBlobDatastore

        self.datastore = AzureBlobDatastore(self, "workspaceblobstore", "container", "account")

    def get_default_datastore(self) -> Any:
        return self.datastore


class Registry:
    """Stands in for the workspace's dataset registry and blob uploads."""

    def __init__(self) -> None:
        self.uploads: list[tuple[Any, asl.SignMnistDataset]] = []
        self.versions: dict[str, list[Any]] = {}

    def get_by_name(self, workspace: Any, name: str, version: str = "latest") -> Any:
        from azureml.exceptions import UserErrorException

        if name not in self.versions:
            raise UserErrorException(f"Cannot find dataset registered with name '{name}'")
        return self.versions[name][-1]

    def upload_directory(
        self, src_dir: str, target: Any, pattern: Any = None, overwrite: bool = False, show_progress: bool = True
    ) -> Any:
        from azureml.data.dataset_factory import FileDatasetFactory

        assert overwrite is False
        self.uploads.append((target, asl.load_sign_mnist("train", Path(src_dir) / CSV_NAME)))
        return FileDatasetFactory.from_files(path=target, validate=False)

    def register(
        self,
        dataset: Any,
        workspace: Any,
        name: str,
        description: str | None = None,
        tags: dict | None = None,
        create_new_version: bool = False,
    ) -> Any:
        from azureml.data.abstract_dataset import _DatasetRegistration

        registered = copy.copy(dataset)
        version = len(self.versions.get(name, [])) + 1
        registered._registration = _DatasetRegistration(
            workspace, f"id-{name}-{version}", name=name, version=version, description=description, tags=tags
        )
        self.versions.setdefault(name, []).append(registered)
        return registered


def install_registry(monkeypatch: pytest.MonkeyPatch) -> Registry:
    """A :class:`Registry` in place of the workspace's dataset registry and blob uploads (no cache)."""
    import azureml.core
    from azureml.data.abstract_dataset import AbstractDataset
    from azureml.data.dataset_factory import FileDatasetFactory

    registry = Registry()
    monkeypatch.setenv("ASL_RECOG_CACHE", "0")
    monkeypatch.setattr(azureml.core.Dataset, "get_by_name", staticmethod(registry.get_by_name))
    monkeypatch.setattr(FileDatasetFactory, "upload_directory", staticmethod(registry.upload_directory))
    monkeypatch.setattr(AbstractDataset, "register", lambda self, *a, **k: registry.register(self, *a, **k))
    return registry


class FakeRun:
    """A child run: status, metrics, properties, artifacts."""

    def __init__(
        self,
        run_id: str,
        status: str,
        metrics: dict[str, Any],
        properties: dict[str, str] | None = None,
        files: dict[str, bytes] | None = None,
    ) -> None:
        self.id, self.status, self.metrics = run_id, status, metrics
        self.properties = properties or {}
        self.files = files or {}
        self.downloads: list[str] = []

    def get_status(self) -> str:
        return self.status

    def get_properties(self) -> dict[str, str]:
        return dict(self.properties)

    def get_metrics(self, name: str | None = None) -> dict[str, Any]:
        return {k: v for k, v in self.metrics.items() if name is None or k == name}

    def get_details(self) -> dict[str, str]:
        return {"startTimeUtc": "2026-01-01T10:00:00.000Z", "endTimeUtc": "2026-01-01T10:01:30.000Z"}

    def get_file_names(self) -> list[str]:
        return list(self.files)

    def download_file(self, name: str, output_file_path: str) -> None:
        self.downloads.append(name)
        Path(output_file_path).write_bytes(self.files[name])

    def download_files(self, prefix: str, output_directory: str, append_prefix: bool = True) -> None:
        self.downloads.append(prefix)
        for name, blob in self.files.items():
            if name.startswith(prefix):
                path = Path(output_directory) / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(blob)


class FakeParentRun(FakeRun):
    def __init__(self, children: list[FakeRun], hyperparameters: dict[str, str] | None = None) -> None:
        super().__init__("parent_1", "Completed", {})
        self.children, self.hyperparameters, self.waited = children, hyperparameters or {}, []

    def wait_for_completion(self, show_output: bool = False, raise_on_error: bool = True) -> dict:
        self.waited.append({"show_output": show_output, "raise_on_error": raise_on_error})
        return {"status": self.status}

    def get_children(self) -> list[FakeRun]:
        return self.children

    def get_hyperparameters(self) -> dict[str, str]:
        return self.hyperparameters


def fake_experiment(
    monkeypatch: pytest.MonkeyPatch,
    parent: FakeParentRun,
    on_submit: Any = None,
    refit_run: FakeParentRun | None = None,
) -> list[dict]:
    """Replace azureml.core.Experiment (whose constructor and submit call Azure); record the calls.

    The first submit returns ``parent`` (the search), a second one ``refit_run``.
    """
    calls: list[dict] = []

    class FakeExperiment:
        def __init__(self, workspace: Any, name: str) -> None:
            calls.append({"workspace": workspace, "name": name})

        def submit(self, config: Any, **kwargs: Any) -> FakeParentRun:
            calls.append({"config": config, **kwargs})
            if on_submit is not None:
                on_submit(config)
            submitted = sum("config" in c for c in calls)
            assert submitted == 1 or (submitted == 2 and refit_run is not None), "an unexpected job was submitted"
            return parent if submitted == 1 else refit_run  # type: ignore[return-value]

    import azureml.core

    monkeypatch.setattr(azureml.core, "Experiment", FakeExperiment)
    return calls


# -- SDK v2 ------------------------------------------------------------------------------------------


class FakeData:
    """ml_client.data: versions per name; create_or_update reads the folder as the upload would."""

    def __init__(self) -> None:
        self.assets: dict[str, list[Any]] = {}
        self.uploads: list[dict[str, Any]] = []

    def list(self, name: str) -> list[Any]:
        from azure.core.exceptions import ResourceNotFoundError

        if name not in self.assets:
            raise ResourceNotFoundError(f"data asset {name} not found")
        return list(self.assets[name])

    def create_or_update(self, data: Any) -> Any:
        folder = Path(data.path)
        self.uploads.append(
            {
                "name": data.name,
                "version": data.version,
                "type": data.type,
                "mltable": yaml.safe_load((folder / "MLTable").read_text()),
                "data": asl.load_sign_mnist("train", folder),
            }
        )
        self.assets.setdefault(data.name, []).append(data)
        return data


class FakeJobs:
    """ml_client.jobs: records the call sequence; children and artifacts are given by the test.

    The first job submitted is named ``parent-job-1`` (the search), a second one ``refit-job-1``.
    """

    NAMES = ("parent-job-1", "refit-job-1")

    def __init__(
        self, children: list[Any], artifacts: dict[str, dict[str, bytes]], statuses: dict[str, str] | None = None
    ) -> None:
        self.children, self.artifacts, self.calls = children, artifacts, []
        self.submissions: list[Any] = []
        self.staged_each: list[list[str]] = []
        self.statuses = statuses or {}  # a job's final status, when not "Completed"
        self.polls = 0
        self.tags: dict[str, str] = {}  # the parent job's tags

    @property
    def submitted(self) -> Any:
        """The search job (the first submitted)."""
        return self.submissions[0]

    @property
    def staged(self) -> list[str]:
        return self.staged_each[0]

    def create_or_update(self, job: Any) -> Any:
        self.calls.append(("create_or_update", type(job).__name__))
        self.submissions.append(job)
        code = getattr(getattr(job, "trial", None), "code", None) or getattr(job, "code", None)
        if code:  # the code folder is uploaded at submit, while it exists
            self.staged_each.append(sorted(p.name for p in Path(code).iterdir()))
        name = self.NAMES[len(self.submissions) - 1]
        return SimpleNamespace(name=name, studio_url=f"https://ml.azure.com/runs/{name}")

    def stream(self, name: str) -> None:
        self.calls.append(("stream", name))

    def get(self, name: str) -> Any:
        self.polls += 1
        self.calls.append(("get", name))
        status = "Running" if self.polls == 1 else self.statuses.get(name, "Completed")
        return SimpleNamespace(name=name, status=status, tags=self.tags)

    def list(self, parent_job_name: str | None = None) -> list[Any]:
        self.calls.append(("list", parent_job_name))
        return self.children

    def download(self, name: str, download_path: str = ".", output_name: str | None = None, all: bool = False) -> None:
        self.calls.append(("download", name))
        for relative, blob in self.artifacts.get(name, {}).items():
            path = Path(download_path) / "artifacts" / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(blob)


class FakeMLClient:
    def __init__(self, jobs: FakeJobs | None = None, tracking_uri: str = "") -> None:
        self.jobs = jobs or FakeJobs([], {})
        self.data = FakeData()
        self.workspace_name = "ws"
        self.workspaces = SimpleNamespace(get=lambda name: SimpleNamespace(mlflow_tracking_uri=tracking_uri))


def local_mlflow_store(folder: Path) -> tuple[str, Any]:
    """A real local MLflow tracking store in ``folder`` (Azure's is MLflow too) and its client."""
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow.tracking import MlflowClient

    uri = folder.as_uri()
    return uri, MlflowClient(tracking_uri=uri)


def logged_run(store: tuple[str, Any], metrics: dict[str, list[float]], params: dict[str, Any] | None = None) -> str:
    """Log a run as a trial would (one value per epoch) and return its id, which is the job's name."""
    _, client = store
    experiment = client.get_experiment_by_name("asl-recog") or client.get_experiment(
        client.create_experiment("asl-recog")
    )
    run_id = client.create_run(experiment.experiment_id).info.run_id
    for key, values in metrics.items():
        for step, value in enumerate(values, start=1):
            client.log_metric(run_id, key, value, step=step)
    for key, value in (params or {}).items():
        client.log_param(run_id, key, value)
    client.set_terminated(run_id)
    return run_id


def child(name: str, status: str, properties: dict[str, str] | None = None, **inputs: Any) -> Any:
    return SimpleNamespace(name=name, status=status, properties=properties or {}, inputs=inputs)


# -- SDK v2 deployments (AzureDeployer) ----------------------------------------------------------


class Poller:
    """An SDK v2 long-running operation that is already done."""

    def __init__(self, value: Any = None) -> None:
        self.value = value

    def result(self) -> Any:
        return self.value


class FakeDeployClient:
    """Records the calls AzureDeployer makes; snapshots what each call would upload."""

    def __init__(self, fail_deployment: bool = False) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.fail_deployment = fail_deployment
        self.online_endpoints = SimpleNamespace(
            begin_create_or_update=lambda e: self._record(
                "endpoint", {"name": e.name, "traffic": dict(e.traffic or {}), "auth_mode": e.auth_mode}
            ),
            get=lambda name: SimpleNamespace(scoring_uri=f"https://{name}.westeurope.inference.ml.azure.com/score"),
            get_keys=lambda name: SimpleNamespace(primary_key="pk", secondary_key="sk"),
            begin_delete=lambda name: self._record("delete", name),
        )
        self.online_deployments = SimpleNamespace(
            begin_create_or_update=self._deployment, get_logs=lambda name, endpoint_name, lines: f"{name} log {lines}"
        )

    def _record(self, kind: str, value: Any) -> Poller:
        self.calls.append((kind, value))
        return Poller()

    def _deployment(self, deployment: Any) -> Poller:
        code = Path(deployment.code_configuration.code)
        self.calls.append(
            (
                "deployment",
                {
                    "deployment": deployment,
                    "code_files": sorted(p.name for p in code.iterdir()),
                    "config": json.loads((code / "asl_scoring.json").read_text()),
                    "model_exists": Path(deployment.model.path).is_file(),
                    "model_name": Path(deployment.model.path).name,
                    "model_bytes": Path(deployment.model.path).read_bytes(),
                },
            )
        )
        if self.fail_deployment:
            raise RuntimeError("quota exceeded")
        return Poller()


__all__ = [
    "FakeData",
    "FakeDeployClient",
    "FakeJobs",
    "FakeMLClient",
    "FakeParentRun",
    "FakeRun",
    "FakeWorkspace",
    "Registry",
    "child",
    "fake_experiment",
    "install_registry",
    "local_mlflow_store",
    "logged_run",
    "Poller",
]
