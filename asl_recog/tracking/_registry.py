"""Register a model in the MLflow Model Registry: its ONNX graph as an MLflow model of the ``onnx`` flavor.

What is registered, and why:

* the ONNX graph, byte for byte as exported (its metadata and checksum intact), under MLflow's
  own ``onnx`` flavor, whose built-in ``python_function`` loader (``mlflow.onnx``) takes a tensor
  and returns probabilities. No custom ``PythonModel``: loading one runs its code, and the
  service's rule is that a model is data. Letters, PNG handling and the "unknown" answer stay in
  asl_recog, on the client side;
* a signature and an input example: a few real images of the training file (never the test
  file), in the graph's own input layout and scaling;
* the MLflow model's ``metadata``: the run record the graph carries (``RunRecord.mlflow_metadata()``:
  data, selection, test figures, the label map and preprocessing), the same as the ONNX file's and
  the model card's.

Every call goes through an explicit ``MlflowClient``; MLflow's fluent API (``mlflow.onnx.log_model``)
would read and change the process-wide tracking URI and active run, which belong to the user's
notebook. So this does what ``log_model`` does, step by step: a run, a logged model, its files,
a model version.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from asl_recog._environ import environment
from asl_recog._errors import AslRecogError, ConfigurationError
from asl_recog._imports import LazyModule
from asl_recog._version import __version__
from asl_recog.models._onnx_format import quiet_session
from asl_recog.tracking._client import (
    MLFLOW_CALLS,
    MLFLOW_FIRST_CONTACT,
    check_run_id,
    client,
    experiment_id,
    mlflow_exception,
)
from asl_recog.tracking._fetch import resolve_tracking_uri, server_bug_hint

if TYPE_CHECKING:  # pragma: no cover
    from asl_recog.models._base import Model
    from asl_recog.models._onnx import OnnxModel

_PURPOSE = "The model registry"
_MLFLOW_ONNX = LazyModule("mlflow.onnx", package="mlflow", extra="mlflow", purpose=_PURPOSE)
_MODELS = LazyModule("mlflow.models", package="mlflow", extra="mlflow", purpose=_PURPOSE)
_ENTITIES = LazyModule("mlflow.entities", package="mlflow", extra="mlflow", purpose=_PURPOSE)

#: How many training images the input example holds (MLflow stores it in the model's folder).
EXAMPLE_ROWS = 5
#: A registered model's name: it becomes part of ``models:/NAME/VERSION``, so no ``/``, ``@`` or ``:``.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")
#: MLflow's alias rule, less the forms it reserves (``latest``, ``v1``, ...).
_ALIAS = re.compile(r"[A-Za-z0-9_-]{1,255}")


@dataclass(frozen=True)
class Registration:
    """A model version in the registry: where it is and how to serve it.

    Attributes:
        name: the registered model's name.
        version: its version number, as MLflow writes it (a string).
        run_id: the ``register`` run the model was logged under.
        model_id: MLflow's logged model (``models:/<model_id>`` is the version's source).
        tracking_uri: the tracking server holding it.
        alias: the alias set on this version, if any.

    Example:
        >>> found = Registration("asl-letters", "3", "0" * 32, "m-1", "http://127.0.0.1:5000", "champion")
        >>> found.uri, found.alias_uri
        ('models:/asl-letters/3', 'models:/asl-letters@champion')
    """

    name: str
    version: str
    run_id: str
    model_id: str
    tracking_uri: str
    alias: str | None = None

    @property
    def uri(self) -> str:
        """``models:/NAME/VERSION``: what ``asl-recog serve`` and ``mlflow.onnx.load_model`` take."""
        return f"models:/{self.name}/{self.version}"

    @property
    def alias_uri(self) -> str | None:
        """``models:/NAME@ALIAS`` when an alias was set, else None."""
        return f"models:/{self.name}@{self.alias}" if self.alias else None


def check_model_name(name: Any) -> str:
    """``name`` as a registered model's name, or ConfigurationError saying what it may hold.

    Example:
        >>> check_model_name("asl-letters")
        'asl-letters'
        >>> check_model_name("asl/letters")
        Traceback (most recent call last):
        asl_recog._errors.ConfigurationError: name 'asl/letters' cannot name a registered model: ...
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigurationError(
            f"name {name!r} cannot name a registered model: use letters, digits, '_', '.' and '-' "
            "(starting with a letter or digit), e.g. 'asl-letters'"
        )
    return name


def check_alias(alias: Any) -> str | None:
    """``alias`` as an MLflow alias (None for none), or ConfigurationError.

    Example:
        >>> check_alias("champion")
        'champion'
        >>> check_alias("v2")
        Traceback (most recent call last):
        asl_recog._errors.ConfigurationError: alias 'v2' cannot be used: ...
    """
    if alias is None:
        return None
    reserved = isinstance(alias, str) and (alias.lower() == "latest" or re.fullmatch(r"[vV][0-9]+", alias))
    if not isinstance(alias, str) or not _ALIAS.fullmatch(alias) or reserved:
        raise ConfigurationError(
            f"alias {alias!r} cannot be used: use letters, digits, '_' and '-' (MLflow reserves 'latest' "
            "and 'v<number>'), e.g. 'champion'"
        )
    return alias


def _as_onnx(model: Model | str | os.PathLike[str], folder: Path, example: Any) -> OnnxModel:
    """The ONNX graph to register: a loaded OnnxModel, an ``.onnx`` file, or another Model exported now."""
    # Imported here: ``import asl_recog.tracking`` (a trainer's settings check) stays free of pandas and ONNX.
    from asl_recog.models._base import Model
    from asl_recog.models._onnx import OnnxModel, require_onnx_file

    if isinstance(model, OnnxModel):
        return model
    if isinstance(model, Model):
        from asl_recog.models._export import export_onnx  # converters load only for a model to export
        from asl_recog.models._parity import PARITY_ROWS

        # Parity on up to 256 of the example's images (the export's own default without one), not on
        # the five the input example keeps: five agreeing rows would prove little.
        parity = None if example is None else example[:PARITY_ROWS]
        return export_onnx(model, folder / "model.onnx", parity_data=parity)
    # The service's rule for files from outside: a training format may hold code, so it is refused unread.
    return OnnxModel.load(require_onnx_file(model, "the registry takes", "then register the .onnx file"))


def _example_images(example: Any) -> np.ndarray:
    """A few real images for the input example: ``example``'s first rows, else the bundled training file's."""
    from asl_recog.data._dataset import SignMnistDataset, load_sign_mnist
    from asl_recog.models._base import to_model_input

    if example is None:
        example = load_sign_mnist("train")[:EXAMPLE_ROWS]
    images = example.images if isinstance(example, SignMnistDataset) else to_model_input(example)
    images = np.asarray(images)[:EXAMPLE_ROWS]
    if len(images) == 0:
        raise ConfigurationError("example holds no images; pass a few training images (or None for the bundled ones)")
    return images


def _signature(onnx_model: OnnxModel, images: np.ndarray) -> tuple[dict[str, np.ndarray], Any]:
    """The input example (the graph's own inputs, as asl_recog feeds them) and the signature it gives."""
    # OnnxModel's feed is exactly what MLflow's onnx pyfunc must be given: the graph's inputs,
    # in its layout (flat or NHWC) and scaling (unit or raw), so the example is reusable as is.
    feed = onnx_model._feed(images)
    session = quiet_session(onnx_model.onnx_bytes)
    names = [output.name for output in session.get_outputs()]
    # Tensors only: an AutoML graph's ZipMap output (a list of dicts) has no tensor spec.
    outputs = {n: v for n, v in zip(names, session.run(None, feed), strict=True) if isinstance(v, np.ndarray)}
    return feed, _MODELS.infer_signature(feed, outputs)


def _metadata(onnx_model: OnnxModel, folder: Path) -> dict[str, Any]:
    """The MLflow model's metadata: the run record the graph carries (:meth:`RunRecord.mlflow_metadata`).

    Read back from the graph's own bytes, so the registry, the ONNX file and its model card say the same.
    """
    from asl_recog.models._record import RunRecord

    graph = folder / "record-source.onnx"
    graph.write_bytes(onnx_model.onnx_bytes)
    return RunRecord.from_onnx(graph).mlflow_metadata()


def _write_mlflow_model(onnx_model: OnnxModel, folder: Path, images: np.ndarray, logged: Any, run_id: str) -> Path:
    """The MLflow model folder (``MLmodel``, ``model.onnx``, example, environment) of ``logged``."""
    import onnx

    feed, signature = _signature(onnx_model, images)
    mlflow_model = _MODELS.Model(
        artifact_path=logged.artifact_location, model_uuid=logged.model_id, run_id=run_id, model_id=logged.model_id
    )
    path = folder / "mlflow-model"
    _MLFLOW_ONNX.save_model(
        onnx.load_from_string(onnx_model.onnx_bytes),
        str(path),
        mlflow_model=mlflow_model,
        signature=signature,
        input_example=feed,
        metadata=_metadata(onnx_model, folder),
        # Given, not inferred: inferring loads the model in a subprocess, for a list known here.
        pip_requirements=_MLFLOW_ONNX.get_default_pip_requirements(),
        save_as_external_data=False,
    )
    # The exported bytes, not MLflow's re-serialization: the file's checksum covers them.
    (path / "model.onnx").write_bytes(onnx_model.onnx_bytes)
    return path


def register_model(
    model: Model | str | os.PathLike[str],
    name: str,
    *,
    tracking_uri: str | None = None,
    run_id: str | None = None,
    alias: str | None = None,
    example: Any = None,
    experiment: str | None = None,
    description: str | None = None,
) -> Registration:
    """Log ``model`` as an ONNX MLflow model (signature, input example, metadata) and register it as ``name``.

    Args:
        model: an ``.onnx`` file, an :class:`~asl_recog.OnnxModel`, or any fitted Model (exported
            to ONNX here, with its parity check on ``example``).
        name: the registered model's name; a new version is added when it exists.
        tracking_uri: the tracking server; None reads ``$MLFLOW_TRACKING_URI``.
        run_id: a run to log under (a tracked search's parent run): the model is logged in a
            nested ``register`` run, so the registry links back to the search. None: a ``register``
            run of its own in ``experiment``.
        alias: an alias to point at the new version (e.g. ``"champion"``).
        example: a few real training or validation images for the input example (a dataset or
            any image layout); None takes the bundled training file's first rows. Never test images.
            A Model exported here is checked against its graph on up to 256 of them.
        experiment: the experiment of a run of its own (default ``$MLFLOW_EXPERIMENT_NAME``, else
            ``asl-recog``); ignored with ``run_id``.
        description: the model version's description.

    Returns:
        The :class:`Registration`: name, version and ``models:/NAME/VERSION`` URI.

    Raises:
        ConfigurationError: a bad name, alias, run id or tracking URI, or no tracking URI.
        ModelFileError: ``model`` is a file but not an ONNX graph, or does not load.
        MissingExtraError: MLflow is not installed (extra ``mlflow``).
        AslRecogError: the server refused a step (with the fix for a known MLflow server bug).

    Example:
        >>> found = register_model("runs/best.onnx", "asl-letters", tracking_uri="http://127.0.0.1:5000",
        ...                        alias="champion")  # doctest: +SKIP
        >>> found.uri  # doctest: +SKIP
        'models:/asl-letters/1'
    """
    check_model_name(name)
    check_alias(alias)
    if run_id is not None:
        check_run_id(run_id, "run_id")
    tracking = resolve_tracking_uri(tracking_uri, "tracking_uri")
    images = _example_images(example)
    mlflow_client = client(tracking)
    with tempfile.TemporaryDirectory(prefix="asl-recog-register-") as scratch:
        onnx_model = _as_onnx(model, Path(scratch), example)
        try:
            # The search's HTTP settings: no retry on first contact (a wrong URI fails at once, not
            # after MLflow's minutes of backoff), then two; no "View run" lines on stdout.
            with environment(MLFLOW_FIRST_CONTACT):
                run = _register_run(mlflow_client, name, run_id, experiment)
            with environment(MLFLOW_CALLS):
                model_id, version = _log_and_register(
                    mlflow_client, run, onnx_model, Path(scratch), images, name, alias, description
                )
        except mlflow_exception() as exc:  # the server's refusal, said once, with the fix where one is known
            raise AslRecogError(
                f"{name!r} could not be registered at {tracking}: {exc}{server_bug_hint(str(exc))}"
            ) from exc
    return Registration(name, version, run.info.run_id, model_id, tracking, alias)


def _log_and_register(
    mlflow_client: Any,
    run: Any,
    onnx_model: OnnxModel,
    scratch: Path,
    images: np.ndarray,
    name: str,
    alias: str | None,
    description: str | None,
) -> tuple[str, str]:
    """What ``mlflow.onnx.log_model(..., registered_model_name=name)`` does, through ``mlflow_client``.

    Returns the logged model's id and the new version; the run ends FINISHED, or FAILED on any error.
    """
    own_run = run.info.run_id
    try:
        logged = mlflow_client.create_logged_model(
            run.info.experiment_id, name=name, source_run_id=own_run, model_type="onnx"
        )
        try:
            local = _write_mlflow_model(onnx_model, scratch, images, logged, own_run)
            mlflow_client.log_model_artifacts(logged.model_id, str(local))
            mlflow_client.log_outputs(own_run, [_ENTITIES.LoggedModelOutput(logged.model_id, step=0)])
        except BaseException:
            mlflow_client.finalize_logged_model(logged.model_id, "FAILED")
            raise
        mlflow_client.finalize_logged_model(logged.model_id, "READY")
        version = _add_version(mlflow_client, name, logged.model_id, own_run, description)
        if alias is not None:
            mlflow_client.set_registered_model_alias(name, alias, version)
        mlflow_client.set_tag(own_run, "asl_recog.registered_model", f"models:/{name}/{version}")
    except BaseException:
        mlflow_client.set_terminated(own_run, "FAILED")
        raise
    mlflow_client.set_terminated(own_run, "FINISHED")
    return str(logged.model_id), version


def _register_run(mlflow_client: Any, name: str, parent: str | None, experiment: str | None) -> Any:
    """The ``register`` run: nested under ``parent`` (in its experiment) when given, else in ``experiment``."""
    tags = {"asl_recog.version": __version__}
    if parent is None:
        return mlflow_client.create_run(experiment_id(mlflow_client, experiment), run_name="register", tags=tags)
    try:
        found = mlflow_client.get_run(parent)
    except mlflow_exception() as exc:
        raise ConfigurationError(
            f"run_id {parent!r}: no such run at the tracking server ({exc}). Fix: pass the id of a run "
            "there (a tracked search's parent run), or None for a register run of its own"
        ) from exc
    tags["mlflow.parentRunId"] = parent  # MLflow's own tag for a nested run
    return mlflow_client.create_run(found.info.experiment_id, run_name="register", tags=tags)


def _add_version(mlflow_client: Any, name: str, model_id: str, run_id: str, description: str | None) -> str:
    """Create the registered model if it is new (another process may create it at once), then a version."""
    try:
        mlflow_client.create_registered_model(name)
    except mlflow_exception() as exc:
        if getattr(exc, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
            raise
    found = mlflow_client.create_model_version(
        name, source=f"models:/{model_id}", run_id=run_id, model_id=model_id, description=description
    )
    return str(found.version)


__all__ = ["EXAMPLE_ROWS", "Registration", "check_alias", "check_model_name", "register_model"]
