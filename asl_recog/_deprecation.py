"""Warn once per process about a deprecated path (the Azure ML SDK v1 routes)."""

from __future__ import annotations

import logging
import warnings

logger = logging.getLogger("asl_recog")
_warned: set[str] = set()


def warn_once(key: str, message: str, *, stacklevel: int = 3) -> None:
    """Emit ``message`` as a FutureWarning and a log line, the first time ``key`` is seen."""
    if key in _warned:
        return
    _warned.add(key)
    warnings.warn(message, FutureWarning, stacklevel=stacklevel + 1)
    logger.warning(message)
