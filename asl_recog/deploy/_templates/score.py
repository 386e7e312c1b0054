"""Azure ML scoring script for an asl_recog sign classifier (generated; do not edit by hand).

Azure ML calls ``init()`` once and ``run(raw_data)`` per request. It needs only
onnxruntime, numpy and the standard library: ``asl_requests.py`` (a copy of
``asl_recog/serving/_requests.py``) and ``asl_scoring.json`` (the model's input
layout and classes) are shipped beside it, and the ``.onnx`` model is read from
``$AZUREML_MODEL_DIR``. It accepts the same JSON shapes as ``asl-recog serve``
and returns a dict, which the Azure inference server encodes once:
``{"result": [labels], "letters": [...]}`` (+ ``probabilities`` with method predict_proba).
"""

from __future__ import annotations

import glob
import json
import logging
import os
from typing import Any

import numpy as np
import onnxruntime as ort
from asl_requests import RequestError, parse_json, score_response

CONFIG_FILE = "asl_scoring.json"
logger = logging.getLogger("asl_recog.score")
_session: Any = None
_config: dict[str, Any] = {}


def _model_path(config: dict[str, Any]) -> str:
    """The .onnx file under $AZUREML_MODEL_DIR (v1 and v2 nest it differently), else beside this script."""
    root = os.environ.get("AZUREML_MODEL_DIR") or os.path.dirname(os.path.abspath(__file__))
    found = sorted(glob.glob(os.path.join(root, "**", "*.onnx"), recursive=True))
    named = [p for p in found if os.path.basename(p) == config.get("model_file")]
    if not (named or found):
        raise FileNotFoundError(
            f"no .onnx model under {root!r} (AZUREML_MODEL_DIR); register the model with the deployment"
        )
    return (named or found)[0]


def init() -> None:
    """Load the model once per worker."""
    global _session, _config
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, CONFIG_FILE), encoding="utf-8") as fh:
        _config = json.load(fh)
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(_config.get("threads", 1))
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    path = _model_path(_config)
    _session = ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])
    logger.info("asl_recog model loaded from %s", path)


def predict_proba(images: np.ndarray) -> np.ndarray:
    """``(N, 24)`` probabilities in letter order for ``(N, 28, 28)`` uint8 images."""
    x = images.astype(np.float32)
    if _config["input_scaling"] == "unit":
        x /= 255.0
    n = len(x)
    shape = {"flat": (n, 784), "NHWC": (n, 28, 28, 1), "NCHW": (n, 1, 28, 28)}[_config["input_layout"]]
    out = _session.run([_config["output_name"]], {_config["input_name"]: x.reshape(shape)})[0]
    full = np.zeros((n, len(_config["letters"])), dtype=np.float32)
    full[:, _config["classes"]] = np.asarray(out, dtype=np.float32)  # output column -> class index
    return full


def _error(error: RequestError) -> Any:
    """A 4xx answer where the Azure inference server supports it, else the error dict (status 200)."""
    body = error.to_dict()
    try:  # the inference server's module, under its current and its older name
        from azureml_inference_server_http.api.aml_response import AMLResponse
    except ImportError:
        try:
            from azureml.contrib.services.aml_response import AMLResponse
        except ImportError:
            return body
    return AMLResponse(body, error.status, json_str=True)  # json_str: it encodes the dict once


def run(raw_data: str | bytes) -> Any:
    """Score one request body; returns ``{"result": [...], "letters": [...]}`` (a dict, encoded once)."""
    try:
        body = raw_data.encode("utf-8") if isinstance(raw_data, str) else raw_data
        request = parse_json(body, max_batch=int(_config.get("max_batch", 1024)))
    except RequestError as exc:
        return _error(exc)
    probabilities = predict_proba(request.images)
    index = probabilities.argmax(axis=1)
    labels = [int(_config["labels"][i]) for i in index]
    letters = [_config["letters"][i] for i in index]
    if request.proba:
        return score_response(labels, letters, probabilities, list(_config["letters"]))
    return score_response(labels, letters)
