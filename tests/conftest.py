"""Shared fixtures: the real Sign Language MNIST data, loaded once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's start-up chatter out of test logs

from mlflow_server import MlflowServer, start_mlflow_server, stop_mlflow_server

import asl_recog as asl


@pytest.fixture(scope="session")
def train_data() -> asl.SignMnistDataset:
    """The full real training file (27,455 images)."""
    return asl.load_sign_mnist("train")


@pytest.fixture(scope="session")
def test_data() -> asl.SignMnistDataset:
    """The full real test file (7,172 images). Only Comparator/ONNX/serving tests read it."""
    return asl.load_sign_mnist("test")


def _stratified(data: asl.SignMnistDataset, per_class: int, seed: int) -> asl.SignMnistDataset:
    rng = np.random.default_rng(seed)
    picks = [
        rng.choice(np.flatnonzero(data.labels == label), per_class, replace=False) for label in np.unique(data.labels)
    ]
    return data[np.sort(np.concatenate(picks))]


@pytest.fixture(scope="session")
def small_split(train_data: asl.SignMnistDataset) -> tuple[asl.SignMnistDataset, asl.SignMnistDataset]:
    """A small real (train, validation) pair from the grouped split: 100 and 30 images per letter."""
    fit_part, validation = asl.train_validation_split(train_data, seed=0)
    return _stratified(fit_part, 100, 0), _stratified(validation, 30, 1)


@pytest.fixture(scope="session")
def small_test(test_data: asl.SignMnistDataset) -> asl.SignMnistDataset:
    """20 real test images per letter (480 in all)."""
    return _stratified(test_data, 20, 2)


@pytest.fixture(scope="session")
def serving_model_path(
    small_split: tuple[asl.SignMnistDataset, asl.SignMnistDataset], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A small real ONNX classifier (see tests/serving_model.py), shared by the serving and deploy tests."""
    from serving_model import train_onnx

    return train_onnx(small_split, tmp_path_factory.mktemp("serving_model"))


@pytest.fixture(scope="module")
def model(serving_model_path: Path) -> asl.OnnxModel:
    """That classifier loaded, as the serving, answer, V2, hardening and deploy tests compare against it."""
    return asl.OnnxModel.load(serving_model_path)


_TEST_FILE_OPENS: list[str] = []


def _record_test_file_opens(event: str, args: tuple) -> None:
    # An audit hook sees every open() in this process, however deep in a library it happens.
    if event == "open" and args and "sign_mnist_test" in str(args[0]):
        _TEST_FILE_OPENS.append(str(args[0]))


@pytest.fixture(scope="session")
def test_file_opens() -> list[str]:
    """Paths of the test file opened in this process since the list was last cleared (audit hook)."""
    import sys

    sys.addaudithook(_record_test_file_opens)  # hooks cannot be removed; this one only appends
    return _TEST_FILE_OPENS


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """A real ``mlflow server`` (SQLite store, proxied artifacts) for the session, stopped by its process id."""
    pytest.importorskip("mlflow", reason="the 'mlflow' extra is not installed (make test installs it)")
    server = start_mlflow_server(tmp_path_factory.mktemp("mlflow_server"))
    yield server
    stop_mlflow_server(server)
