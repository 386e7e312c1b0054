"""Moved to :mod:`asl_recog.deploy._local` (the deployers left ``serving/`` in 0.2.0).

Kept only so ``from asl_recog.serving._deploy_local import free_port`` keeps working in the
service's own tests until they import it from ``asl_recog.deploy._local``; then delete this file.
"""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    # By name, not an import statement: asl_recog.deploy sits above asl_recog.serving.
    return getattr(importlib.import_module("asl_recog.deploy._local"), name)
