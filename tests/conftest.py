"""Shared fixtures: the real Sign Language MNIST data, loaded once per session, and a real MLflow server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's start-up chatter out of test logs

from mlflow_server import MlflowServer, start_mlflow_server, stop_mlflow_server

import asl_recog as asl
from asl_recog.testing._data import stratified  # the conformance checks' own picking, for the same data


@pytest.fixture(scope="session")
def train_data() -> asl.SignMnistDataset:
    """The full real training file (27,455 images)."""
    return asl.load_sign_mnist("train")


@pytest.fixture(scope="session")
def test_data() -> asl.SignMnistDataset:
    """The full real test file (7,172 images). Only Comparator/ONNX/serving tests read it."""
    return asl.load_sign_mnist("test")


@pytest.fixture(scope="session")
def small_split(train_data: asl.SignMnistDataset) -> tuple[asl.SignMnistDataset, asl.SignMnistDataset]:
    """A small real (train, validation) pair from the grouped split: 100 and 30 images per letter."""
    fit_part, validation = asl.train_validation_split(train_data, seed=0)
    return stratified(fit_part, 100, 0), stratified(validation, 30, 1)


@pytest.fixture(scope="session")
def saved_model(tmp_path_factory: pytest.TempPathFactory, small_split: Any) -> Path:
    """A logistic regression on ``small_split``, saved as .aslskl: a quick real model for the CLI's tests."""
    from sklearn.linear_model import LogisticRegression

    from asl_recog.data._labels import labels_to_indices

    fit, _ = small_split
    estimator = LogisticRegression(max_iter=300).fit(fit.flat, labels_to_indices(fit.labels))
    return asl.SklearnModel(estimator, params={"C": 1.0}, info={"validation_score": 0.6}).save(
        tmp_path_factory.mktemp("cli") / "lr.aslskl"
    )


@pytest.fixture(scope="session")
def small_test(test_data: asl.SignMnistDataset) -> asl.SignMnistDataset:
    """20 real test images per letter (480 in all)."""
    return stratified(test_data, 20, 2)


@pytest.fixture(scope="session")
def serving_model_path(
    small_split: tuple[asl.SignMnistDataset, asl.SignMnistDataset], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A small real ONNX classifier (see tests/serving_model.py), shared by the serving and deploy tests."""
    from serving_model import train_onnx

    return train_onnx(small_split, tmp_path_factory.mktemp("serving_model"))


@pytest.fixture(scope="module")
def keyed_client(serving_model_path: Path) -> Any:
    """That classifier served in-process behind an API key (``serving_model.KEY``), 128 images and 4 MiB
    per request at most: the service the request-shape, auth, limit and malformed-input tests call."""
    from fastapi.testclient import TestClient
    from serving_model import KEY

    from asl_recog.serving import create_app

    return TestClient(create_app(serving_model_path, api_key=KEY, max_batch=128, max_body_bytes=4 * 1024 * 1024))


@pytest.fixture(scope="module")
def model(serving_model_path: Path) -> asl.OnnxModel:
    """That classifier loaded, as the serving, answer, V2, hardening and deploy tests compare against it."""
    return asl.OnnxModel.load(serving_model_path)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """A real ``mlflow server`` (SQLite store, proxied artifacts) for the session, stopped by its process id."""
    pytest.importorskip("mlflow", reason="the 'mlflow' extra is not installed (make test installs it)")
    server = start_mlflow_server(tmp_path_factory.mktemp("mlflow_server"))
    yield server
    stop_mlflow_server(server)
