"""Fixtures shared by the AzureBackend (SDK v2) tests: a real local MLflow store, the backend on a fake
MLClient (tests/azure_fakes.py), and small real ONNX and Keras models. Nothing here imports the SDK:
the test modules skip themselves without it, so these fixtures never run then."""

from __future__ import annotations

from typing import Any

import pytest
from azure_fakes import FakeMLClient, local_mlflow_store
from factories import azure_automl_onnx, small_keras_bytes

import asl_recog as asl

# -- fakes at the network seams (tests/azure_fakes.py) ------------------------------------------------


@pytest.fixture(scope="module")
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any]:
    """A real local MLflow tracking store (Azure's is MLflow too) and its client."""
    return local_mlflow_store(tmp_path_factory.mktemp("mlruns"))


@pytest.fixture(scope="module")
def backend() -> asl.AzureBackend:
    return asl.AzureBackend(FakeMLClient(), "cpu-cluster")


@pytest.fixture(scope="module")
def onnx_classifier(small_split: Any) -> tuple[bytes, Any]:
    """A real ONNX classifier shaped like Azure AutoML's: raw 0-255 pixels in, dataset labels out."""
    from sklearn.naive_bayes import GaussianNB

    return azure_automl_onnx(GaussianNB(), small_split[0])


@pytest.fixture(scope="module")
def keras_bytes(tmp_path_factory: pytest.TempPathFactory, small_split: Any) -> bytes:
    return small_keras_bytes(tmp_path_factory.mktemp("keras"), small_split[0])
