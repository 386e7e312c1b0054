"""/score's answer extensions (top_k, threshold and "unknown", return_input, crop), /info, and the page's files."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from serving_model import rows, with_threshold
from tool_modules import load_tool

import asl_recog as asl
from asl_recog._errors import ModelFileError
from asl_recog.data._images import image_to_array
from asl_recog.serving import create_app
from asl_recog.serving._page import STATIC
from asl_recog.serving._requests import dumps

KEY = "answers-key-0123456789"
MASSEY = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "massey-asl-photos"
needs_massey = pytest.mark.skipif(
    not MASSEY.is_dir(), reason="the Massey photos live outside the project (../shared/datasets)"
)
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def client(serving_model_path: Path) -> TestClient:
    return TestClient(create_app(serving_model_path, api_key=KEY, max_batch=64))


@pytest.fixture(scope="module")
def threshold_path(serving_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return with_threshold(serving_model_path, "0.6", tmp_path_factory.mktemp("threshold"))


def _png(image: np.ndarray | Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    picture = image if isinstance(image, Image.Image) else Image.fromarray(image)
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _scene(image: np.ndarray, at: tuple[int, int], side: int = 112) -> Image.Image:
    """A 400x300 noisy scene with the (enlarged) hand image at ``at``: only a crop finds the hand."""
    noise = np.random.default_rng(0).integers(0, 256, (300, 400), dtype=np.uint8)
    scene = Image.fromarray(noise)
    scene.paste(Image.fromarray(image).resize((side, side), Image.Resampling.BICUBIC), at)
    return scene


def test_without_parameters_the_answer_is_unchanged_byte_for_byte(
    client: TestClient, model: asl.OnnxModel, small_test: asl.SignMnistDataset
) -> None:
    images = small_test.images[:5]
    labels = model.predict(images)
    expected = dumps({"result": labels.tolist(), "letters": asl.labels_to_letters(labels).tolist()})
    assert client.post("/score", json={"data": rows(images)}, headers=AUTH).content == expected
    assert client.post("/score?proba=false", json={"data": rows(images)}, headers=AUTH).content == expected


def test_top_k_lists_the_most_probable_letters_in_order(
    client: TestClient, model: asl.OnnxModel, small_test: asl.SignMnistDataset
) -> None:
    images = small_test.images[:4]
    body = client.post("/score?top_k=3&proba=true", json={"data": rows(images)}, headers=AUTH).json()
    proba = model.predict_proba(images)
    assert len(body["top"]) == 4
    for top, row, letter in zip(body["top"], proba, body["letters"], strict=True):
        assert [e["letter"] for e in top] == [asl.LETTERS[k] for k in np.argsort(-row)[:3]]
        assert top[0]["letter"] == letter and top[0]["label"] == asl.letters_to_labels([letter])[0]
        assert [e["probability"] for e in top] == sorted((e["probability"] for e in top), reverse=True)
        assert top[0]["probability"] == pytest.approx(row.max(), abs=1e-6)
    assert "threshold" not in body and "input" not in body  # only what was asked for


@pytest.mark.parametrize(
    ("query", "where"),
    [
        ("top_k=0", "query.top_k"),
        ("top_k=25", "query.top_k"),
        ("top_k=three", "query.top_k"),
        ("threshold=-0.1", "query.threshold"),
        ("threshold=1.5", "query.threshold"),
        ("threshold=nan", "query.threshold"),
        ("return_input=perhaps", "query.return_input"),
        ("crop=1,2,3", "query.crop"),
        ("crop=0,0,-5,5", "query.crop"),
        ("find_hand=maybe", "query.find_hand"),
        ("top-k=3", "query.top-k"),  # a misspelt option is refused, not dropped
        ("proba=true&returninput=1", "query.returninput"),
    ],
)
def test_bad_parameters_are_422_naming_the_parameter(
    client: TestClient, small_test: asl.SignMnistDataset, query: str, where: str
) -> None:
    response = client.post(f"/score?{query}", files={"file": ("hand.png", _png(small_test.images[0]))}, headers=AUTH)
    assert response.status_code == 422, response.text
    assert response.json()["where"] == where and response.json()["error"] == "invalid_parameter"


def test_threshold_turns_low_confidence_answers_into_unknown(
    client: TestClient, model: asl.OnnxModel, small_test: asl.SignMnistDataset
) -> None:
    images = small_test.images[:40]
    confidence = model.predict_proba(images).max(axis=1)
    cut = float(np.median(confidence))
    body = client.post(f"/score?threshold={cut}", json={"data": rows(images)}, headers=AUTH).json()
    low = confidence < cut
    assert body["threshold"] == cut and low.any() and (~low).any()
    assert [letter == "unknown" for letter in body["letters"]] == low.tolist()
    assert [label is None for label in body["result"]] == low.tolist()
    assert np.asarray(body["result"], dtype=object)[~low].tolist() == model.predict(images)[~low].tolist()


def test_return_input_gives_back_the_28x28_images_scored(client: TestClient, small_test: asl.SignMnistDataset) -> None:
    images = small_test.images[:3]
    body = client.post("/score?return_input=true", json={"data": rows(images)}, headers=AUTH).json()
    assert body["input"] == rows(images)
    photo = _png(np.asarray(Image.fromarray(images[0]).resize((150, 150))))
    body = client.post("/score?return_input=1", files={"file": ("h.png", photo)}, headers=AUTH).json()
    assert body["input"] == [image_to_array(photo).ravel().tolist()]  # the library's own conversion


def test_crop_finds_the_hand_in_a_larger_photo(
    client: TestClient, model: asl.OnnxModel, small_test: asl.SignMnistDataset
) -> None:
    proba = model.predict_proba(small_test.images)
    k = int(np.argmax(proba.max(axis=1)))  # a test image the model is sure of
    scene = _png(_scene(small_test.images[k], (230, 90)))
    body = client.post(
        "/score?crop=230,90,112,112&return_input=true", files={"file": ("scene.png", scene)}, headers=AUTH
    ).json()
    assert body["letters"] == [asl.LETTERS[int(np.argmax(proba[k]))]]
    seen = np.asarray(body["input"][0], dtype=np.int16).reshape(28, 28)
    assert np.abs(seen - small_test.images[k]).mean() < 6  # the hand, not the noise around it
    # The same box as a raw image body.
    raw = client.post("/score?crop=230,90,112,112", content=scene, headers={**AUTH, "content-type": "image/png"})
    assert raw.json()["letters"] == body["letters"]


def test_crop_is_measured_on_the_upright_photo(client: TestClient, small_test: asl.SignMnistDataset) -> None:
    upright = _scene(small_test.images[0], (20, 150)).convert("RGB")
    # Stored turned a quarter, with EXIF orientation 6 ("rotate 90 clockwise to view"), as phones do.
    exif = Image.Exif()
    exif[0x0112] = 6
    stored = _png(upright.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=95, exif=exif)
    box = "crop=20,150,112,112&return_input=true"
    turned = client.post(f"/score?{box}", files={"file": ("phone.jpg", stored)}, headers=AUTH).json()
    plain = client.post(f"/score?{box}", files={"file": ("flat.png", _png(upright))}, headers=AUTH).json()
    difference = np.abs(np.asarray(turned["input"][0], dtype=np.int16) - np.asarray(plain["input"][0])).mean()
    assert difference < 8, difference  # JPEG noise only: the box landed on the same pixels


def test_crop_outside_the_photo_or_on_json_is_422(client: TestClient, small_test: asl.SignMnistDataset) -> None:
    photo = _png(_scene(small_test.images[0], (0, 0)))  # 400x300
    outside = client.post("/score?crop=350,10,100,100", files={"file": ("s.png", photo)}, headers=AUTH)
    assert outside.status_code == 422 and outside.json()["where"] == "query.crop"
    assert "400x300" in outside.json()["detail"]
    on_json = client.post("/score?crop=0,0,10,10", json={"data": rows(small_test.images[:1])}, headers=AUTH)
    assert on_json.status_code == 422 and on_json.json()["where"] == "query.crop"
    on_json = client.post("/score?find_hand=false", json={"data": rows(small_test.images[:1])}, headers=AUTH)
    assert on_json.status_code == 422 and on_json.json()["where"] == "query.find_hand"


def test_a_photo_without_a_hand_says_so_and_is_refused_when_a_threshold_is_in_force(
    client: TestClient, model: asl.OnnxModel
) -> None:
    import skimage.data

    cup = _png(skimage.data.coffee(), "JPEG", quality=90)  # a cup of coffee: no hand
    files = {"file": ("cup.jpg", cup, "image/jpeg")}
    centre = image_to_array(cup, find_hand=False)
    guessed = client.post("/score?return_input=true", files=files, headers=AUTH).json()
    assert guessed["hand"] == [None] and "reasons" not in guessed  # no threshold: read from the centre square
    assert guessed["letters"] == asl.labels_to_letters(model.predict(centre[None])).tolist()
    assert guessed["input"] == [centre.ravel().tolist()]
    refused = client.post("/score?threshold=0&return_input=true", files=files, headers=AUTH).json()
    assert refused["letters"] == ["unknown"] and refused["result"] == [None] and refused["reasons"] == ["no_hand"]
    assert refused["input"] == guessed["input"]
    # A box from the client is read as it is: no hand is looked for, so none is missing.
    boxed = client.post("/score?threshold=0&crop=100,50,300,300", files=files, headers=AUTH).json()
    assert "hand" not in boxed and boxed["reasons"] == [None] and boxed["letters"] != ["unknown"]
    plain = client.post(
        "/score?find_hand=false&threshold=0", content=cup, headers={**AUTH, "content-type": "image/jpeg"}
    )
    assert "hand" not in plain.json() and plain.json()["reasons"] == [None]


def test_below_the_threshold_the_reason_is_not_sure(client: TestClient, small_test: asl.SignMnistDataset) -> None:
    body = client.post("/score?threshold=1", json={"data": rows(small_test.images[:3])}, headers=AUTH).json()
    assert body["letters"] == ["unknown"] * 3 and body["reasons"] == ["not_sure"] * 3
    assert "hand" not in body  # 28x28 pixels: nothing to look for


@needs_massey
def test_a_photo_is_cut_to_the_hand_the_library_finds_and_the_answer_says_where(
    client: TestClient, model: asl.OnnxModel
) -> None:
    photos = [next(iter(sorted((MASSEY / letter).iterdir()))) for letter in ("A", "C", "L")]
    files = [("file", (path.name, path.read_bytes(), "image/jpeg")) for path in photos]
    body = client.post("/score?return_input=true&threshold=0", files=files, headers=AUTH).json()
    expected = [asl.image_to_array_and_hand(path) for path in photos]
    for (array, hand), seen, box in zip(expected, body["input"], body["hand"], strict=True):
        assert hand is not None and box == {
            "x": hand.x,
            "y": hand.y,
            "width": hand.width,
            "height": hand.height,
            "score": round(hand.score, 4),
        }
        assert seen == array.ravel().tolist()  # the service's 28x28 is the library's, pixel for pixel
    assert body["reasons"] == [None, None, None]
    assert body["result"] == model.predict(np.stack([array for array, _ in expected])).tolist()
    centre = client.post("/score?return_input=true&find_hand=false", files=files[:1], headers=AUTH).json()
    assert "hand" not in centre and centre["input"] == [image_to_array(photos[0], find_hand=False).ravel().tolist()]


def test_model_threshold_from_metadata_applies_without_parameters(
    threshold_path: Path, small_test: asl.SignMnistDataset
) -> None:
    client = TestClient(create_app(threshold_path, api_key=KEY))
    model = asl.OnnxModel.load(threshold_path)
    confidence = model.predict_proba(small_test.images).max(axis=1)
    body = client.post("/score", json={"data": rows(small_test.images)}, headers=AUTH).json()
    assert body["threshold"] == 0.6
    assert [letter == "unknown" for letter in body["letters"]] == (confidence < 0.6).tolist()
    override = client.post("/score?threshold=0", json={"data": rows(small_test.images)}, headers=AUTH).json()
    assert override["threshold"] == 0 and "unknown" not in override["letters"]
    assert client.get("/info", headers=AUTH).json()["unknown_threshold"] == 0.6


@pytest.mark.parametrize("value", ["abc", "1.5", "-1"])
def test_a_malformed_metadata_threshold_fails_start_up(serving_model_path: Path, tmp_path: Path, value: str) -> None:
    with pytest.raises(ModelFileError, match=r"asl_recog\.unknown_threshold"):
        create_app(with_threshold(serving_model_path, value, tmp_path), api_key=KEY)


def test_page_and_its_files_are_public_and_info_keeps_the_key(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "connect-src 'self'" in page.headers["content-security-policy"]
    for name in ("page.js", "explain.js", "page.css", "letters.png"):
        assert client.get(f"/static/{name}").status_code == 200, name
    assert client.get("/info").status_code == 401
    assert client.get("/static/../_app.py").status_code in (401, 404)  # no path reaches the file system
    assert "/" not in client.get("/openapi.json").json()["paths"]


def test_page_files_load_nothing_from_elsewhere() -> None:
    for path in STATIC.iterdir():
        if path.suffix in (".html", ".css", ".js"):
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.IGNORECASE), path.name
            assert "@import" not in text and "url(" not in text, path.name


def test_serve_prints_the_address_of_the_page(
    serving_model_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import uvicorn

    from asl_recog.serving import run

    started: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: started.append(options))  # no port is opened
    run(serving_model_path, host="0.0.0.0", port=8123, api_key=KEY)
    assert started and started[0]["port"] == 8123
    assert "open http://127.0.0.1:8123/ in a browser" in capsys.readouterr().err


def test_serve_refuses_a_busy_port_before_printing_a_key_or_an_address(
    serving_model_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    from asl_recog.serving.__main__ import main as serve_main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert serve_main([str(serving_model_path), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "--port" in err
    assert "key" not in err.lower() and "open http" not in err  # nothing that looks like a running service


def test_serve_refuses_a_bad_model_before_generating_a_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from asl_recog.serving.__main__ import main as serve_main

    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an ONNX graph")
    assert serve_main([str(broken), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "broken.onnx" in err and "generated API key" not in err


def test_the_letter_chart_shows_each_letters_typical_training_image(train_data: asl.SignMnistDataset) -> None:
    tool = load_tool("make_letter_chart")
    chart = np.asarray(Image.open(STATIC / "letters.png").convert("L"))
    side = 28 * tool.SCALE
    for k, image in enumerate(tool.typical_images(train_data)):
        x, y = (k % tool.COLUMNS) * side, (k // tool.COLUMNS) * (side + tool.LABEL_BAND)
        cell = chart[y : y + side : tool.SCALE, x : x + side : tool.SCALE]  # one pixel per enlarged pixel
        assert (cell == image).all(), f"letters.png is stale at {asl.LETTERS[k]}: run python tools/make_letter_chart.py"
