"""asl_recog: static American Sign Language fingerspelling recognition.

Load Sign Language MNIST, train with an AutoML search or a tuned Keras CNN
(locally, or on Azure ML by changing the backend), compare models honestly on
the held-out test set, export the winner to ONNX and serve it.

Heavy modules (TensorFlow, Optuna, onnxruntime, the Azure SDKs) load lazily:
``import asl_recog`` stays fast and imports none of them.

Example:
    >>> import asl_recog as asl
    >>> train = asl.load_sign_mnist("train")
    >>> fit_part, validation = asl.train_validation_split(train)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> private module that defines it (loaded on first access, as Optuna does)
_LAZY: dict[str, str] = {
    # data
    "load_sign_mnist": "_data",
    "SignMnistDataset": "_data",
    "train_validation_split": "_split",
    "LETTERS": "_labels",
    "LABELS": "_labels",
    "NUM_CLASSES": "_labels",
    "labels_to_letters": "_labels",
    "letters_to_labels": "_labels",
    "image_to_array": "_images",
    # console
    "configure_logging": "_console",
    # errors
    "AslRecogError": "_errors",
    "DataFormatError": "_errors",
    "DataNotFoundError": "_errors",
    "ConfigurationError": "_errors",
    "MissingExtraError": "_errors",
    "ModelFileError": "_errors",
    "TrialFailedError": "_errors",
    # models and training
    "Model": "_model",
    "SklearnModel": "_model",
    "KerasModel": "_model",
    "OnnxModel": "_onnx_model",
    "export_onnx": "_onnx_export",
    "OnnxExportError": "_onnx_export",
    "Comparator": "_compare",
    "ComparisonResult": "_compare",
    "Trainer": "_trainer",
    "TrainingResult": "_trainer",
    "HyperDriveTrainer": "_hyperdrive",
    "AutoMLTrainer": "_automl",
    # search-space vocabulary (Azure HyperDrive's)
    "choice": "_space",
    "randint": "_space",
    "uniform": "_space",
    "quniform": "_space",
    "loguniform": "_space",
    "qloguniform": "_space",
    "normal": "_space",
    "qnormal": "_space",
    "lognormal": "_space",
    "qlognormal": "_space",
    "RandomParameterSampling": "_space",
    "GridParameterSampling": "_space",
    "BayesianParameterSampling": "_space",
    "BanditPolicy": "_space",
    "MedianStoppingPolicy": "_space",
    "TruncationSelectionPolicy": "_space",
    "NoTerminationPolicy": "_space",
    "PrimaryMetricGoal": "_space",
    # backends
    "Backend": "_backends._base",
    "LocalBackend": "_backends._local",
    "AzureBackend": "_backends._azure",
    "AzureMLBackend": "_backends._azureml",
    # deployment
    "Deployer": "_deploy",
    "Endpoint": "_deploy",
    "LocalDeployer": "_deploy_local",
    "LocalEndpoint": "_deploy_local",
    "AzureDeployer": "_deploy_azure",
    "AzureMLDeployer": "_deploy_azureml",
    "RemoteEndpoint": "_remote",
    "EndpointError": "_remote",
}

__all__ = sorted([*_LAZY, "__version__"])


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'asl_recog' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"asl_recog.{module}"), name)
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from asl_recog._automl import AutoMLTrainer
    from asl_recog._backends._azure import AzureBackend
    from asl_recog._backends._azureml import AzureMLBackend
    from asl_recog._backends._base import Backend
    from asl_recog._backends._local import LocalBackend
    from asl_recog._compare import Comparator, ComparisonResult
    from asl_recog._console import configure_logging
    from asl_recog._data import SignMnistDataset, load_sign_mnist
    from asl_recog._deploy import Deployer, Endpoint
    from asl_recog._deploy_azure import AzureDeployer
    from asl_recog._deploy_azureml import AzureMLDeployer
    from asl_recog._deploy_local import LocalDeployer, LocalEndpoint
    from asl_recog._errors import (
        AslRecogError,
        ConfigurationError,
        DataFormatError,
        DataNotFoundError,
        MissingExtraError,
        ModelFileError,
        TrialFailedError,
    )
    from asl_recog._hyperdrive import HyperDriveTrainer
    from asl_recog._images import image_to_array
    from asl_recog._labels import LABELS, LETTERS, NUM_CLASSES, labels_to_letters, letters_to_labels
    from asl_recog._model import KerasModel, Model, SklearnModel
    from asl_recog._onnx_export import OnnxExportError, export_onnx
    from asl_recog._onnx_model import OnnxModel
    from asl_recog._space import (
        BanditPolicy,
        BayesianParameterSampling,
        GridParameterSampling,
        MedianStoppingPolicy,
        NoTerminationPolicy,
        PrimaryMetricGoal,
        RandomParameterSampling,
        TruncationSelectionPolicy,
        choice,
        lognormal,
        loguniform,
        normal,
        qlognormal,
        qloguniform,
        qnormal,
        quniform,
        randint,
        uniform,
    )
    from asl_recog._remote import EndpointError, RemoteEndpoint
    from asl_recog._split import train_validation_split
    from asl_recog._trainer import Trainer, TrainingResult
