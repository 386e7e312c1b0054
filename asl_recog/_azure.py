"""Azure ML as the backends and the deployers both reach it: the SDKs, the workspace, signing in.

- The SDK modules, each named once as a :class:`~asl_recog._imports.LazyModule` and imported on
  first use, so ``import asl_recog`` loads no Azure SDK and a missing extra is reported the same way
  wherever it is first needed. Callers read them from here (``_azure.ml.Input``,
  ``_azure.aml_core.Workspace``), so a test that patches the real module is seen everywhere.
- Workspace discovery: a ``config.json`` found as both SDKs look for it, or the ``AZUREML_ARM_*``
  variables Azure ML sets inside its jobs.
- :func:`connect_v1` and :func:`connect_v2`: a signed-in ``Workspace`` (SDK v1) or ``MLClient`` (SDK v2).

It sits beside the sub-packages rather than in ``backends/`` because the deployers sign in too, and
importing a backend (or ``AzureBackend`` itself) only to sign in tied deployment to training.

Example:
    >>> from asl_recog import _azure
    >>> _azure.WORKSPACE_ENV[0], _azure.ml.__name__  # naming a module imports nothing
    ('AZUREML_ARM_SUBSCRIPTION', 'azure.ai.ml')
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Any

from asl_recog._imports import LazyModule

_V2 = partial(
    LazyModule, package="azure-ai-ml", extra="azure", purpose="The Azure ML SDK v2 (AzureBackend, AzureDeployer)"
)
_V1 = partial(
    LazyModule, package="azureml-core", extra="azureml", purpose="The Azure ML SDK v1 (AzureMLBackend, AzureMLDeployer)"
)
_MLFLOW = partial(LazyModule, package="mlflow-skinny", extra="azure", purpose="Reading Azure ML v2 job metrics")

# SDK v2 (azure-ai-ml) and the Azure core libraries it stands on
ml = _V2("azure.ai.ml")
ml_constants = _V2("azure.ai.ml.constants")
ml_entities = _V2("azure.ai.ml.entities")
az_core_exceptions = LazyModule(
    "azure.core.exceptions", package="azure-core", extra="azure", purpose="The Azure ML SDK v2 (AzureBackend)"
)
az_identity = LazyModule("azure.identity", package="azure-identity", extra="azure", purpose="Signing in to Azure ML")
mlflow_exceptions = _MLFLOW("mlflow.exceptions")
mlflow_tracking = _MLFLOW("mlflow.tracking")

# SDK v1 (azureml-core and the training clients)
aml_core = _V1("azureml.core")
aml_core_conda_dependencies = _V1("azureml.core.conda_dependencies")
aml_core_model = _V1("azureml.core.model")
aml_core_webservice = _V1("azureml.core.webservice")
aml_data_dataset_factory = _V1("azureml.data.dataset_factory")
aml_exceptions = _V1("azureml.exceptions")
aml_train_automl = LazyModule(
    "azureml.train.automl", package="azureml-train-automl-client", extra="azureml", purpose="Azure AutoML with SDK v1"
)
aml_train_hyperdrive = LazyModule(
    "azureml.train.hyperdrive", package="azureml-train-core", extra="azureml", purpose="HyperDrive with SDK v1"
)

# -- the workspace ---------------------------------------------------------------------------------

#: The variables Azure ML sets inside jobs, naming the workspace (``backend="auto"`` accepts them too).
WORKSPACE_ENV = ("AZUREML_ARM_SUBSCRIPTION", "AZUREML_ARM_RESOURCEGROUP", "AZUREML_ARM_WORKSPACE_NAME")


def workspace_from_env() -> tuple[str, str, str] | None:
    """(subscription, resource group, workspace) from the AZUREML_ARM_* variables, when all are set."""
    values = tuple(os.environ.get(name, "") for name in WORKSPACE_ENV)
    return values if all(values) else None  # type: ignore[return-value]


def find_workspace_config(start: Path | None = None) -> Path | None:
    """Find an Azure ML ``config.json`` the way both SDKs do: here, ``.azureml/``, then parents."""
    folder = (start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        for name in ("config.json", ".azureml/config.json", "aml_config/config.json"):
            path = candidate / name
            if path.is_file():
                return path
    return None


def connect_v2(path: str | os.PathLike[str] | None = None, credential: Any = None) -> Any:
    """An ``azure.ai.ml.MLClient`` for the workspace of ``path`` (a config.json), else of ``AZUREML_ARM_*``.

    With ``path=None`` and the variables unset, ``MLClient.from_config`` looks for a config.json
    itself. ``credential`` defaults to ``DefaultAzureCredential()`` (``az login``, a managed identity...).
    """
    if credential is None:
        credential = az_identity.DefaultAzureCredential()
    env = workspace_from_env() if path is None else None
    if env is not None:  # inside an Azure ML job, or configured through AZUREML_ARM_* variables
        return ml.MLClient(credential, subscription_id=env[0], resource_group_name=env[1], workspace_name=env[2])
    return ml.MLClient.from_config(credential, path=None if path is None else str(path))


def connect_v1(path: str | os.PathLike[str] | None = None, auth: Any = None) -> Any:
    """An ``azureml.core.Workspace`` for ``path`` (a config.json), else for the ``AZUREML_ARM_*`` variables.

    ``auth`` is any azureml-core authentication (e.g. ``ServicePrincipalAuthentication`` for CI);
    None signs in interactively.
    """
    env = workspace_from_env() if path is None else None
    if env is not None:  # inside an Azure ML job, or configured through AZUREML_ARM_* variables
        return aml_core.Workspace.get(name=env[2], auth=auth, subscription_id=env[0], resource_group=env[1])
    return aml_core.Workspace.from_config(path=None if path is None else str(path), auth=auth)


__all__ = [
    "WORKSPACE_ENV",
    "aml_core",
    "aml_core_conda_dependencies",
    "aml_core_model",
    "aml_core_webservice",
    "aml_data_dataset_factory",
    "aml_exceptions",
    "aml_train_automl",
    "aml_train_hyperdrive",
    "az_core_exceptions",
    "az_identity",
    "connect_v1",
    "connect_v2",
    "find_workspace_config",
    "ml",
    "ml_constants",
    "ml_entities",
    "mlflow_exceptions",
    "mlflow_tracking",
    "workspace_from_env",
]
