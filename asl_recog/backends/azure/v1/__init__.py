"""Azure ML SDK v1 (azureml-core; deprecated by Microsoft since 2026-06-30)."""

from __future__ import annotations

from asl_recog.backends.azure.v1._backend import AzureMLBackend

__all__ = ["AzureMLBackend"]
