"""The Open Inference Protocol (KServe V2) routes, called by a client no one here wrote: tritonclient[http]."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import asl_recog as asl
from asl_recog.data._labels import LETTERS
from asl_recog.serving import create_app

httpclient = pytest.importorskip("tritonclient.http")
from tritonclient.utils import InferenceServerException  # noqa: E402  (after the skip)

KEY = "v2-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def server(serving_model_path: Path) -> Iterator[str]:
    """The service on a free loopback port, run by uvicorn in a thread (tritonclient needs a real socket)."""
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(serving_model_path, api_key=KEY), host="127.0.0.1", port=port, log_level="error")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        assert time.monotonic() < deadline, "the service did not start within 20 s"
        time.sleep(0.05)
    yield f"127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def triton(server: str) -> Iterator[object]:
    client = httpclient.InferenceServerClient(url=server)
    yield client
    client.close()


@pytest.mark.parametrize(
    ("datatype", "layout", "binary"),
    [("UINT8", (784,), False), ("FP32", (28, 28), False), ("UINT8", (28, 28, 1), True), ("FP32", (784,), True)],
)
def test_tritonclient_infer_gets_the_models_answers(
    triton: object,
    model: asl.OnnxModel,
    test_data: asl.SignMnistDataset,
    datatype: str,
    layout: tuple[int, ...],
    binary: bool,
) -> None:
    images = test_data.images[:6]
    array = images.reshape(len(images), *layout).astype(np.uint8 if datatype == "UINT8" else np.float32)
    tensor = httpclient.InferInput("images", list(array.shape), datatype)
    tensor.set_data_from_numpy(array, binary_data=binary)
    wanted = [httpclient.InferRequestedOutput(name, binary_data=False) for name in ("letters", "probabilities")]
    result = triton.infer(
        "asl-recog", [tensor], outputs=wanted, headers=dict(AUTH), request_id="req-7"
    )  # it adds headers to the dict  # type: ignore[attr-defined]
    expected = model.predict_proba(images)
    np.testing.assert_allclose(result.as_numpy("probabilities"), expected, atol=1e-5)
    letters = [x.decode() if isinstance(x, bytes) else x for x in result.as_numpy("letters")]
    assert letters == list(model.predict_letters(images))
    assert result.as_numpy("labels") is None  # only the outputs asked for
    assert result.get_response()["id"] == "req-7"


def test_tritonclient_health_and_metadata(triton: object) -> None:
    assert triton.is_server_live() and triton.is_server_ready()  # type: ignore[attr-defined]  # public probes
    assert triton.is_model_ready("asl-recog", headers=dict(AUTH))  # type: ignore[attr-defined]
    meta = triton.get_model_metadata("asl-recog", headers=dict(AUTH))  # type: ignore[attr-defined]
    assert meta["inputs"] == [{"name": "images", "datatype": "UINT8", "shape": [-1, 784]}]
    assert {o["name"]: o["shape"] for o in meta["outputs"]} == {
        "labels": [-1],
        "letters": [-1],
        "probabilities": [-1, len(LETTERS)],
    }
    assert triton.get_server_metadata(headers=dict(AUTH))["name"] == "asl-recog"  # type: ignore[attr-defined]


def test_tritonclient_without_the_key_is_refused(triton: object, test_data: asl.SignMnistDataset) -> None:
    tensor = httpclient.InferInput("images", [1, 784], "UINT8")
    tensor.set_data_from_numpy(test_data.images[:1].reshape(1, 784))
    with pytest.raises(InferenceServerException, match="401.*unauthorized"):
        triton.infer("asl-recog", [tensor])  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def client(serving_model_path: Path) -> TestClient:
    return TestClient(create_app(serving_model_path, api_key=KEY))


def _infer(client: TestClient, body: object, name: str = "asl-recog", **headers: str) -> tuple[int, dict]:
    reply = client.post(f"/v2/models/{name}/infer", json=body, headers={**AUTH, **headers})
    return reply.status_code, reply.json()


def _tensor(shape: list[int], datatype: str = "UINT8", data: object = None, name: str = "images") -> dict:
    size = int(np.prod(shape)) if all(isinstance(d, int) and d > 0 for d in shape) else 0
    return {
        "inputs": [{"name": name, "shape": shape, "datatype": datatype, "data": [0] * size if data is None else data}]
    }


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (_tensor([1, 784], name="pixels"), 400, "input is named 'images'"),
        (_tensor([1, 784], datatype="INT16"), 400, "send UINT8 or FP32"),
        (_tensor([1, 783]), 400, "[N, 784]"),
        (_tensor([0, 784]), 400, "N >= 1"),
        (_tensor([1, 784], data=[0] * 10), 400, "holds 10 values"),
        (_tensor([1, 784], data=[300] * 784), 400, "pixels are 0-255"),
        (_tensor([1, 784], data=[0.5] * 784), 400, "fractions"),
        (_tensor([1, 784], data=["a"] * 784), 400, "must be numbers"),
        (_tensor([2000, 784], data=[]), 413, "exceeds the limit"),
        ({"inputs": [], "extra": 1}, 400, "unknown request field"),
        ({**_tensor([1, 784]), "outputs": [{"name": "logits"}]}, 400, "unknown output"),
        ([1, 2], 400, "JSON object"),
    ],
)
def test_bad_inference_requests_get_the_protocols_error_form(
    client: TestClient, body: object, status: int, says: str
) -> None:
    got, answer = _infer(client, body)
    assert got == status
    assert set(answer) == {"error"} and says in answer["error"]


def test_unknown_model_is_404_and_fp32_is_rounded_like_pixels(client: TestClient, model: asl.OnnxModel) -> None:
    assert _infer(client, _tensor([1, 784]), name="resnet")[0] == 404
    assert client.get("/v2/models/resnet", headers=AUTH).status_code == 404
    pixels = np.full(784, 99.6, dtype=np.float32)
    status, answer = _infer(client, _tensor([1, 784], "FP32", pixels.tolist()))
    assert status == 200
    expected = model.predict_proba(np.full((1, 28, 28), 100, dtype=np.uint8))
    probabilities = next(o for o in answer["outputs"] if o["name"] == "probabilities")
    np.testing.assert_allclose(np.reshape(probabilities["data"], (1, 24)), expected, atol=1e-5)


def test_v2_health_is_public_and_the_rest_needs_the_key(client: TestClient) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    for path in ("/v2", "/v2/models/asl-recog", "/v2/models/asl-recog/ready"):
        assert client.get(path).status_code == 401, path
    reply = client.post(
        "/v2/models/asl-recog/infer", content=b"{", headers={**AUTH, "Content-Type": "application/json"}
    )
    assert reply.status_code == 400 and "not valid JSON" in reply.json()["error"]


_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-300, 2**70), st.floats(allow_nan=True), st.text(max_size=4))
_JSON = st.recursive(
    _LEAF,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_TENSOR = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["images", "x"]) | _JSON,
        "shape": st.lists(st.integers(-2, 2000), max_size=4) | _JSON,
        "datatype": st.sampled_from(["UINT8", "FP32", "BYTES"]) | _JSON,
        "data": st.lists(st.integers(-2, 300), max_size=800) | _JSON,
        "parameters": st.fixed_dictionaries({}, optional={"binary_data_size": st.integers(-1, 4000) | _JSON}) | _JSON,
    },
)


@given(
    body=st.fixed_dictionaries(
        {}, optional={"inputs": st.lists(_TENSOR, max_size=2) | _JSON, "outputs": _JSON, "id": _JSON}
    )
    | _JSON,
    header=st.none() | st.text("0123456789x²", max_size=5),
)
@example(body={"inputs": [{"name": "images", "datatype": []}]}, header=None)  # found by this test: was a 500
@settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_fuzzed_inference_requests_never_get_a_server_error(
    client: TestClient, body: object, header: str | None
) -> None:
    headers = {**AUTH, "Content-Type": "application/json"}
    if header is not None:
        # As bytes: a client may send any Latin-1 octets (httpx refuses non-ASCII str values itself).
        headers["Inference-Header-Content-Length"] = header.encode("latin-1")  # type: ignore[assignment]
    reply = client.post("/v2/models/asl-recog/infer", content=json.dumps(body).encode(), headers=headers)
    assert reply.status_code < 500, reply.text[:300]
    if reply.status_code >= 400:
        assert set(reply.json()) == {"error"}
