"""The model a service serves: a loaded Model, an ``.onnx`` file, or a registry entry (``models:/...``).

Every way of starting the service (``asl-recog serve``, :func:`asl_recog.serving.run`,
:func:`asl_recog.serving.create_app`, ``LocalDeployer``) comes through :func:`load_served_model`, so a
``models:/`` URI is accepted wherever a file is and held to the same rules: ONNX only, checked at start.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass

from asl_recog.models._base import Model
from asl_recog.models._onnx import OnnxModel, require_onnx_file
from asl_recog.tracking._fetch import RegisteredOnnx, fetch_registered, is_models_uri


@dataclass(frozen=True)
class ServedModel:
    """A loaded model, the name it goes by in messages and ``/info``, and its registry entry, if any.

    Example:
        >>> served = load_served_model("runs/best.onnx", threads=1)
        >>> served.source, served.registry
        ('runs/best.onnx', None)
    """

    model: Model
    source: str
    registry: RegisteredOnnx | None = None


def load_served_model(
    model: str | os.PathLike[str] | Model, *, threads: int, tracking_uri: str | None = None
) -> ServedModel:
    """Load what the service will serve: a Model as given, an ``.onnx`` file, or a registered model.

    A ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS`` URI is downloaded by
    :func:`~asl_recog.tracking._fetch.fetch_registered`, in a child process (MLflow never loads
    into the service), into a temporary folder that is gone once the graph is in memory. An alias is
    resolved here, once: the service keeps serving that version when the alias moves, and says
    which version it is (a line on stderr, ``/info``'s ``registry``).

    The training formats are refused: ONNX graphs are data run by onnxruntime, so whoever can
    hand the operator a model file cannot hand them code (see docs/serving.md).

    Args:
        model: a loaded Model, an ``.onnx`` path, or a ``models:/`` URI.
        threads: threads that score parts of a large batch at once (OnnxModel's ``threads``).
        tracking_uri: the MLflow server of a ``models:/`` URI; None reads ``$MLFLOW_TRACKING_URI``.

    Raises:
        ConfigurationError: a malformed ``models:/`` URI, no tracking URI, or no such model, version or alias.
        ModelFileError: not an ONNX file (or a registered model without an ONNX flavor), or a bad graph.
        AslRecogError: the registry could not be reached or the download failed.
    """
    if isinstance(model, Model):
        return ServedModel(model, type(model).__name__)
    if is_models_uri(model):
        return _load_registered(str(model), threads, tracking_uri)
    alternative = "or asl_recog.export_onnx(Model.load(path), 'model.onnx'), in a session that trusts the file"
    loaded = OnnxModel.load(require_onnx_file(model, "the service loads", alternative), threads=threads)
    return ServedModel(loaded, str(loaded.source))


def _load_registered(uri: str, threads: int, tracking_uri: str | None) -> ServedModel:
    with tempfile.TemporaryDirectory(prefix="asl-recog-registry-") as folder:
        found = fetch_registered(uri, folder, tracking_uri=tracking_uri)
        # OnnxModel keeps the graph's bytes, not the file: the folder can go once it is loaded.
        loaded = OnnxModel(found.path, source=f"{uri} ({found.path.name})", threads=threads)
    print(f"asl-recog serve: {found.describe()}", file=sys.stderr, flush=True)
    return ServedModel(loaded, uri, found)


__all__ = ["ServedModel", "load_served_model"]
