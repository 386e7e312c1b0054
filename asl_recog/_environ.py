"""Environment variables set for one block of code, then put back as they were."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set ``values`` in ``os.environ`` for a ``with`` block (or a decorated function), then restore them.

    For settings that a library or a child process reads from the environment at the time of the
    call: a worker process about to be spawned copies the environment, and MLflow's HTTP layer reads
    its retry settings per request.

    Example:
        >>> with environment({"ASL_RECOG_EXAMPLE": "1"}):
        ...     os.environ["ASL_RECOG_EXAMPLE"]
        '1'
        >>> "ASL_RECOG_EXAMPLE" in os.environ
        False
    """
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


__all__ = ["environment"]
