"""Property-based fuzzing of the scoring service from its own OpenAPI schema (schemathesis 4, in-process).

Valid and invalid requests are generated for every operation; none may get a
5xx, every answer must be JSON, and every documented status and body must
match the schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from asl_recog.serve import create_app

KEY = "fuzz-key"
#: Examples per operation and mode: enough to reach every shape, bounded for CI time.
EXAMPLES = 30


POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
#: (path, method, mode); the probes take no input at all, so there is nothing negative to generate for them.
OPERATIONS = [("/score", "POST", POSITIVE), ("/score", "POST", NEGATIVE), ("/", "GET", POSITIVE),
              ("/", "GET", NEGATIVE), ("/health", "GET", POSITIVE), ("/ready", "GET", POSITIVE)]


@pytest.fixture(scope="module")
def api_schema(serving_model_path: Path) -> Any:
    # Small limits keep generated batches cheap; the limits themselves are part of the contract.
    app = create_app(serving_model_path, api_key=KEY, max_batch=3, max_body_bytes=256 * 1024, timeout_s=10)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


# schemathesis.pytest.from_fixture breaks on pytest 9 (it reads the removed Item._nodeid), so the
# operations' Hypothesis strategies are driven directly.
@pytest.mark.parametrize(("path", "method", "mode"), OPERATIONS, ids=lambda v: getattr(v, "value", v))
def test_fuzzed_requests_never_get_a_server_error(api_schema: Any, path: str, method: str,
                                                  mode: GenerationMode) -> None:
    operation = api_schema[path][method]
    seen: list[int] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        response = case.call(headers={"Authorization": f"Bearer {KEY}"})
        seen.append(response.status_code)
        assert response.status_code < 500, f"{method} {path}: {response.status_code} {response.text[:300]}"
        content_type = response.headers.get("content-type") or [""]
        assert content_type[0].startswith("application/json"), content_type
        case.validate_response(response, checks=[not_a_server_error, content_type_conformance,
                                                 response_schema_conformance])

    check()
    assert seen, "no request was generated"
    if path == "/score" and mode is POSITIVE:
        assert 200 in seen, f"no generated valid request was scored: {sorted(set(seen))}"


def test_unauthenticated_fuzzing_is_refused(api_schema: Any) -> None:
    """Without the key, /score answers 401 for any body: auth comes before parsing."""
    operation = api_schema["/score"]["POST"]
    for body in ({"data": []}, {"Inputs": {"data": [[0] * 784]}}, {"unknown": True}):
        case = operation.Case(body=body, media_type="application/json")
        assert case.call().status_code == 401
