"""The service under hostile input: image bombs, odd photos, truncated forms, unhashable columns, slow heads."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from image_cases import encode, jpeg_bomb, odd_modes, png_bomb, with_orientation
from PIL import Image
from serving_model import PIXELS

import asl_recog as asl
from asl_recog.serving import create_app

KEY = "hardening-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def client(serving_model_path: Path) -> TestClient:
    return TestClient(create_app(serving_model_path, api_key=KEY, max_batch=8), raise_server_exceptions=False)


def _form(*photos: bytes, boundary: str = "xYzBoundary") -> bytes:
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="hand{i}.png"\r\n'
        f"Content-Type: image/png\r\n\r\n".encode()
        + photo
        + b"\r\n"
        for i, photo in enumerate(photos)
    ]
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


def _form_headers(boundary: str = "xYzBoundary") -> dict[str, str]:
    return {**AUTH, "Content-Type": f"multipart/form-data; boundary={boundary}"}


@pytest.mark.parametrize(
    "bomb",
    [png_bomb(20000, 20000, color_type=0), png_bomb(13000, 13000), jpeg_bomb()],
    ids=["png_20000", "png_13000_rgba", "jpeg_65500"],
)
def test_image_bombs_get_413_json_not_500(client: TestClient, bomb: bytes) -> None:
    """Defect 3: a 20000x20000 PNG or a 65500x65500 JPEG header raised DecompressionBombError: HTTP 500."""
    raw = client.post("/score", content=bomb, headers={**AUTH, "Content-Type": "image/png"})
    form = client.post("/score", files=[("file", ("bomb.png", bomb, "image/png"))], headers=AUTH)
    for response in (raw, form):
        assert response.status_code == 413, response.text
        assert response.json()["error"] == "image_too_large" and "4096x4096" in response.json()["detail"]
    assert "bomb.png" in form.json()["detail"]


def test_input_data_columns_that_are_not_names_get_422(client: TestClient) -> None:
    """Defect 3: ``{"input_data": {"columns": [[1], ...]}}`` raised TypeError (unhashable list): HTTP 500."""
    for columns in ([[1]] * 784, [{"a": 1}] + PIXELS[1:], [None] * 784, "pixel1", {"pixel1": 0}):
        response = client.post("/score", json={"input_data": {"columns": columns, "data": [[0] * 784]}}, headers=AUTH)
        assert response.status_code == 422, f"{columns!r:.40}: {response.status_code} {response.text[:200]}"
        assert response.json()["where"] == "input_data.columns"


def test_truncated_multipart_is_400_and_never_drops_a_part(
    client: TestClient, model: asl.OnnxModel, test_data: asl.SignMnistDataset
) -> None:
    """Defect 4: a truncated upload of two files answered 200 with one result: a photo silently dropped."""
    photos = [encode(Image.fromarray(image).resize((96, 96))) for image in test_data.images[1:3]]
    body = _form(*photos)
    whole = client.post("/score", content=body, headers=_form_headers())
    assert whole.status_code == 200 and len(whole.json()["result"]) == 2
    served = np.stack([asl.image_to_array(p, find_hand=False) for p in photos])  # the service's own conversion
    assert whole.json()["result"] == model.predict(served).tolist()
    second_part = body.index(b"--xYzBoundary", 10)
    for cut in (len(body) - 4, len(body) - 30, second_part + 150, second_part + 5):
        response = client.post("/score", content=body[:cut], headers=_form_headers())
        assert response.status_code == 400, f"cut at {cut}/{len(body)}: {response.status_code} {response.text}"
        assert response.json()["error"] in ("truncated_body", "bad_image"), response.text
    no_boundary = client.post("/score", content=body, headers={**AUTH, "Content-Type": "multipart/form-data"})
    assert no_boundary.status_code == 400 and no_boundary.json()["where"] == "content-type"
    too_many = client.post("/score", content=_form(*[photos[0]] * 9), headers=_form_headers())
    assert too_many.status_code == 413 and too_many.json()["error"] == "batch_too_large"


def test_uploaded_photos_are_read_upright_and_in_full_range(
    client: TestClient, model: asl.OnnxModel, test_data: asl.SignMnistDataset
) -> None:
    """Defect 4: EXIF orientation was ignored and 16-bit PNGs were clipped to 0/255."""
    photo = Image.fromarray(test_data.images[4]).resize((160, 120), Image.Resampling.BICUBIC)
    upright = asl.image_to_array(encode(photo, "JPEG", quality=95), find_hand=False)
    sideways = [with_orientation(photo, orientation) for orientation in (3, 6, 8)]
    sixteen = odd_modes(np.asarray(photo))["png_I16"]
    response = client.post(  # the centre square: the test is about orientation and range, not the hand
        "/score?proba=true&find_hand=false",
        files=[("file", (f"p{i}.jpg", data, "image/jpeg")) for i, data in enumerate([*sideways, sixteen])],
        headers=AUTH,
    )
    assert response.status_code == 200, response.text
    want = model.predict_proba(np.repeat(upright[None], 4, axis=0))
    np.testing.assert_allclose(np.asarray(response.json()["probabilities"]), want, atol=0.08)


# -- the request-head deadline, on a real uvicorn server --------------------------------------------------


@pytest.fixture(scope="module", params=["httptools", "h11"])
def server(request: pytest.FixtureRequest, serving_model_path: Path) -> Iterator[tuple[str, int]]:
    import importlib

    import uvicorn

    from asl_recog.deploy._local import free_port
    from asl_recog.serving._protocol import with_head_deadline

    module, name = {"httptools": ("httptools_impl", "HttpToolsProtocol"), "h11": ("h11_impl", "H11Protocol")}[
        request.param
    ]
    base = getattr(importlib.import_module(f"uvicorn.protocols.http.{module}"), name)
    port = free_port()
    config = uvicorn.Config(
        create_app(serving_model_path, auth=False),
        host="127.0.0.1",
        port=port,
        http=with_head_deadline(0.5, base),
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    yield "127.0.0.1", port
    server.should_exit = True
    thread.join(10)


def _read_until_closed(sock: socket.socket, limit_s: float) -> tuple[bytes, float]:
    start = time.monotonic()
    sock.settimeout(limit_s)
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data, time.monotonic() - start


def test_half_a_request_head_gets_408_within_the_deadline(server: tuple[str, int]) -> None:
    """Defect 8: a connection with unfinished headers was held for at least 65 s; --timeout did not cover it."""
    with socket.create_connection(server) as sock:
        sock.sendall(b"POST /score HTTP/1.1\r\nHost: localhost\r\nContent-Type: appl")
        answer, waited = _read_until_closed(sock, limit_s=5)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:100]
    assert b'"error": "header_timeout"' in answer and 0.4 < waited < 3


def test_the_deadline_covers_each_request_of_a_kept_alive_connection(server: tuple[str, int]) -> None:
    body = b'{"data": [[%s]]}' % ",".join(["7"] * 784).encode()
    request = (
        b"POST /score HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    with socket.create_connection(server) as sock:
        sock.settimeout(5)
        time.sleep(0.15)  # an idle start within the deadline is fine
        sock.sendall(request[:20])
        time.sleep(0.15)
        sock.sendall(request[20:])  # the head completes in time; the answer comes on the same connection
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 "), first[:200]
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: local")  # the next head stalls
        answer, waited = _read_until_closed(sock, limit_s=5)
    assert answer.startswith(b"HTTP/1.1 408 ") and waited < 3
