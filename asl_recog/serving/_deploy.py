"""One deployment interface: ``Deployer.deploy(model) -> Endpoint``, locally or on Azure ML.

Shared pieces live here: turning a model into an ONNX file, writing the Azure
scoring folder (score.py + its request parser + the model's input description),
and endpoint-name checks.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from abc import ABC, abstractmethod
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from asl_recog._errors import ConfigurationError, ModelFileError
from asl_recog.backends import find_workspace_config
from asl_recog.backends.azure._job import WORKSPACE_ENV, workspace_from_env
from asl_recog.models._base import Model
from asl_recog.models._export import export_onnx
from asl_recog.models._onnx import OnnxModel
from asl_recog.serving._client import RemoteEndpoint

#: Files of the Azure scoring folder.
SCORE_SCRIPT, REQUESTS_MODULE, SCORING_CONFIG = "score.py", "asl_requests.py", "asl_scoring.json"
#: Azure endpoint and ACI service names: 3-32 characters, lowercase letters, digits and hyphens, a letter first.
_NAME = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")


class Endpoint(ABC):
    """A running scoring service made by a :class:`Deployer`.

    ``predict``/``predict_letters``/``predict_proba`` call it over HTTP (see
    :class:`RemoteEndpoint`); ``delete()`` tears it down; as a context manager it
    deletes itself on exit.

    Example:
        >>> with Deployer.create("local").deploy("runs/best.onnx") as endpoint:
        ...     endpoint.predict_letters(test[:3]), endpoint.scoring_uri
        (array(['H', 'R', 'W'], dtype='<U1'), 'http://127.0.0.1:.../score')
    """

    name: str
    _client: Any = None

    @property
    @abstractmethod
    def scoring_uri(self) -> str:
        """The URL to POST requests to."""

    @property
    @abstractmethod
    def keys(self) -> list[str]:
        """The accepted API keys (primary first); empty when authentication is off."""

    @abstractmethod
    def logs(self, lines: int = 200) -> str:
        """The last ``lines`` lines of the service's log."""

    @abstractmethod
    def delete(self) -> None:
        """Stop the service and release what it holds; safe to call twice."""

    @property
    def client(self) -> Any:
        """The :class:`RemoteEndpoint` used by the predict methods."""
        if self._client is None:
            self._client = RemoteEndpoint(self.scoring_uri, self.keys[0] if self.keys else None)
        return self._client

    def predict(self, images: Any) -> np.ndarray:
        """Dataset labels of the images, scored by the service."""
        return self.client.predict(images)

    def predict_letters(self, images: Any) -> np.ndarray:
        """Letters of the images, scored by the service."""
        return self.client.predict_letters(images)

    def predict_proba(self, images: Any) -> np.ndarray:
        """``(N, 24)`` probabilities, scored by the service."""
        return self.client.predict_proba(images)

    def _close_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.delete()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={getattr(self, 'name', None)!r})"


class Deployer(ABC):
    """Deploys a model as a scoring service and returns its :class:`Endpoint`.

    Backends: ``"local"`` (a ``python -m asl_recog.serving`` subprocess),
    ``"azure"`` (Azure ML managed online endpoint, SDK v2) and ``"azureml"``
    (Azure Container Instances, SDK v1, deprecated).

    Example:
        >>> deployer = Deployer.create("local")
        >>> endpoint = deployer.deploy(Model.load("runs/best.onnx"), name="asl-demo")  # e.g. result.best_model
        >>> endpoint.predict(test[:3])
        array([ 7, 17, 22])
        >>> endpoint.delete()
    """

    @abstractmethod
    def deploy(self, model: Model | str | os.PathLike[str], name: str | None = None) -> Endpoint:
        """Deploy ``model`` (a fitted Model, exported to ONNX on the way, or an ``.onnx`` path)."""

    #: the name ``Deployer.create`` knows this deployer by (set by each subclass)
    target: ClassVar[str] = ""
    #: a cloud deployer's workspace connection argument (``ml_client``, ``workspace``); when
    #: ``Deployer.create`` is not given it, the deployer's ``from_config`` signs in instead
    connection: ClassVar[str | None] = None
    # target -> deployer class. Subclasses register themselves (see __init_subclass__), so this
    # base module needs no import of the modules that define them, which import it.
    _targets: ClassVar[dict[str, type[Deployer]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("target"):
            Deployer._targets[cls.target] = cls

    @staticmethod
    def create(
        target: str = "local", *, workspace_config: str | os.PathLike[str] | None = None, **options: Any
    ) -> Deployer:
        """The deployer for ``target`` (``"local"``, ``"azure"`` or ``"azureml"``), built with ``options``.

        A cloud target without its connection in ``options`` signs in from the workspace
        configuration, as ``backend="auto"`` does: ``workspace_config``, else a ``config.json``
        found here or in a parent folder, else the ``AZUREML_ARM_*`` variables; with none of
        them it raises a :class:`ConfigurationError` that says how to provide one.
        """
        cls = Deployer._targets.get(target)
        if cls is None:
            known = ", ".join(repr(t) for t in sorted(Deployer._targets))
            raise ConfigurationError(f"unknown deployment target {target!r}; use one of {known}")
        if cls.connection is not None and cls.connection not in options:
            return cls.from_config(find_workspace(workspace_config), **options)  # type: ignore[attr-defined]
        return cls(**options)


def find_workspace(path: str | os.PathLike[str] | None = None) -> Path | None:
    """The Azure ML workspace configuration to sign in with, as ``backend="auto"`` finds it.

    Returns:
        ``path`` when given, else the ``config.json`` found here or in a parent folder (also
        ``.azureml/config.json``), else None when the ``AZUREML_ARM_*`` variables name the workspace.

    Raises:
        ConfigurationError: none of them exists; the message says how to provide one.
    """
    if path is not None:
        if not Path(path).is_file():
            raise ConfigurationError(
                f"--workspace-config {path}: no such file. Fix: pass the config.json downloaded from the "
                "Azure portal (your workspace > Overview > Download config.json)"
            )
        return Path(path)
    found = find_workspace_config()
    if found is not None or workspace_from_env() is not None:
        return found
    raise ConfigurationError(
        f"no Azure ML workspace configured: no config.json in {Path.cwd()} or its parent folders (nor in "
        f".azureml/), and {', '.join(WORKSPACE_ENV)} are not all set. Fix: download config.json from the "
        "Azure portal (your workspace > Overview > Download config.json) into this folder or pass "
        "--workspace-config PATH (Python: workspace_config=PATH), or set those three variables; "
        "sign in with 'az login' first. To try the service without Azure, use --target local"
    )


def endpoint_name(name: str | None, prefix: str = "asl-recog") -> str:
    """Check an endpoint name against Azure's rules, or make a unique one."""
    if name is None:
        return f"{prefix}-{secrets.token_hex(4)}"
    if not _NAME.match(name) or "--" in name:
        raise ConfigurationError(
            f"endpoint name {name!r} is invalid: use 3-32 lowercase letters, digits and single "
            "hyphens, starting with a letter and not ending with a hyphen"
        )
    return name


def onnx_file(model: Model | str | os.PathLike[str], folder: Path) -> tuple[Path, Any]:
    """An ONNX file of ``model`` (exported into ``folder`` unless it is one already), and the loaded OnnxModel.

    Raises:
        ModelFileError: a path that is not a loadable ``.onnx`` file.
    """
    if isinstance(model, OnnxModel):
        path = model.save(folder / "model.onnx")
        return path, model
    if isinstance(model, Model):
        path = folder / "model.onnx"
        return path, export_onnx(model, path)
    path = Path(model)
    if path.suffix.lower() != ".onnx":
        raise ModelFileError(
            f"{path}: deployers load .onnx files only (graphs, not code). Fix: export it first "
            f"with 'asl-recog export {path} {path.with_suffix('.onnx')}', or pass a fitted Model "
            "(it is exported with asl_recog.export_onnx)"
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
    templates = resources.files("asl_recog.serving") / "_templates"
    (folder / SCORE_SCRIPT).write_text((templates / SCORE_SCRIPT).read_text(encoding="utf-8"), encoding="utf-8")
    shutil.copyfile(Path(__file__).with_name("_requests.py"), folder / REQUESTS_MODULE)
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
