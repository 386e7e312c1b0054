"""The model registry against a real ``mlflow server``: register an ONNX model, serve it from ``models:/``.

The server is the session's ``mlflow_server`` (SQLite store, proxied artifacts). A model is
registered under a parent run (as a tracked search's refit is), its MLflow model read back
(``onnx`` flavor, MLflow's own ``python_function`` loader, a signature and an input example of
real validation images, the graph's metadata), then served by ``asl-recog serve`` in a process of
its own from ``models:/NAME/VERSION`` and ``models:/NAME@ALIAS``; its answers are compared with
:class:`asl_recog.OnnxModel` on the same rows, and its import log shows no MLflow. No mocks.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from mlflow_server import MlflowServer, free_port
from serving_model import rows

import asl_recog as asl
from asl_recog.cli._main import main
from asl_recog.tracking import Registration, register_model
from asl_recog.tracking._fetch import fetch_registered_onnx

mlflow = pytest.importorskip("mlflow", reason="the 'mlflow' extra is not installed (make test installs it)")

NAME = "asl-registry-test"


@pytest.fixture(scope="module")
def validation(small_split: tuple[asl.SignMnistDataset, asl.SignMnistDataset]) -> asl.SignMnistDataset:
    return small_split[1]


@pytest.fixture(scope="module")
def registered(mlflow_server: MlflowServer, serving_model_path: Path, validation: asl.SignMnistDataset) -> Registration:
    """The serving model registered with alias ``champion``, logged under a parent run (a search's, say)."""
    client = mlflow.MlflowClient(mlflow_server.url)
    experiment = client.create_experiment("asl-registry-test")
    parent = client.create_run(experiment, run_name="search").info.run_id
    return register_model(
        serving_model_path, NAME, tracking_uri=mlflow_server.url, run_id=parent, alias="champion", example=validation
    )


def _mlmodel(server: MlflowServer, found: Registration, folder: Path) -> tuple[dict, Path]:
    """The registered version's MLmodel (as data) and the folder its files were downloaded to."""
    import yaml

    client = mlflow.MlflowClient(server.url)
    location = client.get_model_version_download_uri(found.name, found.version)
    local = Path(
        mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=str(folder), tracking_uri=server.url)
    )
    return yaml.safe_load((local / "MLmodel").read_text()), local


def test_the_registered_model_is_onnx_with_a_signature_an_example_and_the_graphs_metadata(
    mlflow_server: MlflowServer,
    registered: Registration,
    serving_model_path: Path,
    validation: asl.SignMnistDataset,
    tmp_path: Path,
) -> None:
    assert registered.uri == f"models:/{NAME}/{registered.version}"
    spec, local = _mlmodel(mlflow_server, registered, tmp_path)
    assert set(spec["flavors"]) == {"onnx", "python_function"}
    assert spec["flavors"]["onnx"]["data"] == "model.onnx"
    # MLflow's own ONNX loader, no PythonModel of ours: loading the model runs no code of the registrant's.
    assert spec["flavors"]["python_function"]["loader_module"] == "mlflow.onnx"
    assert "python_model" not in json.dumps(spec) and "cloudpickle" not in json.dumps(spec)
    # The exact exported bytes (their checksum holds), and the graph's metadata as the model's.
    assert (local / "model.onnx").read_bytes() == serving_model_path.read_bytes()
    # The metadata is the run record the graph carries: the registry and the file cannot disagree.
    assert asl.RunRecord.from_mlflow_metadata(spec["metadata"]) == asl.RunRecord.from_onnx(serving_model_path)
    assert spec["metadata"]["label_map"]["0"] == "A"
    inputs = json.loads(spec["signature"]["inputs"])
    assert [(i["name"], i["tensor-spec"]["shape"]) for i in inputs] == [("pixels", [-1, 784])]
    outputs = {o["name"]: o["tensor-spec"]["shape"] for o in json.loads(spec["signature"]["outputs"])}
    assert outputs["probabilities"] == [-1, 24]
    # The input example: real validation images, in the graph's layout (flat) and scaling (unit).
    assert spec["saved_input_example_info"]["type"] == "ndarray"
    example = json.loads((local / spec["saved_input_example_info"]["artifact_path"]).read_text())
    np.testing.assert_allclose(
        np.asarray(example["pixels"] if isinstance(example, dict) else example, dtype=np.float32),
        validation.images[:5].reshape(5, 784) / 255.0,
        atol=1e-6,
    )


def test_the_registration_is_logged_under_the_given_run_and_linked_from_the_version(
    mlflow_server: MlflowServer, registered: Registration
) -> None:
    client = mlflow.MlflowClient(mlflow_server.url)
    run = client.get_run(registered.run_id)
    parent = run.data.tags["mlflow.parentRunId"]
    assert client.get_run(parent).info.run_name == "search"
    assert run.info.run_name == "register" and run.info.status == "FINISHED"
    version = client.get_model_version(NAME, registered.version)
    assert version.run_id == registered.run_id and version.source == f"models:/{registered.model_id}"
    assert client.get_model_version_by_alias(NAME, "champion").version == registered.version


def test_a_results_model_is_exported_and_registered_under_its_tracked_search(
    mlflow_server: MlflowServer,
    small_split: tuple[asl.SignMnistDataset, asl.SignMnistDataset],
    tmp_path: Path,
) -> None:
    import pandas as pd
    from sklearn.neighbors import KNeighborsClassifier

    from asl_recog.data._labels import labels_to_indices

    fit_part, validation = small_split
    model = asl.SklearnModel(KNeighborsClassifier(3).fit(fit_part.flat, labels_to_indices(fit_part.labels)))
    client = mlflow.MlflowClient(mlflow_server.url)
    experiment = client.create_experiment("asl-registry-result")
    parent = client.create_run(experiment, run_name="search").info.run_id
    tracked = {"tracking_uri": mlflow_server.url, "run_id": parent, "experiment_id": experiment}
    result = asl.TrainingResult(model, {}, 0.5, "accuracy", pd.DataFrame(), extras={"mlflow": tracked})
    found = result.register("asl-registry-result", example=validation)  # the search's server, under its run
    assert found.tracking_uri == mlflow_server.url
    assert client.get_run(found.run_id).data.tags["mlflow.parentRunId"] == parent
    from asl_recog.tracking._download import download  # in this process: no download process to start

    path = Path(download(found.uri, tmp_path, mlflow_server.url)["path"])
    images = validation.images[:32]
    np.testing.assert_allclose(asl.OnnxModel.load(path).predict_proba(images), model.predict_proba(images), atol=1e-5)


def _serve(uri: str, tracking_uri: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``asl-recog serve URI`` in a process of its own (its imports logged by -X importtime), once ready."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["MLFLOW_TRACKING_URI"] = tracking_uri  # the variable, not the flag: both ways are tried across the tests
    command = [sys.executable, "-X", "importtime", "-m", "asl_recog.cli", "serve", uri, "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen([*command, "--no-auth"], stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/ready", timeout=2) as answer:
                if answer.status == 200:
                    return process, url
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise AssertionError(f"serve did not become ready:\n{log.read_text()[-3000:]}")


@pytest.mark.parametrize("form", ["version", "alias"])
def test_serve_a_registered_model_without_loading_mlflow(
    mlflow_server: MlflowServer,
    registered: Registration,
    model: asl.OnnxModel,
    validation: asl.SignMnistDataset,
    tmp_path: Path,
    form: str,
) -> None:
    uri = registered.uri if form == "version" else registered.alias_uri
    assert uri is not None
    log = tmp_path / "serve.log"
    process, url = _serve(uri, mlflow_server.url, log)
    try:
        images = validation.images[:8]
        request = urllib.request.Request(
            f"{url}/score?proba=true",
            data=json.dumps({"data": rows(images)}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            body = json.loads(answer.read())
        with urllib.request.urlopen(f"{url}/info", timeout=10) as answer:
            info = json.loads(answer.read())
    finally:
        process.terminate()  # by its own PID
        process.wait(timeout=30)
    np.testing.assert_allclose(np.asarray(body["probabilities"]), model.predict_proba(images), atol=1e-5)
    assert body["result"] == model.predict(images).tolist()
    assert f"{NAME}-v{registered.version}.onnx" in json.dumps(info)
    # -X importtime logs every module the service process imported: MLflow is not among them
    # (the download ran in a child process, whose imports are not in this log).
    imported = [line.rsplit("|", 1)[-1].strip() for line in log.read_text().splitlines() if "import time:" in line]
    assert "asl_recog.serving._app" in imported, "the import log is missing: the check below would prove nothing"
    assert not [m for m in imported if m == "mlflow" or m.startswith("mlflow.")]


def test_register_from_the_command_line_adds_a_version(
    mlflow_server: MlflowServer, registered: Registration, serving_model_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["register", str(serving_model_path), "--name", NAME, "--alias", "candidate"]
    assert main([*argv, "--tracking-uri", mlflow_server.url]) == 0
    out = capsys.readouterr().out
    version = str(int(registered.version) + 1)
    assert f"registered models:/{NAME}/{version} (models:/{NAME}@candidate)" in out
    assert f"asl-recog serve models:/{NAME}@candidate --tracking-uri {mlflow_server.url}" in out
    client = mlflow.MlflowClient(mlflow_server.url)
    assert client.get_model_version_by_alias(NAME, "candidate").version == version
    assert client.get_model_version_by_alias(NAME, "champion").version == registered.version


def test_register_refuses_a_training_format_and_a_bad_name(
    mlflow_server: MlflowServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keras_file = tmp_path / "best.keras"
    keras_file.write_bytes(b"not read")
    assert main(["register", str(keras_file), "--name", NAME, "--tracking-uri", mlflow_server.url]) == 2
    assert "the registry takes .onnx files only" in capsys.readouterr().err
    assert main(["register", str(keras_file), "--name", "a/b", "--tracking-uri", mlflow_server.url]) == 2
    assert "cannot name a registered model" in capsys.readouterr().err


def _register_pickle_flavor(server: MlflowServer, name: str, folder: Path) -> str:
    """A registry entry whose MLmodel names a python_function flavor only (a pickled model's form)."""
    client = mlflow.MlflowClient(server.url)
    experiment = client.get_experiment_by_name("asl-registry-test").experiment_id
    logged = client.create_logged_model(experiment, name=name)
    folder.mkdir()
    flavors = {"python_function": {"loader_module": "mlflow.pyfunc.model", "python_model": "python_model.pkl"}}
    (folder / "MLmodel").write_text(json.dumps({"flavors": flavors}))  # JSON is YAML
    (folder / "python_model.pkl").write_bytes(b"never loaded")
    client.log_model_artifacts(logged.model_id, str(folder))
    client.create_registered_model(name)
    return str(client.create_model_version(name, f"models:/{logged.model_id}", model_id=logged.model_id).version)


def test_serve_refuses_bad_registry_uris_with_the_fix(
    mlflow_server: MlflowServer,
    registered: Registration,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Through the command and its download process: a malformed URI, and a model that is not there.
    cases = {
        f"models:/{NAME}/latest": "models:/NAME/VERSION",
        "models:/no-such-model/1": "there is no registered model 'no-such-model'",
    }
    for uri, message in cases.items():
        assert main(["serve", uri, "--tracking-uri", mlflow_server.url, "--port", str(free_port())]) == 2, uri
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["serve", registered.uri]) == 2
    err = capsys.readouterr().err
    assert "pass --tracking-uri URI" in err and "set $MLFLOW_TRACKING_URI" in err


def test_the_download_refuses_a_missing_version_or_alias_and_a_model_without_onnx(
    mlflow_server: MlflowServer, registered: Registration, tmp_path: Path
) -> None:
    # The download process's own checks, run here (MLflow is loaded in this process anyway) to
    # spare a process start per case; the command's path through that process is tested above.
    from asl_recog._errors import ConfigurationError, ModelFileError
    from asl_recog.tracking._download import download

    version = _register_pickle_flavor(mlflow_server, "asl-registry-pickle", tmp_path / "pickle")
    cases = {
        f"models:/{NAME}/99": (ConfigurationError, "has no version 99"),
        f"models:/{NAME}@nobody": (ConfigurationError, "has no alias 'nobody'"),
        f"models:/asl-registry-pickle/{version}": (ModelFileError, "not onnx; the service serves ONNX graphs only"),
    }
    for uri, (error, message) in cases.items():
        with pytest.raises(error, match=re.escape(message)):
            download(uri, tmp_path, mlflow_server.url)
    assert not list(tmp_path.glob("*.onnx"))


def test_fetch_downloads_the_exact_bytes(
    mlflow_server: MlflowServer, registered: Registration, serving_model_path: Path, tmp_path: Path
) -> None:
    path = fetch_registered_onnx(registered.alias_uri or "", tmp_path, tracking_uri=mlflow_server.url)
    assert path == tmp_path / f"{NAME}-v{registered.version}.onnx"
    assert path.read_bytes() == serving_model_path.read_bytes()
