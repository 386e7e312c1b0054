"""Deployers and clients: the local subprocess lifecycle, RemoteEndpoint retries, the generated Azure
score.py run offline, and the Azure SDK v2/v1 objects built offline with injected fakes (nothing reaches Azure)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import numpy as np
import pytest
from azure_fakes import FakeDeployClient
from fastapi.testclient import TestClient
from serving_model import dumps, rows, seed_request

import asl_recog as asl
from asl_recog.deploy import DeploymentError
from asl_recog.deploy._scoring import write_scoring_dir
from asl_recog.serving import create_app


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


# -- local deployer ----------------------------------------------------------------------------------


def test_local_deployer_lifecycle(
    serving_model_path: Path, model: asl.OnnxModel, test_data: asl.SignMnistDataset
) -> None:
    deployer = asl.Deployer.create("local")
    with deployer.deploy(serving_model_path, name="asl-local-test") as endpoint:
        assert isinstance(endpoint, asl.LocalEndpoint) and endpoint.running
        pid, folder = endpoint.pid, endpoint.folder
        assert endpoint.scoring_uri.startswith("http://127.0.0.1:") and endpoint.scoring_uri.endswith("/score")
        assert httpx.get(endpoint.scoring_uri.replace("/score", "/ready")).status_code == 200
        seed = test_data[1:10]
        assert endpoint.predict(seed).tolist() == model.predict(seed).tolist()
        assert endpoint.predict_letters(seed).tolist() == model.predict_letters(seed).tolist()
        np.testing.assert_allclose(endpoint.predict_proba(seed), model.predict_proba(seed), atol=1e-5)
        # the seed's own request, with the deployment's key; without it, 401
        assert len(endpoint.keys) == 1
        answer = httpx.post(
            endpoint.scoring_uri, json=seed_request(test_data), headers={"Authorization": f"Bearer {endpoint.keys[0]}"}
        ).json()
        assert answer["result"] == model.predict(seed).tolist()
        assert httpx.post(endpoint.scoring_uri, json=seed_request(test_data)).status_code == 401
        assert isinstance(endpoint.logs(), str)
    assert _gone(pid), "the service process is still alive after delete()"
    assert not folder.exists()
    endpoint.delete()  # twice is fine


def test_local_deployer_exports_a_fitted_model_and_keeps_run_dir(
    small_split: Any, tmp_path: Path, test_data: asl.SignMnistDataset
) -> None:
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from asl_recog.data._labels import labels_to_indices

    fit_part, _ = small_split
    estimator = make_pipeline(PCA(20, random_state=0), LogisticRegression(max_iter=200))
    fitted = asl.SklearnModel(estimator.fit(fit_part.flat, labels_to_indices(fit_part.labels)))
    endpoint = asl.LocalDeployer(run_dir=tmp_path, auth=False).deploy(fitted, name="asl-export-test")
    try:
        assert (tmp_path / "asl-export-test" / "model.onnx").is_file()
        assert endpoint.keys == []
        assert endpoint.predict(test_data[:20]).tolist() == fitted.predict(test_data[:20]).tolist()
    finally:
        endpoint.delete()
    assert _gone(endpoint.pid)
    assert (tmp_path / "asl-export-test" / "service.log").is_file()  # a kept run dir keeps the log


def test_local_deployer_reports_a_service_that_cannot_start(serving_model_path: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x07 truncated")
    with pytest.raises(asl.ModelFileError):
        asl.LocalDeployer().deploy(broken)  # rejected before any process starts
    bad_args = asl.LocalDeployer(run_dir=tmp_path, serve_args=["--max-batch", "0"])
    with pytest.raises(DeploymentError, match="exited with status 2") as info:
        bad_args.deploy(serving_model_path, name="asl-bad")
    assert "max_batch must be positive" in str(info.value)  # the service's own message, from its log
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True).stdout.split()
    assert leftovers == [], "a failed start left a service process behind"


def test_endpoint_names_follow_azure_rules() -> None:
    with pytest.raises(asl.ConfigurationError, match="lowercase"):
        asl.LocalDeployer().deploy("x.onnx", name="Bad_Name")
    with pytest.raises(asl.ConfigurationError, match="unknown deployment target"):
        asl.Deployer.create("kubernetes")


# -- RemoteEndpoint ------------------------------------------------------------------------------------


def test_remote_endpoint_against_the_service(
    serving_model_path: Path, model: asl.OnnxModel, test_data: asl.SignMnistDataset
) -> None:
    client = TestClient(create_app(serving_model_path, api_key="k", max_batch=32))
    remote = asl.RemoteEndpoint("http://testserver/score", key="k", client=client, batch_size=32)
    sample = test_data[:70]  # three requests
    assert remote.predict(sample).tolist() == model.predict(sample).tolist()
    assert remote.predict_letters(sample[:3]).tolist() == model.predict_letters(sample[:3]).tolist()
    np.testing.assert_allclose(remote.predict_proba(sample), model.predict_proba(sample), atol=1e-5)
    records = asl.RemoteEndpoint("http://testserver/score", key="k", client=client, records=True)
    assert records.predict(sample[:5]).tolist() == model.predict(sample[:5]).tolist()
    wrong = asl.RemoteEndpoint("http://testserver/score", key="wrong", client=client)
    with pytest.raises(asl.EndpointError, match="401") as info:
        wrong.predict(sample[:1])
    assert info.value.status_code == 401


def _scripted(answers: list[Any]) -> tuple[httpx.Client, list[httpx.Request]]:
    """An httpx client whose transport plays ``answers`` in order (exceptions are raised)."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers[min(len(seen), len(answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.Client(transport=httpx.MockTransport(handler)), seen


def test_remote_endpoint_retries_connection_errors_with_backoff(test_data: asl.SignMnistDataset) -> None:
    ok = httpx.Response(200, json={"result": [3], "letters": ["D"]})
    client, seen = _scripted([httpx.ConnectError("refused"), httpx.Response(503, json={"error": "x"}), ok])
    remote = asl.RemoteEndpoint("http://svc/score", key="k", client=client, retries=3, backoff=0.01)
    assert remote.predict(test_data[:1]).tolist() == [3]
    assert len(seen) == 3 and seen[0].headers["authorization"] == "Bearer k"
    body = json.loads(seen[0].content)
    assert body["GlobalParameters"] == {"method": "predict"} and len(body["Inputs"]["data"][0]) == 784

    client, seen = _scripted([httpx.ConnectError("refused")])
    with pytest.raises(asl.EndpointError, match="no answer after 3 attempt"):
        asl.RemoteEndpoint("http://svc/score", client=client, retries=2, backoff=0.01).predict(test_data[:1])
    assert len(seen) == 3  # bounded

    client, seen = _scripted([httpx.Response(422, json={"error": "invalid_input", "detail": "data[0]: bad"})])
    with pytest.raises(asl.EndpointError, match="data\\[0\\]: bad"):
        asl.RemoteEndpoint("http://svc/score", client=client, backoff=0.01).predict(test_data[:1])
    assert len(seen) == 1  # a client error is not retried


def test_remote_endpoint_decodes_the_seeds_double_encoded_answers(test_data: asl.SignMnistDataset) -> None:
    double = httpx.Response(200, json=json.dumps({"result": [5, 10]}))  # a JSON string holding JSON
    client, _ = _scripted([double])
    assert asl.RemoteEndpoint("http://svc/score", client=client).predict(test_data[:2]).tolist() == [5, 10]
    client, _ = _scripted([httpx.Response(200, json={"result": [9]})])
    with pytest.raises(ValueError, match="J"):
        asl.RemoteEndpoint("http://svc/score", client=client).predict(test_data[:1])


# -- the generated Azure score.py, run offline ----------------------------------------------------------


def _load_score(code_dir: Path) -> Any:
    sys.path.insert(0, str(code_dir))
    try:
        spec = importlib.util.spec_from_file_location("asl_generated_score", code_dir / "score.py")
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    finally:
        sys.path.remove(str(code_dir))
        sys.modules.pop("asl_requests", None)
    return module


def test_generated_score_py_runs_offline(
    serving_model_path: Path,
    model: asl.OnnxModel,
    test_data: asl.SignMnistDataset,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code_dir = write_scoring_dir(model, tmp_path / "code", model_file="model.onnx", max_batch=16)
    assert sorted(p.name for p in code_dir.iterdir()) == ["asl_requests.py", "asl_scoring.json", "score.py"]
    imports = {
        line.split()[1]
        for line in (code_dir / "score.py").read_text().splitlines()
        if line.startswith(("import ", "from "))
    }
    assert imports <= {"__future__", "glob", "json", "logging", "os", "typing", "numpy", "onnxruntime", "asl_requests"}
    model_dir = tmp_path / "azureml-models" / "asl-model" / "1"  # AZUREML_MODEL_DIR nests the file
    model_dir.mkdir(parents=True)
    (model_dir / "model.onnx").write_bytes(serving_model_path.read_bytes())
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(tmp_path / "azureml-models"))
    score = _load_score(code_dir)
    score.init()
    seed = test_data[1:10]
    answer = score.run(json.dumps(seed_request(test_data)))
    assert isinstance(answer, dict) and answer["result"] == model.predict(seed).tolist()
    assert json.loads(json.dumps(answer)) == answer  # the server encodes the dict once
    proba = score.run(dumps({"Inputs": {"data": rows(seed.images)}, "GlobalParameters": {"method": "predict_proba"}}))
    np.testing.assert_allclose(proba["probabilities"], model.predict_proba(seed), atol=1e-5)
    split = score.run(
        dumps({"input_data": {"columns": [f"pixel{i}" for i in range(1, 785)], "data": rows(seed.images)}})
    )
    assert split["result"] == model.predict(seed).tolist()
    bad = score.run(dumps({"data": [[300] * 784]}))
    assert bad["error"] == "invalid_input" and "data[0][0]: value 300 is outside 0-255" in bad["detail"]
    assert score.run(dumps({"data": rows(test_data.images[:17])}))["error"] == "batch_too_large"


# -- Azure SDK v2, offline with a recording MLClient ------------------------------------------------------


def test_azure_v2_deployer_builds_and_sends_the_right_objects(serving_model_path: Path) -> None:
    fake = FakeDeployClient()
    deployer = asl.AzureDeployer(fake, instance_type="Standard_F2s_v2", instance_count=2)
    endpoint = deployer.deploy(serving_model_path, name="asl-v2-test")
    assert [kind for kind, _ in fake.calls] == ["endpoint", "deployment", "endpoint"]
    assert fake.calls[0][1] == {"name": "asl-v2-test", "traffic": {}, "auth_mode": "key"}
    assert fake.calls[2][1]["traffic"] == {"blue": 100}
    info = fake.calls[1][1]
    deployment = info["deployment"]
    assert (deployment.name, deployment.endpoint_name) == ("blue", "asl-v2-test")
    assert (deployment.instance_type, deployment.instance_count) == ("Standard_F2s_v2", 2)
    assert deployment.code_configuration.scoring_script == "score.py"
    assert info["code_files"] == ["asl_requests.py", "asl_scoring.json", "score.py"]
    assert info["model_exists"] and deployment.model.type == "custom_model"
    assert info["config"]["input_layout"] == "flat" and info["config"]["model_file"] == "model.onnx"
    pip = deployment.environment.conda_file["dependencies"][-1]["pip"]
    assert any(p.startswith("onnxruntime") for p in pip) and any(p.startswith("numpy") for p in pip)
    assert endpoint.scoring_uri == "https://asl-v2-test.westeurope.inference.ml.azure.com/score"
    assert endpoint.keys == ["pk", "sk"] and endpoint.logs(50) == "blue log 50"
    endpoint.delete()
    endpoint.delete()
    assert fake.calls[-1] == ("delete", "asl-v2-test") and len(fake.calls) == 4


def test_azure_v2_failed_deployment_removes_the_endpoint(serving_model_path: Path) -> None:
    fake = FakeDeployClient(fail_deployment=True)
    with pytest.raises(RuntimeError, match="quota"):
        asl.AzureDeployer(fake).deploy(serving_model_path, name="asl-v2-fail")
    assert [kind for kind, _ in fake.calls] == ["endpoint", "deployment", "delete"]


# -- Azure SDK v1, offline with injected register/deploy ----------------------------------------------------


class _FakeService:
    scoring_uri = "http://aci-test.westeurope.azurecontainer.io/score"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def wait_for_deployment(self, show_output: bool = False) -> None:
        self.calls.append("wait")

    def get_keys(self) -> tuple[str, str]:
        return ("k1", "k2")

    def get_logs(self, num_lines: int = 5000) -> str:
        return f"{num_lines} lines"

    def delete(self) -> None:
        self.calls.append("delete")


def test_azure_v1_deployer_registers_and_deploys_to_aci(
    serving_model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("asl_recog._deprecation._warned", set())
    calls: list[tuple[str, dict[str, Any]]] = []
    service = _FakeService()

    def register(**kwargs: Any) -> str:
        calls.append(("register", {**kwargs, "model_exists": Path(kwargs["model_path"]).is_file()}))
        return "registered-model"

    def deploy(**kwargs: Any) -> _FakeService:
        config = kwargs["inference_config"]
        calls.append(("deploy", {**kwargs, "code_files": sorted(os.listdir(config.source_directory))}))
        return service

    workspace = SimpleNamespace(name="ws")
    with pytest.warns(FutureWarning, match="2026-06-30"):
        deployer = asl.AzureMLDeployer(
            workspace, cpu_cores=2, memory_gb=3, model_register=register, model_deploy=deploy
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # warned once per process, not per deployer
        asl.AzureMLDeployer(workspace, model_register=register, model_deploy=deploy)
    endpoint = deployer.deploy(serving_model_path, name="asl-aci-test")
    assert [kind for kind, _ in calls] == ["register", "deploy"]
    registered = calls[0][1]
    assert registered["workspace"] is workspace and registered["model_name"] == "asl-aci-test"
    assert registered["model_exists"]
    deployed = calls[1][1]
    assert deployed["models"] == ["registered-model"] and deployed["name"] == "asl-aci-test"
    inference = deployed["inference_config"]
    assert inference.entry_script == "score.py"
    assert deployed["code_files"] == ["asl_requests.py", "asl_scoring.json", "score.py"]
    pip = list(inference.environment.python.conda_dependencies.pip_packages)
    assert any(p.startswith("onnxruntime") for p in pip) and any(p.startswith("numpy") for p in pip)
    aci = deployed["deployment_config"]
    assert (aci.cpu_cores, aci.memory_gb, aci.auth_enabled) == (2, 3, True)
    assert service.calls == ["wait"]
    assert endpoint.scoring_uri == _FakeService.scoring_uri and endpoint.keys == ["k1", "k2"]
    assert endpoint.logs(10) == "10 lines"
    endpoint.delete()
    endpoint.delete()
    assert service.calls == ["wait", "delete"]


# -- optional SDKs and lazy imports ---------------------------------------------------------------------


def test_missing_azure_sdks_name_their_extra(
    model: asl.OnnxModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "azure.ai.ml", None)  # makes the import fail
    with pytest.raises(asl.MissingExtraError, match=r"asl-recog\[azure\]"):
        asl.AzureDeployer(FakeDeployClient()).build(tmp_path / "m.onnx", model, "asl-x", tmp_path)
    monkeypatch.setitem(sys.modules, "azureml.core", None)
    with pytest.raises(asl.MissingExtraError, match=r"asl-recog\[azureml\]"):
        asl.AzureMLDeployer(SimpleNamespace())


def test_importing_the_library_loads_no_server_or_runtime() -> None:
    code = (
        "import sys, asl_recog as a; a.Deployer; a.Endpoint; a.RemoteEndpoint; a.LocalDeployer; "
        "import asl_recog.serving, asl_recog.deploy; "
        "bad = [m for m in ('fastapi', 'uvicorn', 'onnxruntime', 'azure.ai.ml', 'azureml.core', 'httpx') "
        "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", ["Deployer", "Endpoint", "LocalDeployer", "AzureDeployer", "RemoteEndpoint"])
def test_the_old_serving_names_still_work_with_a_future_warning(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import asl_recog.deploy
    import asl_recog.serving

    monkeypatch.setattr("asl_recog._deprecation._warned", set())
    with pytest.warns(FutureWarning, match=rf"asl_recog\.serving\.{name} was renamed to asl_recog\.deploy\.{name}"):
        moved = getattr(asl_recog.serving, name)
    assert moved is getattr(asl_recog.deploy, name) is getattr(asl, name)
    assert name not in asl_recog.serving.__all__
    with pytest.raises(AttributeError):
        asl_recog.serving.NoSuchName  # noqa: B018
