"""The scoring service's answer to malformed input: always 4xx JSON naming what is wrong and where."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from serving_model import AUTH, PIXELS, dumps, rows

import asl_recog as asl


@pytest.fixture(scope="module")
def images(test_data: asl.SignMnistDataset) -> np.ndarray:
    return test_data.images[1:10]


# -- malformed input: always 4xx JSON naming what and where ------------------------------------------


def _malformed(images: np.ndarray) -> list[tuple[str, bytes, int, str]]:
    good = rows(images[:2])
    record = dict(zip(PIXELS, good[0], strict=False))

    def with_pixel(index: int, value: Any) -> bytes:
        bad = [list(r) for r in good]
        bad[1][index] = value
        return dumps({"data": bad})

    return [
        (
            "out of range in a record",
            dumps({"data": [record, {**record, "pixel17": 300}]}),
            422,
            "data[1].pixel17: value 300 is outside 0-255",
        ),
        ("out of range in a list", with_pixel(16, 300), 422, "data[1][16]: value 300 is outside 0-255"),
        ("negative", with_pixel(0, -1), 422, "data[1][0]: value -1 is outside 0-255"),
        ("NaN", b'{"data": [[' + b"0," * 783 + b"NaN]]}", 422, "data[0][783]: value is NaN"),
        ("Infinity", b'{"data": [[' + b"0," * 783 + b"Infinity]]}", 422, "outside 0-255"),
        # orjson reads 10**30 as 1e+30, the standard library as an int: both are named and refused
        ("huge integer", with_pixel(5, 10**30), 422, "data[1][5]: value 1"),
        ("fraction", with_pixel(3, 0.5), 422, "data[1][3]: value 0.5 is not a whole number"),
        ("string pixel", with_pixel(2, "12"), 422, "data[1][2]: value the string '12' is not a number"),
        ("null pixel", with_pixel(2, None), 422, "data[1][2]: value null is not a number"),
        ("boolean pixel", with_pixel(7, True), 422, "data[1][7]: value true is a boolean"),
        ("nested list pixel", with_pixel(7, [1]), 422, "data[1]"),
        ("783 pixels", dumps({"data": [good[0][:-1]]}), 422, "data[0]: row has 783 values; expected 784"),
        ("785 pixels", dumps({"data": [good[0] + [0]]}), 422, "data[0]: row has 785 values"),
        ("ragged batch", dumps({"data": [good[0], good[1][:10]]}), 422, "data[1]: row has 10 values"),
        (
            "missing pixel key",
            dumps({"data": [{k: v for k, v in record.items() if k != "pixel784"}]}),
            422,
            "data[0]: 1 pixel key(s) missing: 'pixel784'",
        ),
        ("label column left in", dumps({"data": [{"label": 3, **record}]}), 422, "drop the label column"),
        ("mixed row kinds", dumps({"data": [record, good[0]]}), 422, "data"),
        ("row is a number", dumps({"data": [5]}), 422, "data[0]: a row must be an object"),
        ("data not a list", dumps({"data": {"pixel1": 0}}), 422, "data: expected a list of rows, got an object"),
        ("empty batch", dumps({"data": []}), 422, "data: empty batch"),
        ("empty v2 batch", dumps({"Inputs": {"data": []}}), 422, "Inputs.data: empty batch"),
        ("unknown shape", dumps({"rows": good}), 422, "unknown request shape"),
        ("two shapes", dumps({"data": good, "instances": good}), 422, "several request shapes"),
        ("extra top-level key", dumps({"data": good, "extra": 1}), 422, "unexpected key(s) ['extra']"),
        (
            "bad method",
            dumps({"Inputs": {"data": good}, "GlobalParameters": {"method": "explain"}}),
            422,
            "GlobalParameters.method: method 'explain' is not one of",
        ),
        (
            "bad global parameter",
            dumps({"Inputs": {"data": good}, "GlobalParameters": {"k": 1}}),
            422,
            "unknown parameter(s) ['k']",
        ),
        ("Inputs without data", dumps({"Inputs": good}), 422, 'Inputs: expected {"data": [rows]}'),
        (
            "bad columns",
            dumps({"input_data": {"columns": ["a", "b"], "data": good}}),
            422,
            "input_data.columns: columns must be pixel1..pixel784",
        ),
        ("index length", dumps({"input_data": {"index": [0], "data": good}}), 422, "input_data.index"),
        ("top-level list", dumps(good), 422, "$: the body must be a JSON object, got a list"),
        ("top-level string", b'"{\\"data\\": []}"', 422, "the body must be a JSON object"),
        ("not JSON", b"pixel1=0&pixel2=3", 400, "not valid JSON"),
        ("truncated JSON", dumps({"data": good})[:-20], 400, "not valid JSON"),
        ("empty body", b"", 400, "not valid JSON"),
        ("binary garbage", bytes(range(256)), 400, "not valid JSON"),
        ("deep nesting", b"[" * 100_000 + b"]" * 100_000, 400, "not valid JSON"),
    ]


def test_malformed_requests_get_4xx_json_naming_the_problem(keyed_client: TestClient, images: np.ndarray) -> None:
    for name, body, status, detail in _malformed(images):
        response = keyed_client.post("/score", content=body, headers={**AUTH, "Content-Type": "application/json"})
        assert response.status_code == status, f"{name}: {response.status_code} {response.text[:300]}"
        answer = response.json()
        assert set(answer) == {"error", "detail", "where"}, name
        assert detail in answer["detail"], f"{name}: {answer['detail']!r}"
    # still up, still right
    assert keyed_client.get("/health").status_code == 200
    assert keyed_client.post("/score", json={"data": rows(images)}, headers=AUTH).status_code == 200


def test_bad_uploads_and_parameters_are_4xx(keyed_client: TestClient) -> None:
    cases = [
        keyed_client.post("/score", files={"file": ("hand.png", b"not an image", "image/png")}, headers=AUTH),
        keyed_client.post("/score", content=b"\x89PNG broken", headers={**AUTH, "Content-Type": "image/png"}),
        keyed_client.post(
            "/score", data={"note": "no file"}, files={"other": ("x.txt", b"", "text/plain")}, headers=AUTH
        ),
        keyed_client.post("/score", content=b"--x\r\nbroken", headers={**AUTH, "Content-Type": "multipart/form-data"}),
        keyed_client.post("/score?proba=maybe", json={"data": []}, headers=AUTH),
        keyed_client.get("/score", headers=AUTH),
        keyed_client.get("/nowhere", headers=AUTH),
    ]
    assert [r.status_code for r in cases] == [400, 400, 400, 400, 422, 405, 404]
    assert all(set(r.json()) == {"error", "detail", "where"} for r in cases)
    assert "hand.png" in cases[0].json()["detail"]
