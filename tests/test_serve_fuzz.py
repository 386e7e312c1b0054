"""Property-based fuzzing of the scoring service (in-process): from its own OpenAPI schema (schemathesis 4),
and from generators of what the schema cannot describe: images (bombs, every pixel layout, EXIF
orientations, truncated and damaged bytes, truncated forms) and ``input_data`` frames of any content.

None may get a 5xx: request content never causes a server error. Every answer
must be JSON, and every documented status and body must match the schema.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from image_cases import encode, jpeg_bomb, png_bomb
from PIL import Image
from schemathesis import GenerationMode
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from asl_recog.serving import create_app
from asl_recog.serving._requests import PIXEL_COLUMNS

KEY = "fuzz-key"
#: Examples per operation and mode: enough to reach every shape, bounded for CI time.
EXAMPLES = 30


POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
#: (path, method, mode); the probes take no input at all, so there is nothing negative to generate for them.
OPERATIONS = [
    ("/score", "POST", POSITIVE),
    ("/score", "POST", NEGATIVE),
    ("/explain", "POST", POSITIVE),
    ("/explain", "POST", NEGATIVE),
    ("/info", "GET", POSITIVE),
    ("/info", "GET", NEGATIVE),
    ("/health", "GET", POSITIVE),
    ("/ready", "GET", POSITIVE),
]


@pytest.fixture(scope="module")
def api_schema(serving_model_path: Path) -> Any:
    # Small limits keep generated batches cheap; the limits themselves are part of the contract.
    app = create_app(serving_model_path, api_key=KEY, max_batch=3, max_body_bytes=256 * 1024, timeout_s=10)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


# schemathesis.pytest.from_fixture breaks on pytest 9 (it reads the removed Item._nodeid), so the
# operations' Hypothesis strategies are driven directly.
@pytest.mark.parametrize(("path", "method", "mode"), OPERATIONS, ids=lambda v: getattr(v, "value", v))
def test_fuzzed_requests_never_get_a_server_error(
    api_schema: Any, path: str, method: str, mode: GenerationMode
) -> None:
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
        case.validate_response(
            response, checks=[not_a_server_error, content_type_conformance, response_schema_conformance]
        )

    check()
    assert seen, "no request was generated"
    if path in ("/score", "/explain") and mode is POSITIVE:
        assert 200 in seen, f"no generated valid request was answered: {sorted(set(seen))}"


def test_unauthenticated_fuzzing_is_refused(api_schema: Any) -> None:
    """Without the key, /score answers 401 for any body: auth comes before parsing."""
    operation = api_schema["/score"]["POST"]
    for body in ({"data": []}, {"Inputs": {"data": [[0] * 784]}}, {"unknown": True}):
        case = operation.Case(body=body, media_type="application/json")
        assert case.call().status_code == 401


# -- generators beyond the schema: images (bombs, odd modes, EXIF, damage) and input_data variants ----------

_JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-300, 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=6),
    st.sampled_from(PIXEL_COLUMNS),
)
_JSON = st.recursive(
    _JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["columns", "index", "data", "pixel1", "x"]), inner, max_size=4)
    ),
    max_leaves=12,
)
_PIXEL_ROW = st.lists(st.one_of(st.integers(0, 255), _JSON_LEAF), min_size=784, max_size=784)
_COLUMNS = st.one_of(
    _JSON,
    st.permutations(list(PIXEL_COLUMNS)),
    st.lists(st.one_of(st.sampled_from(PIXEL_COLUMNS), _JSON), min_size=784, max_size=784),
)
#: The MLflow split frame and its neighbours: every key optional, any value, rows near and far from valid.
INPUT_DATA = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "columns": _COLUMNS,
            "index": _JSON,
            "extra": _JSON,
            "data": st.one_of(_JSON, st.lists(_PIXEL_ROW, max_size=2)),
        },
    ),
    st.lists(st.one_of(_PIXEL_ROW, _JSON), max_size=2),
    _JSON,
)


@st.composite
def images(draw: st.DrawFn) -> bytes:
    """PNG/JPEG bytes in every pixel layout, with or without an EXIF orientation (valid or not), possibly
    truncated or with a damaged byte, or a bomb whose header declares far more pixels than it holds."""
    if draw(st.integers(0, 9)) == 0:
        return draw(
            st.sampled_from(
                [
                    png_bomb(20000, 20000, color_type=0),
                    png_bomb(13000, 13000),
                    png_bomb(4097, 4096, color_type=2),
                    jpeg_bomb(),
                    jpeg_bomb(70, 65500),
                ]
            )
        )
    fmt = draw(st.sampled_from(["PNG", "JPEG"]))
    modes = ["L", "RGB", "RGBA", "LA", "P", "I;16", "1"] if fmt == "PNG" else ["L", "RGB", "CMYK"]
    mode = draw(st.sampled_from(modes))
    width, height = draw(st.integers(1, 48)), draw(st.integers(1, 48))
    pixels = np.frombuffer(draw(st.binary(min_size=width * height, max_size=width * height)), np.uint8)
    image = Image.fromarray(pixels.reshape(height, width))
    image = (
        Image.fromarray(pixels.reshape(height, width).astype(np.uint16) * 257)
        if mode == "I;16"
        else image.convert(mode)
    )
    options: dict[str, Any] = {}
    orientation = draw(st.one_of(st.none(), st.integers(0, 10)))
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        options["exif"] = exif.tobytes()
    if mode == "P" and draw(st.booleans()):
        options["transparency"] = 0
    data = bytearray(encode(image, fmt, **options))
    damage = draw(st.sampled_from(["none", "truncate", "flip"]))
    if damage == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif damage == "flip" and data:
        position = draw(st.integers(0, len(data) - 1))
        data[position] ^= draw(st.integers(1, 255))
    return bytes(data)


@pytest.fixture(scope="module")
def fuzz_client(serving_model_path: Path) -> Any:
    from fastapi.testclient import TestClient

    app = create_app(serving_model_path, api_key=KEY, max_batch=3, max_body_bytes=256 * 1024, timeout_s=10)
    return TestClient(app, raise_server_exceptions=False)  # a 500 comes back as a response, and fails below


def _assert_client_error_at_most(response: Any, what: str) -> None:
    assert response.status_code < 500, f"{what}: {response.status_code} {response.text[:300]}"
    assert response.status_code in (200, 400, 413, 422), f"{what}: {response.status_code} {response.text[:300]}"
    assert response.headers["content-type"].startswith("application/json"), what
    body = response.json()
    if response.status_code != 200:
        assert set(body) == {"error", "detail", "where"}
        return
    if "hand" in body:  # a photo in which the hand was looked for: per image its box, or null
        assert len(body.pop("hand")) == len(body["result"])
    assert set(body) == {"result", "letters"}


@settings(max_examples=80, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(photos=st.lists(images(), min_size=1, max_size=3), how=st.sampled_from(["raw", "form", "cut_form"]))
def test_fuzzed_images_never_get_a_server_error(fuzz_client: Any, photos: list[bytes], how: str) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    if how == "raw":
        response = fuzz_client.post("/score", content=photos[0], headers={**headers, "Content-Type": "image/png"})
    else:
        boundary = "fuzzBoundary"
        body = (
            b"".join(
                b'--%s\r\nContent-Disposition: form-data; name="file"; filename="p%d"\r\n\r\n%s\r\n'
                % (boundary.encode(), i, photo)
                for i, photo in enumerate(photos)
            )
            + b"--fuzzBoundary--\r\n"
        )
        if how == "cut_form":
            body = body[: len(body) * 2 // 3]
        response = fuzz_client.post(
            "/score", content=body, headers={**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"}
        )
        if how == "cut_form":
            assert response.status_code != 200, "a truncated form must not be scored"
    _assert_client_error_at_most(response, f"{how} upload of {len(photos)} image(s)")


@settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(input_data=INPUT_DATA, key=st.sampled_from(["input_data", "dataframe_split"]))
def test_fuzzed_input_data_never_gets_a_server_error(fuzz_client: Any, input_data: Any, key: str) -> None:
    response = fuzz_client.post(
        "/score",
        content=json.dumps({key: input_data}).encode(),
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
    )
    _assert_client_error_at_most(response, f"{key}: {json.dumps(input_data)[:200]}")
