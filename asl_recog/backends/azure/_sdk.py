"""The Azure SDKs and MLflow, each named once and imported on first use (see :mod:`asl_recog._imports`).

Every Azure module reads them from here (``sdk.ml.Input``, ``sdk.aml_core.Workspace``), so a missing
extra is reported the same way wherever it is first needed.
"""

from __future__ import annotations

from functools import partial

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

__all__ = [
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
    "ml",
    "ml_constants",
    "ml_entities",
    "mlflow_exceptions",
    "mlflow_tracking",
]
