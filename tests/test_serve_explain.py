"""POST /explain: its answer, its agreement with ``asl_recog.explain`` on the same 28x28, and 4xx for bad input."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from serving_model import rows

import asl_recog as asl
from asl_recog.data._images import image_to_array_and_hand
from asl_recog.serving import create_app

KEY = "explain-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
BLANK = io.BytesIO()
Image.new("L", (28, 28), 128).save(BLANK, format="PNG")


@pytest.fixture(scope="module")
def client(serving_model_path: Path) -> TestClient:
    return TestClient(create_app(serving_model_path, api_key=KEY))


def _png(image: np.ndarray, side: int = 28) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).resize((side, side), Image.Resampling.BICUBIC).save(buffer, format="PNG")
    return buffer.getvalue()


def test_explain_answers_the_letter_and_a_28x28_map_that_asl_recog_explain_agrees_with(
    client: TestClient, model: asl.OnnxModel, small_test: asl.SignMnistDataset
) -> None:
    image = small_test.images[0]
    response = client.post("/explain", json={"data": rows(image[None])}, headers=AUTH)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"letter", "label", "probability", "heatmap", "input", "patch", "stride", "fill"}
    heatmap = np.asarray(body["heatmap"])
    assert heatmap.shape == (28, 28) and np.isfinite(heatmap).all() and np.abs(heatmap).max() > 0
    assert body["input"] == image.tolist()  # the same 28x28 that /score would read
    expected = asl.explain(model, image)
    assert body["letter"] == expected.letter == model.predict_letters(image[None])[0]
    assert body["label"] == asl.letters_to_labels([expected.letter])[0]
    assert body["probability"] == pytest.approx(expected.probability, abs=1e-6)
    np.testing.assert_allclose(heatmap, expected.heatmap, atol=1e-6)
    # Another letter's map on request, as asl.explain(letter=...) gives it.
    other = client.post("/explain?letter=b", json={"data": rows(image[None])}, headers=AUTH).json()
    assert other["letter"] == "B"
    np.testing.assert_allclose(other["heatmap"], asl.explain(model, image, letter="B").heatmap, atol=1e-6)


def test_an_uploaded_photo_is_explained_as_score_reads_it(
    client: TestClient, model: asl.OnnxModel, small_test: asl.SignMnistDataset, tmp_path: Path
) -> None:
    photo = tmp_path / "hand.png"
    photo.write_bytes(_png(small_test.images[3], side=240))
    files = {"file": ("hand.png", photo.read_bytes(), "image/png")}
    body = client.post("/explain", files=files, headers=AUTH).json()
    scored = client.post("/score?return_input=true", files=files, headers=AUTH).json()
    array, hand = image_to_array_and_hand(photo)
    assert np.asarray(body["input"]).ravel().tolist() == scored["input"][0] == array.ravel().tolist()
    assert body["letter"] == scored["letters"][0]
    assert ("hand" in body) and (body["hand"] is None) is (hand is None)
    np.testing.assert_allclose(body["heatmap"], asl.explain(model, array).heatmap, atol=1e-6)
    # The crop box the page sends gives the map of that box, as /score reads it.
    box = "0,0,200,200"
    cropped = client.post(f"/explain?crop={box}", files=files, headers=AUTH).json()
    scored = client.post(f"/score?return_input=true&crop={box}", files=files, headers=AUTH).json()
    assert np.asarray(cropped["input"]).ravel().tolist() == scored["input"][0] and "hand" not in cropped


@pytest.mark.parametrize(
    ("request_kwargs", "status", "where"),
    [
        ({"json": {"data": [[0] * 784, [0] * 784]}}, 413, None),  # two images: one per request
        ({"files": [("file", ("a.png", BLANK.getvalue())), ("file", ("b.png", BLANK.getvalue()))]}, 413, None),
        ({"json": {"data": [[0] * 783]}}, 422, None),
        ({"json": {"data": [[300] * 784]}}, 422, None),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, None),
        ({"content": b"GIF89a....", "headers": {"content-type": "image/png"}}, 400, "body"),
        ({"json": {"data": [[0] * 784]}, "params": {"letter": "J"}}, 422, "query.letter"),
        ({"json": {"data": [[0] * 784]}, "params": {"top_k": "3"}}, 422, "query.top_k"),
        ({"json": {"data": [[0] * 784]}, "params": {"crop": "0,0,5,5"}}, 422, "query.crop"),
        ({"files": {"file": ("a.png", b"png")}, "params": {"crop": "1,2,3"}}, 422, "query.crop"),
    ],
)
def test_bad_input_is_a_4xx_json_error_naming_it(
    client: TestClient, request_kwargs: dict[str, object], status: int, where: str | None
) -> None:
    headers = {**AUTH, **request_kwargs.pop("headers", {})}  # type: ignore[dict-item]
    response = client.post("/explain", headers=headers, **request_kwargs)  # type: ignore[arg-type]
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] and body["detail"]
    if where is not None:
        assert body["where"] == where
    if status == 413:
        assert "one image per request" in body["detail"]


def test_explain_needs_the_key_and_is_in_the_openapi_document(client: TestClient) -> None:
    assert client.post("/explain", json={"data": [[0] * 784]}).status_code == 401
    operation = client.get("/openapi.json").json()["paths"]["/explain"]["post"]
    assert operation["operationId"] == "explain" and operation["security"] == [{"bearerAuth": []}]
    assert "heatmap" in operation["responses"]["200"]["content"]["application/json"]["schema"]["properties"]


def test_explaining_loads_nothing_heavy_into_the_service(serving_model_path: Path) -> None:
    # The service must fit a 1 GB container: /explain computes the map with numpy alone, and the
    # request imports no module the service did not already hold.
    script = (
        "import sys; from fastapi.testclient import TestClient; from asl_recog.serving import create_app; "
        f"client = TestClient(create_app({str(serving_model_path)!r}, auth=False)); "
        "client.post('/score', json={'data': [[128] * 784]}); before = set(sys.modules); "
        "answer = client.post('/explain', json={'data': [[128] * 784]}); "
        "assert answer.status_code == 200, answer.text; "
        "heavy = ('matplotlib', 'sklearn', 'tensorflow', 'asl_recog.evaluation'); "
        "print([m for m in heavy if m in sys.modules], sorted(set(sys.modules) - before))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[] []"
