"""``asl-recog deploy --target azure | azureml`` through the command line: it signs in from the workspace
config as ``backend="auto"`` does, and without one it says how to provide it (no traceback)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from asl_recog.cli._main import main
from asl_recog.deploy import AzureDeployer

WORKSPACE_ENV = ("AZUREML_ARM_SUBSCRIPTION", "AZUREML_ARM_RESOURCEGROUP", "AZUREML_ARM_WORKSPACE_NAME")


@pytest.fixture
def no_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    monkeypatch.chdir(folder)
    for name in WORKSPACE_ENV:
        monkeypatch.delenv(name, raising=False)
    if any((parent / "config.json").is_file() for parent in folder.parents):  # pragma: no cover
        pytest.skip("a config.json in a parent of the temporary folder would be found")
    return folder


@pytest.mark.parametrize("target", ["azure", "azureml"])
def test_deploy_without_a_workspace_is_a_clear_error(
    no_workspace: Path, serving_model_path: Path, capsys: pytest.CaptureFixture[str], target: str
) -> None:
    assert main(["deploy", str(serving_model_path), "--target", target]) == 2
    err = capsys.readouterr().err
    assert err.startswith("asl-recog deploy: error: no Azure ML workspace configured")
    assert "Download config.json" in err and "--workspace-config" in err and "AZUREML_ARM_SUBSCRIPTION" in err
    assert "Traceback" not in err and "TypeError" not in err


def test_deploy_with_a_missing_workspace_config_names_it(
    no_workspace: Path, serving_model_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["deploy", str(serving_model_path), "--target", "azure", "--workspace-config", "nowhere.json"])
    assert code == 2 and "--workspace-config nowhere.json: no such file" in capsys.readouterr().err


def test_deploy_signs_in_from_the_config_json_it_finds(
    no_workspace: Path, serving_model_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("azure.ai.ml")
    (no_workspace / "config.json").write_text(
        json.dumps(
            {"subscription_id": "00000000-0000-0000-0000-000000000000", "resource_group": "rg", "workspace_name": "ws"}
        )
    )
    seen: dict[str, Any] = {}

    class Deployed:  # what the CLI prints; no call reaches Azure
        scoring_uri, keys = "https://ws.example/score", ["k"]

    def deploy(self: AzureDeployer, model: Any, name: str | None = None) -> Deployed:
        seen.update(workspace=self.ml_client.workspace_name, model=str(model), name=name)
        return Deployed()

    monkeypatch.setattr(AzureDeployer, "deploy", deploy)
    assert main(["deploy", str(serving_model_path), "--target", "azure", "--name", "asl-demo"]) == 0
    assert seen == {"workspace": "ws", "model": str(serving_model_path), "name": "asl-demo"}
    assert "scoring URI: https://ws.example/score" in capsys.readouterr().out
