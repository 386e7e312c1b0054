"""Fixtures shared by the AzureMLBackend (SDK v1) tests: the fake dataset registry and workspace
(tests/azure_fakes.py), the backend on them, and a small real Keras network. Nothing here imports
the SDK: the test modules skip themselves without it, so these fixtures never run then."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from azure_fakes import FakeWorkspace, Registry, install_registry
from factories import small_keras_bytes

import asl_recog as asl

# -- fakes at the network seams (tests/azure_fakes.py) ------------------------------------------------


@pytest.fixture()
def registry(monkeypatch: pytest.MonkeyPatch) -> Registry:
    return install_registry(monkeypatch)


# -- fixtures ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workspace() -> FakeWorkspace:
    return FakeWorkspace()


@pytest.fixture(scope="module")
def backend(workspace: FakeWorkspace) -> asl.AzureMLBackend:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return asl.AzureMLBackend(workspace, "cpu-cluster")


@pytest.fixture(scope="module")
def keras_bytes(tmp_path_factory: pytest.TempPathFactory, small_split: Any) -> bytes:
    """A real small Keras network trained one epoch, saved as .keras (what train_cnn leaves in outputs/)."""
    return small_keras_bytes(tmp_path_factory.mktemp("keras"), small_split[0])
