"""Warn once per process about a deprecated path: the Azure ML SDK v1 routes, renamed names."""

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


def warn_renamed(old: str, new: str, *, since: str = "0.2.0", removed_in: str = "0.4.0") -> None:
    """Warn that ``old`` (a module path, argument or config key) is now called ``new``."""
    warn_once(
        f"renamed:{old}",
        f"{old} was renamed to {new} in asl_recog {since} and will be removed in {removed_in}; use {new}",
        stacklevel=3,
    )
