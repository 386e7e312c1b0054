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
    >>> len(train), len(fit_part), len(validation)
    (27455, 21742, 5713)
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any

from asl_recog._version import __version__

# Optuna imports tqdm.auto for a progress bar this library never shows; in a notebook without
# ipywidgets that import warns "IProgress not found" once per kernel, about nothing asl_recog draws
# (its own progress is HTML: asl_recog.backends.local._progress). Only that message is silenced.
warnings.filterwarnings("ignore", message="IProgress not found")

# public name -> private module that defines it (loaded on first access, as Optuna does)
_LAZY: dict[str, str] = {
    # data
    "load_sign_mnist": "data._dataset",
    "SignMnistDataset": "data._dataset",
    "train_validation_split": "data._split",
    "LETTERS": "data._labels",
    "LABELS": "data._labels",
    "NUM_CLASSES": "data._labels",
    "labels_to_letters": "data._labels",
    "letters_to_labels": "data._labels",
    "image_to_array": "data._images",
    "image_to_array_and_hand": "data._images",
    "locate_hand": "data._images",
    "HandBox": "data._hands",
    # console
    "configure_logging": "_console",
    # errors
    "AslRecogError": "_errors",
    "DataFormatError": "_errors",
    "DataNotFoundError": "_errors",
    "ConfigurationError": "_errors",
    "MissingDependencyError": "_errors",
    "MissingExtraError": "_errors",
    "ModelFileError": "_errors",
    "TrialFailedError": "_errors",
    # models and training
    "Model": "models._base",
    "SklearnModel": "models._base",
    "KerasModel": "models._base",
    "OnnxModel": "models._onnx",
    "export_onnx": "models._export",
    "OnnxExportError": "models._export",
    "choose_unknown_threshold": "models._unknown",
    "UnknownThreshold": "models._unknown",
    "RunRecord": "models._record",
    "Comparator": "evaluation._compare",
    "ComparisonResult": "evaluation._comparison",
    "CorruptionSuite": "evaluation._robustness",
    "RobustnessResult": "evaluation._robustness",
    "PhotoResult": "evaluation._photos",
    "evaluate_photos": "evaluation._photos",
    "explain": "evaluation._explain",
    "Explanation": "evaluation._explain",
    "CORRUPTIONS": "evaluation._corruptions",
    "corrupt": "evaluation._corruptions",
    "Trainer": "routes._trainer",
    "TrainingResult": "results._result",
    "HyperDriveTrainer": "routes.hyperdrive._trainer",
    "AutoMLTrainer": "routes.automl._trainer",
    "fine_tune": "routes.hyperdrive._fine_tune",
    "FeaturizationConfig": "models._featurization",
    "HogFeaturizer": "models._hog",
    # search-space vocabulary (Azure HyperDrive's)
    "choice": "search._space",
    "randint": "search._space",
    "uniform": "search._space",
    "quniform": "search._space",
    "loguniform": "search._space",
    "qloguniform": "search._space",
    "normal": "search._space",
    "qnormal": "search._space",
    "lognormal": "search._space",
    "qlognormal": "search._space",
    "RandomParameterSampling": "search._space",
    "GridParameterSampling": "search._space",
    "BayesianParameterSampling": "search._space",
    "BanditPolicy": "search._space",
    "MedianStoppingPolicy": "search._space",
    "TruncationSelectionPolicy": "search._space",
    "NoTerminationPolicy": "search._space",
    "SuccessiveHalvingPolicy": "search._rungs",
    "HyperbandPolicy": "search._rungs",
    "PrimaryMetricGoal": "search._space",
    # backends
    "Backend": "backends._base",
    "LocalBackend": "backends.local._backend",
    "AzureBackend": "backends.azure.v2._backend",
    "AzureMLBackend": "backends.azure.v1._backend",
    # deployment
    "Deployer": "deploy._base",
    "Endpoint": "deploy._base",
    "LocalDeployer": "deploy._local",
    "LocalEndpoint": "deploy._local",
    "AzureDeployer": "deploy._azure_v2",
    "AzureMLDeployer": "deploy._azure_v1",
    "RemoteEndpoint": "deploy._client",
    "EndpointError": "deploy._client",
}

#: Sub-packages reachable as attributes without an import of their own (``asl.tracking.log_comparison``),
#: loaded on first use like the names above.
_SUBPACKAGES = ("tracking",)


__all__ = sorted([*_LAZY, *_SUBPACKAGES, "__version__"])


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        package = importlib.import_module(f"asl_recog.{name}")
        globals()[name] = package
        return package
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'asl_recog' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"asl_recog.{module}"), name)
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from asl_recog._console import configure_logging
    from asl_recog._errors import (
        AslRecogError,
        ConfigurationError,
        DataFormatError,
        DataNotFoundError,
        MissingDependencyError,
        MissingExtraError,
        ModelFileError,
        TrialFailedError,
    )
    from asl_recog.backends._base import Backend
    from asl_recog.backends.azure.v1._backend import AzureMLBackend
    from asl_recog.backends.azure.v2._backend import AzureBackend
    from asl_recog.backends.local._backend import LocalBackend
    from asl_recog.data._dataset import SignMnistDataset, load_sign_mnist
    from asl_recog.data._hands import HandBox
    from asl_recog.data._images import image_to_array, image_to_array_and_hand, locate_hand
    from asl_recog.data._labels import LABELS, LETTERS, NUM_CLASSES, labels_to_letters, letters_to_labels
    from asl_recog.data._split import train_validation_split
    from asl_recog.deploy._azure_v1 import AzureMLDeployer
    from asl_recog.deploy._azure_v2 import AzureDeployer
    from asl_recog.deploy._base import Deployer, Endpoint
    from asl_recog.deploy._client import EndpointError, RemoteEndpoint
    from asl_recog.deploy._local import LocalDeployer, LocalEndpoint
    from asl_recog.evaluation._compare import Comparator
    from asl_recog.evaluation._comparison import ComparisonResult
    from asl_recog.evaluation._corruptions import CORRUPTIONS, corrupt
    from asl_recog.evaluation._explain import Explanation, explain
    from asl_recog.evaluation._photos import PhotoResult, evaluate_photos
    from asl_recog.evaluation._robustness import CorruptionSuite, RobustnessResult
    from asl_recog.models._base import KerasModel, Model, SklearnModel
    from asl_recog.models._export import OnnxExportError, export_onnx
    from asl_recog.models._featurization import FeaturizationConfig
    from asl_recog.models._hog import HogFeaturizer
    from asl_recog.models._onnx import OnnxModel
    from asl_recog.models._record import RunRecord
    from asl_recog.models._unknown import UnknownThreshold, choose_unknown_threshold
    from asl_recog.results._result import TrainingResult
    from asl_recog.routes._trainer import Trainer
    from asl_recog.routes.automl._trainer import AutoMLTrainer
    from asl_recog.routes.hyperdrive._fine_tune import fine_tune
    from asl_recog.routes.hyperdrive._trainer import HyperDriveTrainer
    from asl_recog.search._rungs import HyperbandPolicy, SuccessiveHalvingPolicy
    from asl_recog.search._space import (
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
