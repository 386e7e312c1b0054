"""Azure ML SDK v1 deployment: ``Model.register`` + ``Model.deploy`` to Azure Container Instances.

Kept for projects still on ``azureml-core`` (the seed deployed this way).
Microsoft ends support for SDK v1 on 2026-06-30, so the first use warns once
and points to :class:`AzureDeployer`. The SDK is imported only here, lazily.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asl_recog import _azure
from asl_recog._deprecation import warn_once
from asl_recog._errors import ConfigurationError, MissingExtraError
from asl_recog._version import __version__
from asl_recog.deploy._base import Deployer, Endpoint, endpoint_name
from asl_recog.deploy._scoring import SCORE_SCRIPT, SCORING_PIP, onnx_file, write_scoring_dir
from asl_recog.models._base import Model

logger = logging.getLogger("asl_recog")
DEPRECATION = (
    "AzureMLDeployer uses the Azure ML SDK v1 (azureml-core), whose support Microsoft ended on "
    "2026-06-30, and Azure Container Instances deployments. Use asl_recog.AzureDeployer (SDK v2 managed "
    "online endpoints, pip install 'asl-recog[azure]') instead; deploy() is called the same way."
)


def _warn_deprecated() -> None:
    warn_once("AzureMLDeployer", DEPRECATION, stacklevel=3)


def _import_sdk() -> Any:
    try:
        import azureml.core
    except ImportError as exc:
        raise MissingExtraError("azureml-core", "azureml", "Deploying with the Azure ML SDK v1") from exc
    return azureml.core


@dataclass
class AciDeploymentSpec:
    """The SDK v1 objects of one deployment, built offline."""

    inference_config: Any
    deployment_config: Any
    environment: Any
    code_dir: Path


class AzureMLEndpoint(Endpoint):
    """An ACI web service deployed with SDK v1 (see :class:`AzureMLDeployer`).

    It reads its address and keys from the ``azureml.core.Webservice`` it wraps; here a stand-in.

    Example:
        >>> from types import SimpleNamespace
        >>> service = SimpleNamespace(scoring_uri="http://asl-recog-aci.westeurope.azurecontainer.io/score",
        ...                           get_keys=lambda: ("k1", "k2"))
        >>> endpoint = AzureMLEndpoint(service, "asl-recog-aci")
        >>> endpoint.scoring_uri
        'http://asl-recog-aci.westeurope.azurecontainer.io/score'
        >>> endpoint.keys
        ['k1', 'k2']
    """

    def __init__(self, service: Any, name: str) -> None:
        self.service, self.name = service, name

    @property
    def scoring_uri(self) -> str:
        return str(self.service.scoring_uri)

    @property
    def keys(self) -> list[str]:
        return [k for k in self.service.get_keys() if k]

    def logs(self, lines: int = 200) -> str:
        return str(self.service.get_logs(num_lines=lines))

    def delete(self) -> None:
        self._close_client()
        if self.service is not None:
            self.service.delete()
            self.service = None


class AzureMLDeployer(Deployer):
    """Deploys to Azure Container Instances with SDK v1 (``pip install 'asl-recog[azureml]'``; deprecated).

    Registers the ONNX model (``Model.register``) and deploys it (``Model.deploy``)
    with an ``InferenceConfig`` running the generated ``score.py`` and an
    ``AciWebservice.deploy_configuration``.

    Args:
        workspace: an ``azureml.core.Workspace``.
        cpu_cores: ACI CPU cores.
        memory_gb: ACI memory.
        auth_enabled: key authentication on the service.
        max_batch: most images per request accepted by score.py.
        run_dir: where to write the model and scoring folder; None uses a temporary folder.
        model_register: replaces ``azureml.core.Model.register`` (same arguments); for tests and wrappers.
        model_deploy: replaces ``azureml.core.Model.deploy`` (same arguments).
        tracking_uri: the MLflow server of a registered model (``models:/NAME/VERSION`` or
            ``models:/NAME@ALIAS``); None reads ``$MLFLOW_TRACKING_URI``. Such a model is downloaded
            here first (an alias: the version it points to at ``deploy``), then registered in the
            workspace and deployed as a file, ``NAME-vVERSION.onnx``.

    ``AzureMLDeployer.from_config()`` signs in (config.json or ``AZUREML_ARM_*``), and
    ``deployer.deploy("runs/best.onnx", name="asl-recog-aci")`` registers and deploys. What it sends
    is built offline by :meth:`build`, so it can be read without a workspace:

    Example:
        >>> from types import SimpleNamespace
        >>> deployer = AzureMLDeployer(SimpleNamespace(name="ws"), cpu_cores=1, memory_gb=2)
        >>> spec = deployer.build(OnnxModel.load("runs/best.onnx"), "best.onnx", "asl-recog-aci", Path("out"))
        >>> spec.inference_config.entry_script, spec.deployment_config.memory_gb
        ('score.py', 2)
    """

    target = "azureml"
    connection = "workspace"

    def __init__(
        self,
        workspace: Any,
        *,
        cpu_cores: float = 1,
        memory_gb: float = 1,
        auth_enabled: bool = True,
        max_batch: int = 1024,
        run_dir: str | os.PathLike[str] | None = None,
        model_register: Callable[..., Any] | None = None,
        model_deploy: Callable[..., Any] | None = None,
        show_output: bool = False,
        tracking_uri: str | None = None,
    ) -> None:
        _import_sdk()
        _warn_deprecated()
        if workspace is None:
            raise ConfigurationError("AzureMLDeployer needs a Workspace; use AzureMLDeployer.from_config()")
        if cpu_cores <= 0 or memory_gb <= 0:
            raise ConfigurationError("cpu_cores and memory_gb must be positive")
        self.workspace, self.cpu_cores, self.memory_gb = workspace, cpu_cores, memory_gb
        self.auth_enabled = auth_enabled
        self.max_batch, self.show_output = max_batch, show_output
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self._register, self._deploy = model_register, model_deploy
        self.tracking_uri = tracking_uri

    @classmethod
    def from_config(
        cls, path: str | os.PathLike[str] | None = None, auth: Any = None, **options: Any
    ) -> AzureMLDeployer:
        """Connect with ``Workspace.from_config(path)`` (or the ``AZUREML_ARM_*`` variables)."""
        _import_sdk()  # names this deployer's extra when azureml-core is missing
        return cls(_azure.connect_v1(path, auth), **options)

    def build(self, onnx_model: Any, model_file: str, name: str, folder: Path) -> AciDeploymentSpec:
        """Build the InferenceConfig, ACI configuration and environment (no Azure call)."""
        core = _import_sdk()
        code_dir = write_scoring_dir(onnx_model, folder / "code", model_file=model_file, max_batch=self.max_batch)
        environment = core.Environment(name="asl-recog-scoring")
        environment.python.conda_dependencies = _azure.aml_core_conda_dependencies.CondaDependencies.create(
            python_version="3.11", pip_packages=[*SCORING_PIP, "azureml-defaults"], pin_sdk_version=False
        )
        inference_config = _azure.aml_core_model.InferenceConfig(
            entry_script=SCORE_SCRIPT, source_directory=str(code_dir), environment=environment
        )
        deployment_config = _azure.aml_core_webservice.AciWebservice.deploy_configuration(
            cpu_cores=self.cpu_cores,
            memory_gb=self.memory_gb,
            auth_enabled=self.auth_enabled,
            tags={"asl_recog_version": __version__},
            description="asl_recog fingerspelling recognition",
        )
        return AciDeploymentSpec(inference_config, deployment_config, environment, code_dir)

    def deploy(self, model: Model | str | os.PathLike[str], name: str | None = None) -> AzureMLEndpoint:
        name = endpoint_name(name)
        from azureml.core.model import Model as AzureModel

        register = self._register or AzureModel.register
        deploy = self._deploy or AzureModel.deploy
        with tempfile.TemporaryDirectory(prefix=f"{name}-") as tmp:
            folder = self.run_dir / name if self.run_dir is not None else Path(tmp)
            (folder / "model").mkdir(parents=True, exist_ok=True)
            onnx_path, onnx_model = onnx_file(model, folder / "model", tracking_uri=self.tracking_uri)
            spec = self.build(onnx_model, onnx_path.name, name, folder)
            registered = register(
                workspace=self.workspace,
                model_path=str(onnx_path),
                model_name=name,
                tags={"asl_recog_version": __version__},
                description="asl_recog sign classifier (ONNX)",
            )
            service = deploy(
                workspace=self.workspace,
                name=name,
                models=[registered],
                inference_config=spec.inference_config,
                deployment_config=spec.deployment_config,
                overwrite=True,
            )
            service.wait_for_deployment(show_output=self.show_output)
        return AzureMLEndpoint(service, name)

    def __repr__(self) -> str:
        return (
            f"AzureMLDeployer(workspace={getattr(self.workspace, 'name', self.workspace)!r}, "
            f"cpu_cores={self.cpu_cores}, memory_gb={self.memory_gb})"
        )
