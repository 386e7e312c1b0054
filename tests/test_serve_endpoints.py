"""The endpoint table (serving/_endpoints.py) is the one source of the service's endpoints.

Every expectation here is read from ``ENDPOINTS``, not written out by hand: the routes the app
serves, which need the key, their ``/metrics`` labels and their OpenAPI entries.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from asl_recog.serving import create_app
from asl_recog.serving._endpoints import ENDPOINTS, METRICS, Endpoint, add_endpoints
from asl_recog.serving._metrics import OTHER, ROUTES, route_of
from asl_recog.serving._v2 import MODEL_NAME

KEY = "endpoint-table-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


def _concrete(endpoint: Endpoint) -> str:
    """A request path of the endpoint: its model name filled in, or a file under its folder."""
    if endpoint.prefix:
        return endpoint.path + "/no-such-file"  # a 404, still counted under the folder's label
    return endpoint.path.replace("{name}", MODEL_NAME)


def _call(client: TestClient, endpoint: Endpoint, headers: dict[str, str] | None = None) -> int:
    return client.request(endpoint.method, _concrete(endpoint), headers=headers).status_code


@pytest.fixture(scope="module")
def app(serving_model_path: Path) -> FastAPI:
    return create_app(serving_model_path, api_key=KEY)


def test_every_endpoint_is_counted_under_its_own_label(app: FastAPI) -> None:
    client = TestClient(app)
    for endpoint in ENDPOINTS:
        _call(client, endpoint, AUTH)
    for probe in ("/wp-admin", "/static/../secret", "/v2/models/x/y/z", "/docs/static"):
        client.get(probe, headers=AUTH)
    text = client.get("/metrics", headers=AUTH).text
    counted: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "asl_recog_requests":
            for sample in family.samples:
                if sample.name == "asl_recog_requests_total":
                    route = sample.labels["route"]
                    counted[route] = counted.get(route, 0.0) + sample.value
    labels = {endpoint.metric_label for endpoint in ENDPOINTS}
    assert labels <= set(counted), f"endpoints counted under another label: {sorted(labels - set(counted))}"
    assert set(counted) == labels | {OTHER}  # unknown paths share one label: bounded series
    assert counted[OTHER] == 4
    assert len(labels) == len(ENDPOINTS)  # one label an endpoint: none is counted with another
    for endpoint in ENDPOINTS:
        assert route_of(_concrete(endpoint)) == endpoint.metric_label
    assert set(ROUTES) == labels


def test_public_and_keyed_endpoints_follow_the_table(app: FastAPI) -> None:
    client = TestClient(app)
    for endpoint in ENDPOINTS:
        status = _call(client, endpoint)
        assert (status == 401) is not endpoint.public, f"{endpoint.method} {endpoint.path}: {status} without a key"


def test_the_app_serves_exactly_the_table(app: FastAPI) -> None:
    # A mount (the docs' files) has no methods: its files are fetched with GET.
    served = [(getattr(route, "path", None), getattr(route, "methods", None) or {"GET"}) for route in app.routes]
    assert {path for path, _ in served} == {endpoint.path for endpoint in ENDPOINTS}
    for endpoint in ENDPOINTS:
        assert any(path == endpoint.path and endpoint.method in methods for path, methods in served), endpoint.path


def test_the_openapi_document_follows_the_table(app: FastAPI) -> None:
    paths = TestClient(app).get("/openapi.json").json()["paths"]
    for endpoint in ENDPOINTS:
        operation = paths.get(endpoint.path, {}).get(endpoint.method.lower())
        documented = endpoint.summary is not None or endpoint.operation is not None
        assert (operation is not None) is documented, endpoint.path
        if operation is not None:
            assert ("security" in operation) is not endpoint.public, endpoint.path
            if endpoint.summary is not None:
                assert operation["summary"] == endpoint.summary


def test_metrics_off_leaves_its_row_out_and_a_row_without_handler_is_refused(serving_model_path: Path) -> None:
    app = create_app(serving_model_path, auth=False, metrics=False)
    assert METRICS.path not in {getattr(route, "path", None) for route in app.routes}
    assert TestClient(app).get(METRICS.path).status_code == 404
    with pytest.raises(ValueError, match="without a handler"):
        add_endpoints(FastAPI(), {})


def test_a_path_is_public_or_keyed_for_every_method() -> None:
    # The guard decides by path: two rows of one path must agree.
    by_path: dict[str, set[bool]] = {}
    for endpoint in ENDPOINTS:
        by_path.setdefault(endpoint.path, set()).add(endpoint.public)
    assert all(len(kinds) == 1 for kinds in by_path.values())
