"""Choosing a backend: "auto" finds a workspace config (or the AZUREML_ARM_* variables) and picks
the SDK v2 backend, else runs locally; a missing extra names its pip command; the SDKs stay lazy."""

from __future__ import annotations

import inspect
import json
import logging
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

import asl_recog as asl
from asl_recog.backends import find_workspace_config, resolve_backend

WORKSPACE = {
    "subscription_id": "00000000-0000-0000-0000-000000000000",
    "resource_group": "asl-rg",
    "workspace_name": "asl-ws",
}
ENV = ("AZUREML_ARM_SUBSCRIPTION", "AZUREML_ARM_RESOURCEGROUP", "AZUREML_ARM_WORKSPACE_NAME")


@pytest.fixture()
def empty_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with no workspace config above it and no Azure variables."""
    monkeypatch.chdir(tmp_path)
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    if find_workspace_config() is not None:
        pytest.skip(f"a config.json above {tmp_path} ({find_workspace_config()}) would be found")
    return tmp_path


def test_auto_without_a_workspace_runs_locally(empty_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="asl_recog"):
        backend = resolve_backend("auto")
    assert type(backend).__name__ == "LocalBackend"
    assert "no Azure ML workspace config found; running locally" in caplog.text


@pytest.mark.azure
def test_auto_with_a_config_json_uses_the_v2_backend(empty_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("azure.ai.ml", reason="the 'azure' extra (azure-ai-ml) is not installed")
    from azure.ai.ml import MLClient

    (empty_dir / ".azureml").mkdir()
    config = empty_dir / ".azureml" / "config.json"
    config.write_text(json.dumps({**WORKSPACE, "compute": "gpu-cluster"}))
    with caplog.at_level(logging.INFO, logger="asl_recog"):
        backend = resolve_backend("auto")
    assert isinstance(backend, asl.AzureBackend) and isinstance(backend.ml_client, MLClient)
    assert backend.ml_client.workspace_name == "asl-ws" and backend.compute == "gpu-cluster"
    assert "using the Azure SDK v2 backend" in caplog.text and str(config) in caplog.text
    named = resolve_backend("azure")
    assert isinstance(named, asl.AzureBackend) and named.ml_client.resource_group_name == "asl-rg"


@pytest.mark.azure
def test_auto_with_azureml_variables_uses_the_v2_backend(empty_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("azure.ai.ml", reason="the 'azure' extra (azure-ai-ml) is not installed")
    for name, value in zip(ENV, WORKSPACE.values(), strict=False):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ASL_RECOG_AZURE_COMPUTE", "env-cluster")
    backend = resolve_backend("auto")
    assert isinstance(backend, asl.AzureBackend)
    assert (backend.ml_client.subscription_id, backend.ml_client.workspace_name) == (
        WORKSPACE["subscription_id"],
        "asl-ws",
    )
    assert backend.compute == "env-cluster"


@pytest.mark.azure
def test_azureml_string_uses_the_v1_backend_from_config(empty_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    azureml_core = pytest.importorskip("azureml.core", reason="the 'azureml' extra (azureml-core) is not installed")
    (empty_dir / "config.json").write_text(json.dumps(WORKSPACE))
    paths: list[Any] = []
    workspace = object()

    def from_config(path: str | None = None, auth: Any = None) -> object:
        paths.append(path)  # the real one signs in to Azure
        return workspace

    monkeypatch.setattr(azureml_core.Workspace, "from_config", staticmethod(from_config))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        backend = resolve_backend("azureml")
    assert isinstance(backend, asl.AzureMLBackend) and backend.workspace is workspace
    assert paths == [str(empty_dir / "config.json")] and backend.compute_target == "cpu-cluster"


def test_from_config_signatures_take_the_config_path_first() -> None:
    for cls in (asl.AzureBackend, asl.AzureMLBackend):
        params = list(inspect.signature(cls.from_config).parameters)
        assert params[0] == "path", cls


def test_backend_objects_pass_through_and_bad_names_are_rejected() -> None:
    local = resolve_backend("local")
    assert resolve_backend(local) is local and type(resolve_backend(None)) is type(local)
    with pytest.raises(asl.ConfigurationError, match="backend must be"):
        resolve_backend("azure-ml")
    with pytest.raises(asl.ConfigurationError, match="backend must be"):
        asl.AutoMLTrainer(backend="cloud")


@pytest.mark.parametrize(
    ("module", "make", "extra"),
    [
        ("azure.ai.ml", lambda: asl.AzureBackend(object(), "cpu-cluster"), "azure"),
        ("azure.ai.ml", lambda: asl.AzureBackend.from_config(None, compute="cpu"), "azure"),
        ("azureml.core", lambda: asl.AzureMLBackend(object(), "cpu-cluster"), "azureml"),
        ("azureml.core", lambda: asl.AzureMLBackend.from_config(None), "azureml"),
    ],
)
def test_a_missing_extra_names_its_pip_command(
    monkeypatch: pytest.MonkeyPatch, module: str, make: Any, extra: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # as if the package were not installed
    with pytest.raises(asl.MissingExtraError, match=rf"pip install 'asl-recog\[{extra}\]'") as info:
        make()
    assert info.value.extra == extra


def test_a_missing_extra_surfaces_through_auto(empty_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (empty_dir / "config.json").write_text(json.dumps(WORKSPACE))
    monkeypatch.setitem(sys.modules, "azure.ai.ml", None)
    with pytest.raises(asl.MissingExtraError, match=r"asl-recog\[azure\]"):
        resolve_backend("auto")


def test_importing_the_library_and_backend_classes_imports_no_cloud_sdk() -> None:
    code = (
        "import sys, asl_recog\n"
        "asl_recog.AzureBackend, asl_recog.AzureMLBackend\n"
        "import asl_recog.backends.azure._translate, asl_recog.backends.azure._data\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('azure', 'azureml', 'mlflow'))\n"
        "print(loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_the_registry_is_keyed_by_each_backends_name() -> None:
    from asl_recog.backends._registry import BACKEND_NAMES, BACKENDS, backend_class

    for name in BACKENDS:
        assert backend_class(name).name == name
    assert BACKEND_NAMES == ("local", "azure", "azureml", "auto")
    assert asl.backends.AzureBackend is asl.AzureBackend and asl.backends.LocalBackend is asl.LocalBackend


def test_a_local_fit_setup_loads_no_azure_backend_and_no_deployer() -> None:
    # A fresh interpreter: in this one, other tests have imported every module already.
    code = (
        "import sys, asl_recog as asl\n"
        "from asl_recog.backends import resolve_backend\n"
        "trainer = asl.HyperDriveTrainer(builder='seed', max_total_runs=1, backend='local', progress=False)\n"
        "backend = resolve_backend(trainer.backend)\n"
        "assert type(backend).__name__ == 'LocalBackend', backend\n"
        "print(sorted(m for m in sys.modules if m.startswith(('asl_recog.backends.azure', 'asl_recog.deploy'))"
        " or m.split('.')[0] in ('azure', 'azureml')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout
