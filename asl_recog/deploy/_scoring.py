"""What a deployment ships: the model as an ONNX file, and the Azure scoring folder.

The scoring folder holds the generated ``score.py`` (``_templates/``), a copy of the service's
request parser (``asl_recog/serving/_requests.py``, standalone so that it runs in Azure's container
without asl_recog installed) and the model's input description, so the Azure endpoint accepts the
same requests as ``asl-recog serve``.
"""

from __future__ import annotations

import json
import os
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

from asl_recog._errors import ConfigurationError
from asl_recog.models._base import Model
from asl_recog.models._export import export_onnx
from asl_recog.models._onnx import OnnxModel, require_onnx_file
from asl_recog.serving import _requests
from asl_recog.tracking._fetch import fetch_registered, is_models_uri

#: Files of the Azure scoring folder.
SCORE_SCRIPT, REQUESTS_MODULE, SCORING_CONFIG = "score.py", "asl_requests.py", "asl_scoring.json"


def onnx_file(
    model: Model | str | os.PathLike[str], folder: Path, *, tracking_uri: str | None = None
) -> tuple[Path, Any]:
    """An ONNX file of ``model`` (exported into ``folder`` unless it is one already), and the loaded OnnxModel.

    A registered model (``models:/NAME/VERSION`` or ``models:/NAME@ALIAS``) is downloaded into
    ``folder`` from ``tracking_uri`` (else ``$MLFLOW_TRACKING_URI``) by the one function that
    resolves them, :func:`~asl_recog.tracking._fetch.fetch_registered` (an alias: the version it
    points to now), and deployed as that file (``NAME-vVERSION.onnx``).

    Raises:
        ModelFileError: a path that is not a loadable ``.onnx`` file, or a registered model without an ONNX flavor.
        ConfigurationError: a bad ``models:/`` URI, no tracking URI, or no such model, version or alias.
    """
    if is_models_uri(model):
        found = fetch_registered(str(model), folder, tracking_uri=tracking_uri)
        return found.path, OnnxModel(found.path, source=f"{model} ({found.path.name})")
    if isinstance(model, OnnxModel):
        path = model.save(folder / "model.onnx")
        return path, model
    if isinstance(model, Model):
        path = folder / "model.onnx"
        return path, export_onnx(model, path)
    path = require_onnx_file(
        model, "deployers load", "or pass a fitted Model (it is exported with asl_recog.export_onnx)"
    )
    return path, OnnxModel.load(path)


def scoring_config(onnx_model: Any, model_file: str, max_batch: int = 1024) -> dict[str, Any]:
    """What score.py needs to feed the graph and read its output, taken from the loaded OnnxModel."""
    meta = onnx_model.metadata
    if meta.get("input_layout") not in ("flat", "NHWC", "NCHW"):
        raise ConfigurationError(
            f"{onnx_model.source}: input layout {meta.get('input_layout')!r} is not supported "
            "by the generated score.py; deploy a model written by asl_recog.export_onnx"
        )
    return {
        "model_file": model_file,
        "input_name": onnx_model.input_name,
        "output_name": onnx_model.output_name,
        "input_layout": meta["input_layout"],
        "input_scaling": meta["input_scaling"],
        "classes": [int(c) for c in meta.get("classes", range(len(meta["letters"])))],
        "labels": [int(v) for v in meta["labels"]],
        "letters": list(meta["letters"]),
        "max_batch": max_batch,
        "threads": 1,
    }


def write_scoring_dir(
    onnx_model: Any, folder: str | os.PathLike[str], *, model_file: str = "model.onnx", max_batch: int = 1024
) -> Path:
    """Write the Azure scoring folder: ``score.py``, ``asl_requests.py`` and ``asl_scoring.json``.

    The model itself is registered separately and read from ``$AZUREML_MODEL_DIR``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    templates = resources.files("asl_recog.deploy") / "_templates"
    (folder / SCORE_SCRIPT).write_text((templates / SCORE_SCRIPT).read_text(encoding="utf-8"), encoding="utf-8")
    shutil.copyfile(_requests.__file__, folder / REQUESTS_MODULE)
    config = scoring_config(onnx_model, model_file, max_batch)
    (folder / SCORING_CONFIG).write_text(json.dumps(config, indent=2), encoding="utf-8")
    return folder


#: pip requirements of the scoring environment: what score.py imports, nothing more.
SCORING_PIP = ["onnxruntime>=1.18", "numpy>=1.26"]


def conda_spec(name: str = "asl-recog-scoring") -> dict[str, Any]:
    """The conda environment of the Azure scoring container (Python 3.11, onnxruntime, numpy)."""
    return {
        "name": name,
        "channels": ["conda-forge"],
        "dependencies": ["python=3.11", "pip", {"pip": [*SCORING_PIP, "azureml-inference-server-http"]}],
    }
