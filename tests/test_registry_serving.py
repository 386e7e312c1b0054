"""``models:/`` URIs wherever a model path is taken, against a real ``mlflow server``.

``create_app`` and ``serving.run`` (Python), ``LocalDeployer``, the Azure deployers (offline, with
injected clients) and ``asl-recog deploy`` resolve a registered model through the one download
function (``tracking/_fetch.py``). An alias is resolved once, at start: the service names the
version it serves (start-up line, ``/info``, the Open Inference Protocol's ``versions``), keeps
serving it when the alias moves, and a restart picks up the new one. The service process started
from Python never imports MLflow. No mocks of MLflow; the server is the session's ``mlflow_server``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from azure_fakes import FakeDeployClient
from fastapi.testclient import TestClient
from mlflow_server import MlflowServer, free_port
from serving_model import rows

import asl_recog as asl
from asl_recog.cli._main import main
from asl_recog.serving import create_app
from asl_recog.tracking import Registration, register_model

mlflow = pytest.importorskip("mlflow", reason="the 'mlflow' extra is not installed (make test installs it)")

NAME = "asl-registry-serving"


@pytest.fixture(scope="module")
def registered(
    mlflow_server: MlflowServer,
    serving_model_path: Path,
    small_split: tuple[asl.SignMnistDataset, asl.SignMnistDataset],
) -> Registration:
    """The serving model, registered once for this module with alias ``champion``."""
    return register_model(
        serving_model_path, NAME, tracking_uri=mlflow_server.url, alias="champion", example=small_split[1]
    )


def _registry_info(found: Registration, server: MlflowServer, version: str | None = None) -> dict[str, Any]:
    """The ``/info`` ``registry`` object expected for the alias URI of ``found``, resolved to ``version``."""
    version = version or found.version
    return {
        "uri": found.alias_uri,
        "name": NAME,
        "version": version,
        "alias": "champion",
        "version_uri": f"models:/{NAME}/{version}",
        "file": f"{NAME}-v{version}.onnx",
        "tracking_uri": server.url,
    }


def test_create_app_serves_a_registered_alias_and_names_the_version_it_resolved_to(
    mlflow_server: MlflowServer,
    registered: Registration,
    serving_model_path: Path,
    model: asl.OnnxModel,
    small_test: asl.SignMnistDataset,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = TestClient(create_app(registered.alias_uri or "", tracking_uri=mlflow_server.url, auth=False))
    started = capsys.readouterr().err
    assert f"{registered.alias_uri} is version {registered.version} of registered model {NAME}" in started
    info = client.get("/info").json()
    assert info["model"] == registered.alias_uri
    assert info["registry"] == _registry_info(registered, mlflow_server)
    assert client.get("/v2/models/asl-recog").json()["versions"] == [registered.version]
    images = small_test.images[:16]
    answer = client.post("/score?proba=true", json={"data": rows(images)}).json()
    np.testing.assert_allclose(np.asarray(answer["probabilities"]), model.predict_proba(images), atol=1e-5)
    body = {"inputs": [{"name": "images", "shape": [1, 784], "datatype": "UINT8", "data": rows(images[:1])[0]}]}
    assert client.post("/v2/models/asl-recog/infer", json=body).json()["model_version"] == registered.version
    from_file = TestClient(create_app(serving_model_path, auth=False))
    assert from_file.get("/info").json()["registry"] is None
    assert from_file.get("/v2/models/asl-recog").json()["versions"] == ["1"]


def test_bad_registry_uris_are_one_line_errors_with_the_fix_before_anything_is_deployed(
    mlflow_server: MlflowServer, registered: Registration, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(asl.ConfigurationError, match="there is no registered model 'no-such-model'") as info:
        create_app("models:/no-such-model/1", tracking_uri=mlflow_server.url)
    assert "\n" not in str(info.value) and "asl-recog register" in str(info.value)
    azure = FakeDeployClient()
    with pytest.raises(asl.ConfigurationError, match=f"models:/{NAME}/99: .* has no version 99"):
        asl.AzureDeployer(azure, tracking_uri=mlflow_server.url).deploy(f"models:/{NAME}/99", name="asl-bad")
    assert azure.calls == []  # nothing was sent to Azure
    with pytest.raises(asl.ConfigurationError, match=re.escape("write models:/NAME/VERSION")):
        asl.LocalDeployer(tracking_uri=mlflow_server.url).deploy(f"models:/{NAME}/latest")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    for start in (create_app, asl.LocalDeployer().deploy):
        with pytest.raises(asl.ConfigurationError, match=re.escape("pass tracking_uri= URI")) as info:
            start(registered.uri)
        assert str(info.value).startswith(f"{registered.uri}: ") and "$MLFLOW_TRACKING_URI" in str(info.value)


def test_deploy_from_the_command_line_refuses_a_missing_model_in_one_line(
    mlflow_server: MlflowServer, registered: Registration, capsys: pytest.CaptureFixture[str]
) -> None:
    # Through the service process the local deployer starts, and the download process it starts.
    assert main(["deploy", "models:/no-such-model/1", "--tracking-uri", mlflow_server.url]) == 1
    err = capsys.readouterr().err.strip()
    assert "there is no registered model 'no-such-model'" in err and "Traceback" not in err
    assert len(err.splitlines()) == 1, err


def test_the_azure_deployers_deploy_the_downloaded_file_of_a_registered_model(
    mlflow_server: MlflowServer,
    registered: Registration,
    serving_model_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    expected = f"{NAME}-v{registered.version}.onnx"
    azure = FakeDeployClient()
    endpoint = asl.AzureDeployer(azure, tracking_uri=mlflow_server.url).deploy(registered.uri, name="asl-reg-v2")
    assert endpoint.scoring_uri == "https://asl-reg-v2.westeurope.inference.ml.azure.com/score"
    [sent] = [value for kind, value in azure.calls if kind == "deployment"]
    assert (sent["model_name"], sent["config"]["model_file"]) == (expected, expected)
    assert sent["model_bytes"] == serving_model_path.read_bytes()

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)  # the variable, as the CLI reads it too
    monkeypatch.setattr("asl_recog._deprecation._warned", {"AzureMLDeployer"})
    registrations: list[dict[str, Any]] = []

    def register(**kwargs: Any) -> str:
        path = Path(kwargs["model_path"])
        registrations.append({"file": path.name, "bytes": path.read_bytes()})
        return "registered-model"

    service = SimpleNamespace(wait_for_deployment=lambda show_output: None)
    deployer = asl.AzureMLDeployer(
        SimpleNamespace(name="ws"), model_register=register, model_deploy=lambda **_: service
    )
    deployer.deploy(registered.alias_uri or "", name="asl-reg-v1")
    assert registrations == [{"file": expected, "bytes": serving_model_path.read_bytes()}]


#: ``serving.run`` from Python in a process of its own; once the service is ready, a thread of that
#: process prints the MLflow modules it has loaded (there must be none).
_RUN = textwrap.dedent(
    """
    import json, sys, threading, time, urllib.request
    from asl_recog.serving import run

    uri, tracking_uri, port = sys.argv[1], sys.argv[2], int(sys.argv[3])

    def report():
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2).close()
                break
            except OSError:
                time.sleep(0.2)
        loaded = sorted(m for m in sys.modules if m == "mlflow" or m.startswith("mlflow."))
        print("mlflow modules: " + json.dumps(loaded), flush=True)

    threading.Thread(target=report, daemon=True).start()
    run(uri, tracking_uri=tracking_uri, port=port, auth=False, log_level="warning")
    """
)


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.loads(answer.read())


def _start_run(uri: str, tracking_uri: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    with log.open("wb") as out:
        command = [sys.executable, "-c", _RUN, uri, tracking_uri, str(port)]
        env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}  # the argument alone
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 120
    while "mlflow modules: " not in log.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"serving.run did not become ready:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)
    return process, f"http://127.0.0.1:{port}"


def test_an_alias_is_resolved_once_at_start_and_a_restart_follows_it(
    mlflow_server: MlflowServer,
    registered: Registration,
    model: asl.OnnxModel,
    small_test: asl.SignMnistDataset,
    tmp_path: Path,
) -> None:
    uri = registered.alias_uri or ""
    log = tmp_path / "run.log"
    process, url = _start_run(uri, mlflow_server.url, log)
    client = mlflow.MlflowClient(mlflow_server.url)
    try:
        output = log.read_text()
        assert f"{uri} is version {registered.version} of registered model {NAME}" in output
        assert "mlflow modules: []" in output  # serving.run kept MLflow out of the service process
        assert _get(f"{url}/info")["registry"] == _registry_info(registered, mlflow_server)
        # A new version of the same graph, and the alias moved to it: the running service keeps its version.
        moved = client.create_model_version(NAME, f"models:/{registered.model_id}", model_id=registered.model_id)
        client.set_registered_model_alias(NAME, "champion", moved.version)
        assert _get(f"{url}/info")["registry"]["version"] == registered.version
        assert _get(f"{url}/v2/models/asl-recog")["versions"] == [registered.version]
    finally:
        process.terminate()  # by its own PID
        process.wait(timeout=30)
    try:
        # A restart resolves the alias again; here through LocalDeployer, which serves models:/ URIs the same way.
        with asl.LocalDeployer(auth=False, tracking_uri=mlflow_server.url).deploy(uri) as endpoint:
            assert _get(f"{endpoint.base_url}/info")["registry"] == _registry_info(
                registered, mlflow_server, str(moved.version)
            )
            images = small_test.images[:8]
            assert endpoint.predict(images).tolist() == model.predict(images).tolist()
            assert f"version {moved.version} of registered model {NAME}" in endpoint.logs()
    finally:
        client.set_registered_model_alias(NAME, "champion", registered.version)
