"""The backends by name: what ``backend="local" | "azure" | "azureml" | "auto"`` stands for.

Both :func:`resolve_backend` and the trainers' constructor check read the one table here, so
a backend is named in one place. The table names each backend's module rather than importing
it: an Azure backend's module pulls in the Azure translation, data and refit modules, and a
local fit should load none of them.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from asl_recog import _azure
from asl_recog._errors import ConfigurationError
from asl_recog.backends._base import Backend

logger = logging.getLogger("asl_recog")

#: ``Backend.name`` -> ``"module:Class"``; a test checks that each class's ``name`` is its key.
BACKENDS: dict[str, str] = {
    "local": "asl_recog.backends.local._backend:LocalBackend",
    "azure": "asl_recog.backends.azure.v2._backend:AzureBackend",
    "azureml": "asl_recog.backends.azure.v1._backend:AzureMLBackend",
}
#: Not a backend of its own: Azure (SDK v2) when a workspace is configured, else local.
AUTO = "auto"
#: The names ``backend=`` accepts, in the order error messages list them.
BACKEND_NAMES = (*BACKENDS, AUTO)


def backend_class(name: str) -> type[Backend]:
    """The class registered as ``name``, its module imported now.

    Example:
        >>> backend_class("local").__name__
        'LocalBackend'
    """
    module, _, attribute = BACKENDS[name].partition(":")
    cls: type[Backend] = getattr(importlib.import_module(module), attribute)
    return cls


def check_backend_name(backend: Any) -> None:
    """Raise :class:`ConfigurationError` unless ``backend`` is None, a registered name, ``"auto"`` or a Backend.

    It imports nothing, so a trainer can call it when it is built.

    Example:
        >>> check_backend_name("azure"), check_backend_name(None)
        (None, None)
        >>> check_backend_name("cloud")
        Traceback (most recent call last):
        ...
        asl_recog._errors.ConfigurationError: backend must be None, 'local', 'azure', 'azureml', 'auto' ...
    """
    if backend is None or isinstance(backend, Backend) or backend in BACKEND_NAMES:
        return
    names = ", ".join(repr(name) for name in BACKEND_NAMES)
    raise ConfigurationError(f"backend must be None, {names} or a Backend object, got {backend!r}")


def resolve_backend(backend: Any) -> Backend:
    """Turn ``None | "local" | "azure" | "azureml" | "auto" | Backend`` into a backend object.

    A named cloud backend signs in with its ``from_config``, from the workspace configuration
    found here or in a parent folder (or the ``AZUREML_ARM_*`` variables).

    Example:
        >>> type(resolve_backend(None)).__name__, type(resolve_backend("local")).__name__
        ('LocalBackend', 'LocalBackend')
    """
    if isinstance(backend, Backend):
        return backend
    check_backend_name(backend)
    name = backend or "local"
    config = None
    if name == AUTO:
        config = _azure.find_workspace_config()
        if config is None and _azure.workspace_from_env() is None:
            logger.info("backend='auto': no Azure ML workspace config found; running locally")
            name = "local"
        else:
            logger.info(
                "backend='auto': Azure ML workspace config found (%s); using the Azure SDK v2 backend",
                config or "environment variables",
            )
            name = "azure"
    elif name != "local":
        config = _azure.find_workspace_config()
    cls: Any = backend_class(name)
    # The local backend needs no workspace; every other registered backend signs in to one.
    return cls() if name == "local" else cls.from_config(config)


__all__ = ["AUTO", "BACKENDS", "BACKEND_NAMES", "backend_class", "check_backend_name", "resolve_backend"]
