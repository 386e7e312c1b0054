"""Azure ML SDK v2 (azure-ai-ml)."""

from __future__ import annotations

from asl_recog.backends.azure.v2._backend import AzureBackend

__all__ = ["AzureBackend"]
