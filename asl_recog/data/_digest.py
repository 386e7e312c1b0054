"""The one SHA-256 of data arrays: what names a data set in the artifact store, the run record and MLflow."""

from __future__ import annotations

import hashlib

import numpy as np


def arrays_sha256(*arrays: np.ndarray) -> str:
    """SHA-256 over each array's dtype, shape and bytes, in order.

    Example:
        >>> arrays_sha256(np.zeros(2, np.uint8)) == arrays_sha256(np.zeros(2, np.uint8))
        True
        >>> arrays_sha256(np.zeros(2, np.uint8)) == arrays_sha256(np.zeros((1, 2), np.uint8))
        False
    """
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


__all__ = ["arrays_sha256"]
