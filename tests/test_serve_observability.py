"""/metrics read by Prometheus' own text parser, X-Request-ID, the opt-in access log, and offline API docs."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

import asl_recog as asl
from asl_recog.serving import create_app

KEY = "obs-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text exposition, parsed by prometheus-client's parser."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_count_routes_statuses_latency_inference_and_batch_sizes(
    serving_model_path: Path, test_data: asl.SignMnistDataset
) -> None:
    client = TestClient(create_app(serving_model_path, api_key=KEY))  # a fresh app: its own registry
    rows = test_data.images[:3].reshape(3, 784).tolist()
    for _ in range(2):
        assert client.post("/score", json={"data": rows}, headers=AUTH).status_code == 200
    assert client.post("/score", json={"data": rows}).status_code == 401
    assert client.post("/score", json={"data": [[300] * 784]}, headers=AUTH).status_code == 422
    assert client.get("/no/such/path", headers=AUTH).status_code == 404
    assert client.get("/metrics").status_code == 401  # traffic figures are the operator's (docs/serving.md)
    reply = client.get("/metrics", headers=AUTH)
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    samples = _samples(reply.text)

    def requests(route: str, status: str) -> float:
        return samples.get(("asl_recog_requests_total", (("route", route), ("status", status))), 0.0)

    assert requests("/score", "200") == 2 and requests("/score", "401") == 1 and requests("/score", "422") == 1
    assert requests("other", "404") == 1  # unknown paths share one series: no unbounded label values
    assert requests("/metrics", "401") == 1
    assert samples[("asl_recog_request_duration_seconds_count", (("route", "/score"),))] == 4
    assert samples[("asl_recog_request_duration_seconds_sum", (("route", "/score"),))] > 0
    # two model calls of 3 images each (the 401 and the 422 never reach the model)
    assert samples[("asl_recog_batch_size_count", ())] == 2 and samples[("asl_recog_batch_size_sum", ())] == 6
    assert samples[("asl_recog_batch_size_bucket", (("le", "2.0"),))] == 0
    assert samples[("asl_recog_batch_size_bucket", (("le", "4.0"),))] == 2
    assert 0 < samples[("asl_recog_inference_duration_seconds_sum", ())] < 10


@pytest.fixture(scope="module")
def client(serving_model_path: Path) -> TestClient:
    return TestClient(create_app(serving_model_path, api_key=KEY))


def test_request_id_is_echoed_or_generated_on_every_answer(client: TestClient) -> None:
    assert client.get("/health", headers={"X-Request-ID": "trace-42"}).headers["x-request-id"] == "trace-42"
    first, second = client.get("/health").headers["x-request-id"], client.get("/health").headers["x-request-id"]
    assert first != second and re.fullmatch(r"[0-9a-f]{12}-\d+", first)
    refused = client.post("/score", json={}, headers={"X-Request-ID": "r-401"})  # the key check answers too
    assert refused.status_code == 401 and refused.headers["x-request-id"] == "r-401"
    too_long = client.get("/health", headers={"X-Request-ID": "x" * 300}).headers["x-request-id"]
    assert too_long != "x" * 300  # replaced, not echoed: it could forge log lines downstream


def test_default_score_answer_is_unchanged(client: TestClient, test_data: asl.SignMnistDataset) -> None:
    reply = client.post("/score", json={"data": [test_data.images[0].ravel().tolist()]}, headers=AUTH)
    assert set(reply.json()) == {"result", "letters"}
    assert reply.content.startswith(b'{"result":[')


def test_access_log_is_opt_in_and_carries_the_request_id(
    serving_model_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    quiet = TestClient(create_app(serving_model_path, api_key=KEY))
    logging_on = TestClient(create_app(serving_model_path, api_key=KEY, access_log=True))
    with caplog.at_level(logging.INFO, logger="asl_recog.serving.access"):
        quiet.get("/health", headers={"X-Request-ID": "quiet-1"})
        logging_on.post("/score", json={"data": [[0] * 784]}, headers={**AUTH, "X-Request-ID": "loud-1"})
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "asl_recog.serving.access"]
    assert len(lines) == 1
    line = lines[0]
    assert line["request_id"] == "loud-1" and line["path"] == "/score" and line["status"] == 200
    assert line["method"] == "POST" and line["duration_ms"] > 0


def test_api_docs_load_from_installed_files_without_a_key(client: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        sources = re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r"url: '([^']+)'", html)
        assert sources and all(s.startswith("/") for s in sources), sources  # no CDN, no internet
        for source in sources:
            if source.startswith("/docs/static/"):
                assert client.get(source).status_code == 200, source
    asset = client.get("/docs/static/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.content) > 100_000
    assert client.get("/docs/static/../score").status_code in (401, 404)  # no way past the key through the mount


def test_metrics_families_are_described(client: TestClient) -> None:
    families = {f.name: f for f in text_string_to_metric_families(client.get("/metrics", headers=AUTH).text)}
    assert {
        "asl_recog_requests",
        "asl_recog_request_duration_seconds",
        "asl_recog_inference_duration_seconds",
        "asl_recog_batch_size",
    } <= set(families)
    assert families["asl_recog_request_duration_seconds"].type == "histogram"
    assert np.isfinite([s.value for f in families.values() for s in f.samples]).all()


def test_metrics_can_be_switched_off_and_scoring_is_the_same(
    serving_model_path: Path, client: TestClient, test_data: asl.SignMnistDataset
) -> None:
    plain = TestClient(create_app(serving_model_path, api_key=KEY, metrics=False))
    body = {"data": test_data.images[:4].reshape(4, 784).tolist()}
    reply = plain.post("/score", json=body, headers={**AUTH, "X-Request-ID": "no-metrics-1"})
    assert reply.json() == client.post("/score", json=body, headers=AUTH).json()
    assert reply.headers["x-request-id"] == "no-metrics-1"  # request ids do not depend on metrics
    assert plain.get("/metrics", headers=AUTH).status_code == 404
