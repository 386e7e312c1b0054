"""Azure ML SDK v2 deployment: a managed online endpoint running the generated score.py over ONNX.

The SDK (``azure-ai-ml``) is imported only here, on first use. Everything the
service needs is built offline by :meth:`AzureDeployer.build`; only
:meth:`AzureDeployer.deploy` talks to Azure, through the injected ``MLClient``.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asl_recog import _azure
from asl_recog._errors import ConfigurationError
from asl_recog._version import __version__
from asl_recog.deploy._base import Deployer, Endpoint, endpoint_name
from asl_recog.deploy._scoring import conda_spec, onnx_file, write_scoring_dir
from asl_recog.models._base import Model

#: A CPU inference base image Microsoft maintains for managed online endpoints.
DEFAULT_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"


def _import_sdk() -> Any:
    return _azure.ml.entities


@dataclass
class AzureDeploymentSpec:
    """The SDK v2 objects of one deployment, built offline."""

    endpoint: Any
    deployment: Any
    model: Any
    environment: Any
    code_dir: Path


class AzureEndpoint(Endpoint):
    """A managed online endpoint (see :class:`AzureDeployer`).

    Its address and keys are read from the workspace on first use. Here a stand-in answers for
    ``ml_client.online_endpoints``; ``AzureDeployer.deploy`` returns the real thing.

    Example:
        >>> from types import SimpleNamespace
        >>> endpoints = SimpleNamespace(
        ...     get=lambda name: SimpleNamespace(scoring_uri=f"https://{name}.westeurope.inference.ml.azure.com/score"),
        ...     get_keys=lambda name: SimpleNamespace(primary_key="k1", secondary_key="k2"),
        ... )
        >>> endpoint = AzureEndpoint(SimpleNamespace(online_endpoints=endpoints), "asl-recog-demo", "blue")
        >>> endpoint.scoring_uri
        'https://asl-recog-demo.westeurope.inference.ml.azure.com/score'
        >>> endpoint.keys
        ['k1', 'k2']
    """

    def __init__(self, ml_client: Any, name: str, deployment_name: str) -> None:
        self.ml_client, self.name, self.deployment_name = ml_client, name, deployment_name
        self._uri: str | None = None
        self._keys: list[str] | None = None

    @property
    def scoring_uri(self) -> str:
        if self._uri is None:
            self._uri = str(self.ml_client.online_endpoints.get(name=self.name).scoring_uri)
        return self._uri

    @property
    def keys(self) -> list[str]:
        if self._keys is None:
            auth = self.ml_client.online_endpoints.get_keys(name=self.name)
            self._keys = [k for k in (getattr(auth, "primary_key", None), getattr(auth, "secondary_key", None)) if k]
        return self._keys

    def logs(self, lines: int = 200) -> str:
        return str(
            self.ml_client.online_deployments.get_logs(name=self.deployment_name, endpoint_name=self.name, lines=lines)
        )

    def delete(self) -> None:
        self._close_client()
        if self.name is not None:
            self.ml_client.online_endpoints.begin_delete(name=self.name).result()  # deletes its deployments too
            self.name = None  # type: ignore[assignment]


class AzureDeployer(Deployer):
    """Deploys to an Azure ML managed online endpoint (SDK v2, ``pip install 'asl-recog[azure]'``).

    Creates a ``ManagedOnlineEndpoint`` (key auth), a ``ManagedOnlineDeployment``
    with the ONNX model, the generated ``score.py`` and a small environment
    (onnxruntime + numpy), then routes all traffic to it.

    Args:
        ml_client: an ``azure.ai.ml.MLClient`` (or anything with its ``online_endpoints``
            and ``online_deployments`` operations).
        instance_type: the VM size, e.g. ``"Standard_DS2_v2"``.
        instance_count: how many instances.
        deployment_name: the deployment's name inside the endpoint.
        image: the base image of the environment.
        max_batch: most images per request accepted by score.py.
        request_timeout_ms: Azure's per-request timeout.
        run_dir: where to write the model and scoring folder; None uses a temporary folder.
        cleanup_on_failure: delete the endpoint if its deployment fails.
        tracking_uri: the MLflow server of a registered model (``models:/NAME/VERSION`` or
            ``models:/NAME@ALIAS``); None reads ``$MLFLOW_TRACKING_URI``. Such a model is downloaded
            here first (an alias: the version it points to at ``deploy``) and deployed as a file,
            ``NAME-vVERSION.onnx``: the endpoint does not read the registry.

    ``AzureDeployer.from_config()`` signs in (config.json or ``AZUREML_ARM_*``), and
    ``deployer.deploy(result.best_model, name="asl-recog-prod")`` creates the endpoint. What it
    sends is built offline by :meth:`build`, so it can be read without a workspace:

    Example:
        >>> from types import SimpleNamespace
        >>> deployer = AzureDeployer(SimpleNamespace(workspace_name="ws"), instance_type="Standard_DS3_v2")
        >>> deployer
        AzureDeployer(workspace='ws', instance_type='Standard_DS3_v2', instance_count=1)
        >>> model = OnnxModel.load("runs/best.onnx")
        >>> spec = deployer.build(Path("runs/best.onnx"), model, "asl-recog-demo", Path("out"))
        >>> spec.endpoint.auth_mode, spec.deployment.instance_type, spec.deployment.code_configuration.scoring_script
        ('key', 'Standard_DS3_v2', 'score.py')
        >>> sorted(path.name for path in spec.code_dir.iterdir())
        ['asl_requests.py', 'asl_scoring.json', 'score.py']
    """

    target = "azure"
    connection = "ml_client"

    def __init__(
        self,
        ml_client: Any,
        *,
        instance_type: str = "Standard_DS2_v2",
        instance_count: int = 1,
        deployment_name: str = "blue",
        image: str = DEFAULT_IMAGE,
        max_batch: int = 1024,
        request_timeout_ms: int = 10_000,
        run_dir: str | os.PathLike[str] | None = None,
        cleanup_on_failure: bool = True,
        tracking_uri: str | None = None,
    ) -> None:
        if ml_client is None:
            raise ConfigurationError("AzureDeployer needs an MLClient; use AzureDeployer.from_config() to sign in")
        if instance_count < 1:
            raise ConfigurationError(f"instance_count must be at least 1, got {instance_count}")
        self.ml_client, self.instance_type, self.instance_count = ml_client, instance_type, instance_count
        self.deployment_name = endpoint_name(deployment_name)
        self.image, self.max_batch, self.request_timeout_ms = image, max_batch, request_timeout_ms
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.cleanup_on_failure, self.tracking_uri = cleanup_on_failure, tracking_uri

    @classmethod
    def from_config(
        cls, path: str | os.PathLike[str] | None = None, credential: Any = None, **options: Any
    ) -> AzureDeployer:
        """Sign in as :meth:`AzureBackend.from_config` does (config.json or ``AZUREML_ARM_*``) and build a deployer."""
        return cls(_azure.connect_v2(path, credential), **options)

    def build(self, onnx_path: Path, onnx_model: Any, name: str, folder: Path) -> AzureDeploymentSpec:
        """Build the endpoint, deployment, model and environment objects (no Azure call)."""
        entities = _import_sdk()
        code_dir = write_scoring_dir(onnx_model, folder / "code", model_file=onnx_path.name, max_batch=self.max_batch)
        tags = {"asl_recog_version": __version__, "source_kind": str(onnx_model.metadata.get("source_kind"))}
        model = entities.Model(
            path=str(onnx_path),
            type=_azure.ml_constants.AssetTypes.CUSTOM_MODEL,
            name=f"{name}-model",
            description="asl_recog sign classifier (ONNX)",
            tags=tags,
        )
        environment = entities.Environment(
            name="asl-recog-scoring",
            image=self.image,
            conda_file=conda_spec(),
            description="onnxruntime + numpy for the asl_recog score.py",
        )
        endpoint = entities.ManagedOnlineEndpoint(
            name=name, auth_mode="key", tags=tags, description="asl_recog fingerspelling recognition"
        )
        deployment = entities.ManagedOnlineDeployment(
            name=self.deployment_name,
            endpoint_name=name,
            model=model,
            environment=environment,
            code_configuration=entities.CodeConfiguration(code=str(code_dir), scoring_script="score.py"),
            instance_type=self.instance_type,
            instance_count=self.instance_count,
            request_settings=entities.OnlineRequestSettings(request_timeout_ms=self.request_timeout_ms),
        )
        return AzureDeploymentSpec(endpoint, deployment, model, environment, code_dir)

    def deploy(self, model: Model | str | os.PathLike[str], name: str | None = None) -> AzureEndpoint:
        name = endpoint_name(name)
        with tempfile.TemporaryDirectory(prefix=f"{name}-") as tmp:
            # The SDK uploads the model and code folder during the create calls, so a temporary folder suffices.
            folder = self.run_dir / name if self.run_dir is not None else Path(tmp)
            (folder / "model").mkdir(parents=True, exist_ok=True)
            onnx_path, onnx_model = onnx_file(model, folder / "model", tracking_uri=self.tracking_uri)
            spec = self.build(onnx_path, onnx_model, name, folder)
            endpoints, deployments = self.ml_client.online_endpoints, self.ml_client.online_deployments
            endpoints.begin_create_or_update(spec.endpoint).result()
            try:
                deployments.begin_create_or_update(spec.deployment).result()
                spec.endpoint.traffic = {self.deployment_name: 100}
                endpoints.begin_create_or_update(spec.endpoint).result()
            except Exception:
                if self.cleanup_on_failure:
                    endpoints.begin_delete(name=name).result()
                raise
        return AzureEndpoint(self.ml_client, name, self.deployment_name)

    def __repr__(self) -> str:
        return (
            f"AzureDeployer(workspace={getattr(self.ml_client, 'workspace_name', None)!r}, "
            f"instance_type={self.instance_type!r}, instance_count={self.instance_count})"
        )
