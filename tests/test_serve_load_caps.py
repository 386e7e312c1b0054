"""Memory bounded under batch load (issue 24, part 6): a cap on large scoring requests, a bounded
queue answered 503 with Retry-After beyond it, and large batches scored in chunks sized from the model."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from serving_model import rows

import asl_recog as asl
from asl_recog._errors import ConfigurationError
from asl_recog.data._labels import labels_to_indices
from asl_recog.models._base import Model
from asl_recog.serving import __main__ as serving_main
from asl_recog.serving import create_app
from asl_recog.serving._admission import GATED_BODY_BYTES, MIB, plan_limits, row_bytes
from asl_recog.serving._requests import dumps

KEY = "load-caps-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


class Recording(Model):
    """The served model, recording the size of every call, and holding large calls until released."""

    def __init__(self, model: asl.OnnxModel, hold_from: int | None = None) -> None:
        super().__init__()
        self.model, self.hold_from = model, hold_from
        self.calls: list[int] = []
        self.entered = threading.Semaphore(0)
        self.release = threading.Event()
        self.onnx_bytes = model.onnx_bytes  # the graph the service sizes its chunks from

    def predict_proba(self, images: Any) -> np.ndarray:
        self.calls.append(len(images))
        if self.hold_from is not None and len(images) >= self.hold_from:
            self.entered.release()
            assert self.release.wait(30), "the test never released the model"
        return self.model.predict_proba(images)

    def save(self, path: Any) -> Path:
        raise NotImplementedError("not saved in these tests")


def _v2(images: np.ndarray) -> dict[str, Any]:
    return {"inputs": [{"name": "images", "shape": [len(images), 784], "datatype": "UINT8", "data": rows(images)}]}


def test_requests_beyond_the_cap_and_queue_get_503_with_retry_after(
    model: asl.OnnxModel, test_data: asl.SignMnistDataset
) -> None:
    held = Recording(model, hold_from=100)
    app = create_app(held, api_key=KEY, max_concurrent=1, max_queue=1, max_batch=256)
    images = test_data.images[:128]
    body = {"data": rows(images)}
    assert len(dumps(body)) > GATED_BODY_BYTES  # a large request: it takes a slot
    slots = app.state.scoring_slots
    with TestClient(app, raise_server_exceptions=False) as client, ThreadPoolExecutor(2) as pool:
        first = pool.submit(client.post, "/score", json=body, headers=AUTH)
        assert held.entered.acquire(timeout=30), "the first request never reached the model"
        second = pool.submit(client.post, "/score", json=body, headers=AUTH)
        deadline = time.monotonic() + 30
        while slots.statistics().tasks_waiting < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert slots.statistics().tasks_waiting == 1, "the second request is not waiting in the queue"
        try:
            over = client.post("/score", json=body, headers=AUTH)
            v2_over = client.post("/v2/models/asl-recog/infer", json=_v2(images), headers=AUTH)
            small = client.post("/score", json={"data": rows(images[:2])}, headers=AUTH)  # takes no slot
        finally:
            held.release.set()
        answers = [first.result(30), second.result(30)]
    assert over.status_code == 503 and over.headers["retry-after"] == "1", over.text
    assert over.json()["error"] == "overloaded" and set(over.json()) == {"error", "detail", "where"}
    assert v2_over.status_code == 503 and v2_over.headers["retry-after"] == "1"
    assert set(v2_over.json()) == {"error"}  # the protocol's own error form
    assert small.status_code == 200 and small.json()["result"] == model.predict(images[:2]).tolist()
    want = model.predict(images).tolist()
    for answer in answers:  # within the cap and the queue: scored, right
        assert answer.status_code == 200, answer.text
        assert answer.json()["result"] == want
    assert held.calls.count(128) == 2  # the two admitted requests were scored, the refused ones never


def test_a_large_batch_is_scored_in_chunks_with_the_unchunked_answers(
    model: asl.OnnxModel, test_data: asl.SignMnistDataset
) -> None:
    recording = Recording(model)
    per_row = row_bytes(model)
    assert per_row is not None
    app = create_app(recording, api_key=KEY, max_batch=512, chunk_mb=40 * per_row / MIB)
    assert app.state.scoring_limits.chunk_rows == 40
    images = test_data.images[:300]
    want = model.predict_proba(images)  # one call, unchunked
    client = TestClient(app)
    recording.calls.clear()
    answer = client.post("/score?proba=true", json={"data": rows(images)}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    assert recording.calls == [40] * 7 + [20]
    assert answer.json()["result"] == model.predict(images).tolist()
    np.testing.assert_allclose(np.asarray(answer.json()["probabilities"]), want, atol=1e-6)
    recording.calls.clear()
    v2 = client.post("/v2/models/asl-recog/infer", json=_v2(images), headers=AUTH)
    assert v2.status_code == 200 and recording.calls == [40] * 7 + [20]
    probabilities = next(o for o in v2.json()["outputs"] if o["name"] == "probabilities")["data"]
    np.testing.assert_allclose(np.asarray(probabilities).reshape(300, 24), want, atol=1e-6)
    assert client.get("/info", headers=AUTH).json()["scoring_limits"]["chunk_rows"] == 40


def test_chunks_and_the_cap_are_sized_from_the_stored_rows_of_a_knn(
    train_data: asl.SignMnistDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sklearn.neighbors import KNeighborsClassifier

    monkeypatch.setattr("asl_recog.serving._admission.os.cpu_count", lambda: 64)  # memory, not cores, decides
    sizes, caps = {}, {}
    for stored in (300, 1200):
        part = train_data[:stored]
        estimator = KNeighborsClassifier(3).fit(part.flat, labels_to_indices(part.labels))
        knn = asl.export_onnx(asl.SklearnModel(estimator), tmp_path / f"knn{stored}.onnx", parity_data=part[:16])
        sizes[stored] = row_bytes(knn)
        assert plan_limits(knn, max_batch=1024, max_body_bytes=MIB, chunk_mb=1).chunk_rows == MIB // sizes[stored]
        whole = plan_limits(knn, max_batch=1024, max_body_bytes=MIB, chunk_mb=10_000)
        assert whole.chunk_rows == 1024  # never more than a batch
        caps[stored] = whole.max_concurrent
    # Each stored row adds its float32 distance to a few (N x stored) tensors of the graph...
    assert sizes[1200] - sizes[300] >= 900 * 4 * 3
    # ... so fewer whole batches of the larger KNN fit the memory budget at once.
    assert 1 <= caps[1200] < caps[300] <= 64


@pytest.mark.parametrize(
    "setting", [{"max_concurrent": 0}, {"max_queue": -1}, {"chunk_mb": 0}, {"max_concurrent": 1.5}]
)
def test_bad_settings_are_refused(model: asl.OnnxModel, setting: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match=next(iter(setting))):
        create_app(model, auth=False, **setting)


def test_the_command_line_forwards_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(serving_main, "run", lambda model, **options: seen.update(options))
    code = serving_main.main(["m.onnx", "--max-concurrent", "3", "--max-queue", "0", "--chunk-mb", "8"])
    assert code == 0 and (seen["max_concurrent"], seen["max_queue"], seen["chunk_mb"]) == (3, 0, 8.0)
    serving_main.main(["m.onnx"])
    assert (seen["max_concurrent"], seen["max_queue"]) == (None, None)
