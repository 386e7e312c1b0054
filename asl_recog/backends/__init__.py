"""Where a search runs. Cloud SDKs are imported only inside their backend modules."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from asl_recog._errors import ConfigurationError
from asl_recog.backends._base import Backend
from asl_recog.backends.azure.v1._backend import AzureMLBackend
from asl_recog.backends.azure.v2._backend import AzureBackend
from asl_recog.backends.local._backend import LocalBackend

logger = logging.getLogger("asl_recog")

_AZURE_ENV = ("AZUREML_ARM_SUBSCRIPTION", "AZUREML_ARM_RESOURCEGROUP", "AZUREML_ARM_WORKSPACE_NAME")


def find_workspace_config(start: Path | None = None) -> Path | None:
    """Find an Azure ML ``config.json`` the way both SDKs do: here, ``.azureml/``, then parents."""
    folder = (start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        for name in ("config.json", ".azureml/config.json", "aml_config/config.json"):
            path = candidate / name
            if path.is_file():
                return path
    return None


def resolve_backend(backend: Any) -> Backend:
    """Turn ``None | "local" | "azure" | "azureml" | "auto" | Backend`` into a backend object."""
    if isinstance(backend, Backend):
        return backend
    if backend is None or backend == "local":
        return LocalBackend()
    if backend == "auto":
        config = find_workspace_config()
        if config is not None or all(os.environ.get(v) for v in _AZURE_ENV):
            logger.info(
                "backend='auto': Azure ML workspace config found (%s); using the Azure SDK v2 backend",
                config or "environment variables",
            )
            return AzureBackend.from_config(config)
        logger.info("backend='auto': no Azure ML workspace config found; running locally")
        return LocalBackend()
    if backend == "azure":
        return AzureBackend.from_config(find_workspace_config())
    if backend == "azureml":
        return AzureMLBackend.from_config(find_workspace_config())
    raise ConfigurationError(
        f"backend must be None, 'local', 'azure', 'azureml', 'auto' or a Backend object, got {backend!r}"
    )


__all__ = ["AzureBackend", "AzureMLBackend", "Backend", "LocalBackend", "find_workspace_config", "resolve_backend"]
