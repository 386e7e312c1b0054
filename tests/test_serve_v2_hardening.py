"""Issue 24's hostile V2 cases: bounded answers, no 500 from content, /score's value rules, quiet probes,
and a large body that does not stall /health (a real uvicorn server in a subprocess)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from asl_recog.deploy._local import free_port
from asl_recog.serving import create_app
from asl_recog.serving._requests import RequestError
from asl_recog.serving._v2 import MAX_ID_CHARS, V2Error

KEY = "v2-hardening-key"
AUTH = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
INFER = "/v2/models/asl-recog/infer"


@pytest.fixture(scope="module")
def client(serving_model_path: Path) -> TestClient:
    return TestClient(create_app(serving_model_path, api_key=KEY))


def _tensor_text(data_text: str, datatype: str = "UINT8", n: int = 1, extra: str = "") -> bytes:
    """A request written as text, so values JSON libraries would normalise (huge integers) arrive as sent."""
    return (
        f'{{"inputs":[{{"name":"images","shape":[{n},784],"datatype":"{datatype}","data":[{data_text}]}}]{extra}}}'
    ).encode()


def _zeros(count: int = 783) -> str:
    return ",".join(["0"] * count)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (_tensor_text(_zeros() + "," + "9" * 400), "must be numbers"),  # was an OverflowError: 500
        (_tensor_text(_zeros() + "," + "9" * 400, "FP32"), "must be numbers"),
        (_tensor_text(_zeros() + ",true"), "booleans"),  # was scored as pixel 1
        (_tensor_text(",".join(["true"] * 784)), "booleans"),
        (_tensor_text(",".join(['"7"'] * 784)), "strings"),  # was scored as pixel 7
        (_tensor_text(",".join(['"7"'] * 784), "FP32"), "strings"),
        (_tensor_text(_zeros(784), extra=',"outputs":' + json.dumps([{"name": "probabilities"}] * 20000)), "names"),
        (_tensor_text(_zeros(784), extra=',"outputs":[{"name":"labels"},{"name":"labels"}]'), "twice"),
        (_tensor_text(_zeros(784), extra=',"outputs":[{"name":["labels"]}]'), "outputs must be"),
        (_tensor_text(_zeros(784), extra=',"id":' + json.dumps("x" * (MAX_ID_CHARS + 1))), "id must be"),
        (_tensor_text(_zeros(784), extra=',"id":{"a":[1,2,3]}'), "id must be"),
    ],
)
def test_hostile_content_gets_400_in_the_protocols_form(client: TestClient, body: bytes, says: str) -> None:
    reply = client.post(INFER, content=body, headers=AUTH)
    assert reply.status_code == 400, reply.text[:300]
    assert set(reply.json()) == {"error"} and says in reply.json()["error"]


def test_a_5000_digit_header_length_gets_400(client: TestClient) -> None:
    body = _tensor_text(_zeros(784))
    reply = client.post(INFER, content=body, headers={**AUTH, "Inference-Header-Content-Length": "9" * 5000})
    assert reply.status_code == 400 and "Inference-Header-Content-Length" in reply.json()["error"]


def test_the_answer_is_bounded_by_the_request_limit(serving_model_path: Path) -> None:
    # The largest answer the checks allow: every output once, the longest id, the largest batch.
    limit = 2 * 2**20
    client = TestClient(create_app(serving_model_path, api_key=KEY, max_batch=1024, max_body_bytes=limit))
    body = {
        "id": "r" * MAX_ID_CHARS,
        "inputs": [{"name": "images", "shape": [1024, 784], "datatype": "UINT8", "data": [0] * (1024 * 784)}],
        "outputs": [{"name": "labels"}, {"name": "letters"}, {"name": "probabilities"}],
    }
    text = json.dumps(body, separators=(",", ":")).encode()
    assert len(text) <= limit
    reply = client.post(INFER, content=text, headers=AUTH)
    assert reply.status_code == 200
    assert len(reply.content) <= limit
    assert [o["name"] for o in reply.json()["outputs"]] == ["labels", "letters", "probabilities"]


def test_ready_without_a_key_says_only_its_status(client: TestClient, serving_model_path: Path) -> None:
    reply = client.get("/ready")
    assert reply.status_code == 200 and reply.json() == {"status": "ready"}
    assert str(serving_model_path) not in reply.text and serving_model_path.name not in reply.text
    for path in ("/health", "/v2/health/live", "/v2/health/ready"):
        assert serving_model_path.name not in client.get(path).text, path
    assert client.get("/info").status_code == 401  # the path lives behind the key
    assert serving_model_path.name in client.get("/info", headers=AUTH).text


def test_parse_errors_keep_their_status_through_the_parsing_process() -> None:
    # Large bodies are parsed in a child process; its errors come back pickled.
    import pickle

    error = pickle.loads(pickle.dumps(RequestError("too big", where="data", status=413, code="batch_too_large")))
    assert (error.status, error.where, error.code, str(error)) == (413, "data", "batch_too_large", "data: too big")
    v2 = pickle.loads(pickle.dumps(V2Error("a batch too large", 413)))
    assert (v2.status, str(v2)) == (413, "a batch too large")


_HUGE = st.integers(min_value=2**63, max_value=10**500) | st.integers(max_value=-(2**63), min_value=-(10**500))
_VALUE = st.integers(0, 255) | _HUGE | st.booleans() | st.text("0123456789.", max_size=6) | st.floats()


@given(
    values=st.lists(_VALUE, min_size=1, max_size=6).map(lambda tail: [0] * (784 - len(tail)) + tail),
    datatype=st.sampled_from(["UINT8", "FP32"]),
    header=st.none() | st.text("0123456789", min_size=1, max_size=30),
)
@example(values=[0] * 783 + [10**400], datatype="UINT8", header=None)
@example(values=[0] * 784, datatype="FP32", header="9" * 5000)
@example(values=[0] * 783 + [0.4], datatype="FP32", header=None)  # FP32 fractions are rounded, so allowed
@settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_fuzzed_values_and_headers_never_get_a_server_error(
    client: TestClient, values: list[object], datatype: str, header: str | None
) -> None:
    body = _tensor_text(",".join(json.dumps(v) for v in values), datatype)
    headers = dict(AUTH) if header is None else {**AUTH, "Inference-Header-Content-Length": header}
    reply = client.post(INFER, content=body, headers=headers)
    assert reply.status_code < 500, reply.text[:300]
    if reply.status_code >= 400:
        assert set(reply.json()) == {"error"}
    if header is None:  # /score's rules: whole numbers 0-255; FP32 values are rounded to whole pixels first
        pixels = all(_is_pixel(v, datatype) for v in values)
        assert (reply.status_code == 200) == pixels, f"{datatype} {values[-6:]}: {reply.text[:300]}"


def _is_pixel(value: object, datatype: str) -> bool:
    if type(value) not in (int, float):  # no booleans, no strings
        return False
    number = float(value) if abs(value) < 1e300 else math.inf  # type: ignore[arg-type]
    if datatype == "FP32":
        with np.errstate(over="ignore"):
            number = float(np.rint(np.float32(number)))
    return math.isfinite(number) and 0 <= number <= 255 and number == round(number)


@pytest.fixture(scope="module")
def real_server(serving_model_path: Path) -> Iterator[str]:
    """``python -m asl_recog.serving`` on a free loopback port, stopped by its process id."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "asl_recog.serving", str(serving_model_path), "--no-auth", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/ready").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "the service did not start"
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(10)


def test_a_large_v2_body_does_not_stall_health(real_server: str) -> None:
    # 1024 nested 28x28x1 images: orjson takes ~0.4 s and numpy ~0.25 s over them, single C calls that
    # hold the GIL, so /health stalled ~1 s with the parse on the event loop or in a thread.
    nested = [[[[1] for _ in range(28)] for _ in range(28)] for _ in range(1024)]
    body = json.dumps(
        {"inputs": [{"name": "images", "shape": [1024, 28, 28, 1], "datatype": "UINT8", "data": nested}]}
    ).encode()
    worst: list[float] = []
    for _ in range(3):  # the first request also starts the parsing process
        done, waits = threading.Event(), list[float]()

        def poll(done: threading.Event = done, waits: list[float] = waits) -> None:
            with httpx.Client() as probe:
                while not done.is_set():
                    start = time.perf_counter()
                    probe.get(f"{real_server}/health")
                    waits.append(time.perf_counter() - start)
                    time.sleep(0.005)

        poller = threading.Thread(target=poll)
        poller.start()
        reply = httpx.post(
            f"{real_server}{INFER}", content=body, headers={"Content-Type": "application/json"}, timeout=60
        )
        done.set()
        poller.join()
        assert reply.status_code == 200
        assert len(reply.json()["outputs"][0]["data"]) == 1024
        worst.append(max(waits))
    assert np.median(worst) < 0.4, f"/health waited {worst} s while a large body was parsed"
