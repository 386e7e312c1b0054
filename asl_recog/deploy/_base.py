"""One deployment interface: ``Deployer.deploy(model) -> Endpoint``, locally or on Azure ML.

Here: the two base classes, finding the workspace a cloud deployer signs in to, and endpoint
names. What a deployment ships (the ONNX file, the Azure scoring folder) is in ``_scoring.py``.
"""

from __future__ import annotations

import os
import re
import secrets
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from asl_recog import _azure
from asl_recog._errors import ConfigurationError
from asl_recog.deploy._client import RemoteEndpoint
from asl_recog.models._base import Model

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

    Targets: ``"local"`` (a ``python -m asl_recog.serving`` subprocess),
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
        """Deploy ``model``: a fitted Model (exported to ONNX on the way), an ``.onnx`` path, or a
        registered ONNX model, ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS`` (from the deployer's
        ``tracking_uri``, else ``$MLFLOW_TRACKING_URI``)."""

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
    found = _azure.find_workspace_config()
    if found is not None or _azure.workspace_from_env() is not None:
        return found
    raise ConfigurationError(
        f"no Azure ML workspace configured: no config.json in {Path.cwd()} or its parent folders (nor in "
        f".azureml/), and {', '.join(_azure.WORKSPACE_ENV)} are not all set. Fix: download config.json from the "
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
