"""The scoring service in-process (FastAPI TestClient): request shapes, auth, limits, errors, CLI."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from serving_model import AUTH, KEY, PIXELS, dumps, rows, seed_request

import asl_recog as asl
from asl_recog.serving import create_app
from asl_recog.serving.__main__ import add_arguments, main


@pytest.fixture(scope="module")
def images(test_data: asl.SignMnistDataset) -> np.ndarray:
    return test_data.images[1:10]


def png(image: np.ndarray, size: int = 200, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).resize((size, size), Image.Resampling.BICUBIC).save(buffer, format=fmt)
    return buffer.getvalue()


# -- the seed's request --------------------------------------------------------------------------


def test_seed_request_returns_the_models_labels_single_encoded(
    keyed_client: TestClient, model: asl.OnnxModel, test_data: asl.SignMnistDataset
) -> None:
    response = keyed_client.post("/score", json=seed_request(test_data), headers=AUTH)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    answer = json.loads(response.text)
    assert isinstance(answer, dict), "the body must be a JSON object, not a JSON string holding JSON"
    expected = model.predict(test_data[1:10])
    assert answer["result"] == expected.tolist()
    assert answer["letters"] == asl.labels_to_letters(expected).tolist()
    assert all(label in asl.LABELS for label in answer["result"])
    truth = test_data.labels[1:10]
    right = expected == truth
    # The service returns the true label exactly where the model is right, and the model is good enough
    # to be right on most of these rows (it is not faked: these are the model's own answers).
    assert (np.asarray(answer["result"])[right] == truth[right]).all()
    assert right.sum() >= 6, f"model right on only {right.sum()}/9 seed rows"


# -- every request shape ---------------------------------------------------------------------------


def _shapes(images: np.ndarray) -> dict[str, dict[str, Any]]:
    flat = rows(images)
    records = [dict(zip(PIXELS, row, strict=False)) for row in flat]
    order = np.random.default_rng(0).permutation(784)
    shuffled_columns = [PIXELS[i] for i in order]
    return {
        "automl_v1_records": {"data": records},
        "automl_v1_lists": {"data": flat},
        "automl_v1_nested_28x28": {"data": np.asarray(images).tolist()},
        "automl_v1_28x28x1": {"data": np.asarray(images)[..., None].tolist()},
        "automl_v1_floats": {"data": [[float(v) for v in row] for row in flat], "method": "predict"},
        "automl_v2": {"Inputs": {"data": flat}, "GlobalParameters": {"method": "predict"}},
        "automl_v2_records_no_params": {"Inputs": {"data": records}},
        "input_data_split": {"input_data": {"columns": PIXELS, "index": list(range(len(flat))), "data": flat}},
        "input_data_shuffled_columns": {
            "input_data": {"columns": shuffled_columns, "data": [[row[i] for i in order] for row in flat]}
        },
        "input_data_list": {"input_data": flat},
        "mlflow_dataframe_split": {"dataframe_split": {"columns": PIXELS, "data": flat}},
        "mlflow_dataframe_records": {"dataframe_records": records},
        "mlflow_instances": {"instances": flat},
        "mlflow_inputs": {"inputs": np.asarray(images).tolist()},
    }


@pytest.mark.parametrize("shape", list(_shapes(np.zeros((1, 28, 28), np.uint8))))
def test_every_json_shape_scores_like_the_model(
    keyed_client: TestClient, model: asl.OnnxModel, images: np.ndarray, shape: str
) -> None:
    response = keyed_client.post("/score", content=dumps(_shapes(images)[shape]), headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json()["result"] == model.predict(images).tolist()
    assert "probabilities" not in response.json()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_multipart_photo_upload_is_converted_like_the_dataset(
    keyed_client: TestClient, model: asl.OnnxModel, images: np.ndarray, fmt: str
) -> None:
    photos = [png(image, 200 + 20 * i, fmt) for i, image in enumerate(images[:3])]
    files = [("file", (f"hand{i}.{fmt.lower()}", data, f"image/{fmt.lower()}")) for i, data in enumerate(photos)]
    response = keyed_client.post("/score", files=files, headers=AUTH)
    assert response.status_code == 200, response.text
    expected = model.predict(np.stack([asl.image_to_array(data) for data in photos]))
    assert response.json()["result"] == expected.tolist()


def test_raw_image_body(keyed_client: TestClient, model: asl.OnnxModel, images: np.ndarray) -> None:
    data = png(images[0])
    response = keyed_client.post("/score", content=data, headers={**AUTH, "Content-Type": "image/png"})
    assert response.status_code == 200, response.text
    assert response.json()["result"] == model.predict(asl.image_to_array(data)[None]).tolist()


@pytest.mark.parametrize("how", ["query", "automl_v1_method", "automl_v2_method"])
def test_probabilities_on_request(keyed_client: TestClient, model: asl.OnnxModel, images: np.ndarray, how: str) -> None:
    flat = rows(images)
    url, body = {
        "query": ("/score?proba=true", {"data": flat}),
        "automl_v1_method": ("/score", {"data": flat, "method": "predict_proba"}),
        "automl_v2_method": ("/score", {"Inputs": {"data": flat}, "GlobalParameters": {"method": "predict_proba"}}),
    }[how]
    answer = keyed_client.post(url, json=body, headers=AUTH).json()
    assert answer["classes"] == list(asl.LETTERS)
    proba = np.asarray(answer["probabilities"])
    np.testing.assert_allclose(proba, model.predict_proba(images), atol=1e-5)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-4)
    assert answer["result"] == model.predict(images).tolist()


# -- auth ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-key"},
        {"Authorization": KEY},
        {"Authorization": f"Basic {KEY}"},
        {"Authorization": "Bearer "},
    ],
)
def test_missing_or_wrong_key_is_401(
    keyed_client: TestClient, test_data: asl.SignMnistDataset, headers: dict[str, str]
) -> None:
    for method, path in (("POST", "/score"), ("GET", "/info")):
        response = keyed_client.request(method, path, json=seed_request(test_data), headers=headers)
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"


def test_probes_and_schema_need_no_key(keyed_client: TestClient) -> None:
    assert keyed_client.get("/health").json() == {"status": "ok"}
    assert keyed_client.get("/ready").json()["status"] == "ready"
    assert keyed_client.get("/openapi.json").status_code == 200


def test_key_sources(
    serving_model_path: Path,
    images: np.ndarray,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    body = {"data": rows(images[:1])}
    key_file = tmp_path / "keys.txt"
    key_file.write_text("# rotation: both keys work\nprimary-key\nsecondary-key\n")
    with_file = TestClient(create_app(serving_model_path, key_file=key_file))
    for key in ("primary-key", "secondary-key"):
        assert with_file.post("/score", json=body, headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert with_file.post("/score", json=body, headers={"Authorization": "Bearer other"}).status_code == 401

    monkeypatch.setenv("ASL_RECOG_API_KEY", "from-env")
    with_env = TestClient(create_app(serving_model_path))
    assert with_env.post("/score", json=body, headers={"Authorization": "Bearer from-env"}).status_code == 200

    monkeypatch.delenv("ASL_RECOG_API_KEY")
    generated_app = create_app(serving_model_path)
    printed = capsys.readouterr().err
    generated = generated_app.state.api_keys[0]
    assert len(generated) >= 32 and printed.count(generated) == 1
    generated_client = TestClient(generated_app)
    assert generated_client.post("/score", json=body).status_code == 401
    answer = generated_client.post("/score", json=body, headers={"Authorization": f"Bearer {generated}"})
    assert answer.status_code == 200

    open_app = TestClient(create_app(serving_model_path, auth=False))
    assert open_app.post("/score", json=body).status_code == 200
    assert "securitySchemes" not in open_app.get("/openapi.json").json()["components"]


def test_empty_key_file_is_a_clear_error(serving_model_path: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").write_text("\n# nothing\n")
    with pytest.raises(asl.ConfigurationError, match="holds no key"):
        create_app(serving_model_path, key_file=tmp_path / "empty")


# -- limits -------------------------------------------------------------------------------------------


def test_oversized_body_is_413_with_or_without_content_length(serving_model_path: Path, images: np.ndarray) -> None:
    small = TestClient(create_app(serving_model_path, api_key=KEY, max_body_bytes=20_000))
    body = dumps({"data": rows(np.repeat(images, 3, axis=0))})  # ~100 KB
    assert len(body) > 20_000
    declared = small.post("/score", content=body, headers=AUTH)
    assert declared.status_code == 413 and declared.json()["error"] == "body_too_large"

    def chunks():  # no Content-Length: the limit must hold while the body streams in
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    streamed = small.post("/score", content=chunks(), headers=AUTH)
    assert streamed.status_code == 413 and streamed.json()["error"] == "body_too_large"
    assert small.post("/score", json={"data": rows(images[:1])}, headers=AUTH).status_code == 200


def test_batch_over_the_limit_is_413(keyed_client: TestClient, images: np.ndarray) -> None:
    response = keyed_client.post("/score", json={"data": rows(np.repeat(images[:1], 129, axis=0))}, headers=AUTH)
    assert response.status_code == 413
    assert response.json()["error"] == "batch_too_large" and "128" in response.json()["detail"]
    assert (
        keyed_client.post("/score", json={"data": rows(np.repeat(images[:1], 128, axis=0))}, headers=AUTH).status_code
        == 200
    )


class _SlowModel(asl.Model):
    """The real model, made slow: scoring takes ``delay`` seconds."""

    def __init__(self, inner: asl.Model, delay: float) -> None:
        super().__init__()
        self.inner, self.delay = inner, delay

    def predict_proba(self, images: Any) -> np.ndarray:
        if len(images) > 1:  # the warm-up call at start is quick
            time.sleep(self.delay)
        return self.inner.predict_proba(images)

    def save(self, path: Any) -> Path:
        raise NotImplementedError


def test_slow_scoring_times_out_with_504_and_the_service_recovers(model: asl.OnnxModel, images: np.ndarray) -> None:
    app = create_app(_SlowModel(model, delay=1.0), api_key=KEY, timeout_s=0.2)
    slow = TestClient(app)
    response = slow.post("/score", json={"data": rows(np.repeat(images, 10, axis=0))}, headers=AUTH)  # 90 images
    assert response.status_code == 504 and response.json()["error"] == "timeout"
    assert slow.post("/score", json={"data": rows(images[:1])}, headers=AUTH).status_code == 200


def test_unexpected_errors_are_json_500_and_logged(
    model: asl.OnnxModel, images: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(_SlowModel):
        def predict_proba(self, images: Any) -> np.ndarray:
            if len(images) > 1:
                raise RuntimeError("simulated bug")
            return self.inner.predict_proba(images)

    broken = TestClient(create_app(Broken(model, 0), api_key=KEY), raise_server_exceptions=False)
    response = broken.post("/score", json={"data": rows(images[:2])}, headers=AUTH)
    assert response.status_code == 500
    assert response.json()["error"] == "internal_error" and "RuntimeError" in response.json()["detail"]
    assert "simulated bug" in caplog.text


# -- metadata, OpenAPI, CLI -------------------------------------------------------------------------------


def test_metadata_and_openapi(keyed_client: TestClient, model: asl.OnnxModel) -> None:
    meta = keyed_client.get("/info", headers=AUTH).json()
    assert meta["letters"] == list(asl.LETTERS) and meta["version"] == asl.__version__
    assert meta["input"]["max_batch"] == 128 and "0-255" in meta["input"]["format"]
    assert meta["model_metadata"]["input_layout"] == model.metadata["input_layout"]
    schema = keyed_client.get("/openapi.json").json()
    operation = schema["paths"]["/score"]["post"]
    json_body = operation["requestBody"]["content"]["application/json"]
    assert len(json_body["schema"]["oneOf"]) == 3 and "multipart/form-data" in operation["requestBody"]["content"]
    assert operation["security"] == [{"bearerAuth": []}]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("ScoreResponse")
    for name, example in json_body["examples"].items():  # every documented example is accepted
        response = keyed_client.post("/score", json=example["value"], headers=AUTH)
        assert response.status_code == 200, f"example {name}: {response.text[:200]}"


def test_cli_parses_options_and_reports_bad_models(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    args = add_arguments(argparse.ArgumentParser()).parse_args(
        ["m.onnx", "--port", "9000", "--no-auth", "--max-batch", "8", "--timeout", "2.5"]
    )
    assert (args.model, args.port, args.no_auth, args.max_batch, args.timeout) == ("m.onnx", 9000, True, 8, 2.5)
    assert args.host == "127.0.0.1"
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    assert main([str(bad), "--no-auth"]) == 2
    assert "bad.onnx" in capsys.readouterr().err
    assert main([str(bad), "--no-auth", "--key-file", str(bad)]) == 2
    assert "contradict" in capsys.readouterr().err
