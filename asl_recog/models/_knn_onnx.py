"""Nearest neighbours in ONNX as one matrix product, for scikit-learn's KNeighborsClassifier.

skl2onnx finds the neighbours of an image with onnxruntime's ``CDist`` kernel (or a
``Scan`` loop, slower still), which walks the stored samples one by one: 3.4 ms of
the 4.4 ms a quick-preset AutoML ensemble took per image, for a KNN member holding
55k augmented samples of 50 features. Squared Euclidean distances expand into
``|x|^2 - 2 x.y + |y|^2``, whose middle term is one ``MatMul`` that onnxruntime fuses
with the addition into one GEMM: 1.1 ms there, which is about the time to read the
11 MB of samples once, so a KNN over that many samples cannot be much faster.

The expansion cancels digits when two points are close. In float32 on PCA features
(centred, of order one) that stays far below the gaps between neighbours: on the
ensemble above, all 7,172 test images got scikit-learn's answer (probabilities within
1.2e-7); a float64 graph was slower (5.2 ms: onnxruntime has no fast double GEMM).
The export's parity check guards every model.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def gemm_neighbours(
    x: Any, samples: np.ndarray, k: int, metric: str, dtype: Any, op_version: int, keep_distances: bool
) -> Any:
    """skl2onnx's ``onnx_nearest_neighbors_indices_k`` for stored samples, through a MatMul.

    Args:
        x: the graph's features (an skl2onnx algebra node), ``(N, D)``.
        samples: the fitted ``(M, D)`` samples (``_fit_X``).
        k: neighbours to find.
        metric: ``"euclidean"`` or ``"sqeuclidean"``.
        dtype: the graph's float type (the distances are returned in it).
        op_version: the opset (11 or later: TopK with ``largest=0``).
        keep_distances: also return the neighbours' distances.

    Returns:
        The ``(N, k)`` indices of the nearest samples, nearest first, and, with
        ``keep_distances``, their distances: what the skl2onnx function returns, except
        that the distances are positive (skl2onnx 1.20 negates them; see ``_export.py``).
    """
    from onnx import TensorProto
    from skl2onnx.algebra.onnx_ops import OnnxAdd, OnnxCast, OnnxMatMul, OnnxMax, OnnxMul, OnnxSqrt, OnnxTopK_11

    stored = np.asarray(samples, dtype=np.float32)
    xd = OnnxCast(x, to=TensorProto.FLOAT, op_version=op_version)
    cross = OnnxMatMul(xd, np.ascontiguousarray(-2.0 * stored.T), op_version=op_version)  # (N, M): -2 x.y
    x_sq = OnnxMatMul(
        OnnxMul(xd, xd, op_version=op_version), np.ones((stored.shape[1], 1), dtype=stored.dtype), op_version=op_version
    )
    squared = OnnxAdd(
        OnnxAdd(
            cross, (stored * stored).sum(axis=1, dtype=np.float64).astype(stored.dtype)[None, :], op_version=op_version
        ),
        x_sq,
        op_version=op_version,
    )
    squared = OnnxMax(squared, np.zeros(1, dtype=stored.dtype), op_version=op_version)  # rounding can leave -1e-16
    dist = OnnxSqrt(squared, op_version=op_version) if metric == "euclidean" else squared
    top = OnnxTopK_11(dist, np.array([k], dtype=np.int64), largest=0, sorted=1, op_version=11)
    if not keep_distances:
        return top[1]
    to = TensorProto.FLOAT if np.dtype(dtype) == np.float32 else TensorProto.DOUBLE
    return top[1], OnnxCast(top[0], to=to, op_version=op_version)


#: The metrics :func:`gemm_neighbours` computes (scikit-learn's minkowski with p=2 reaches
#: skl2onnx as "euclidean").
GEMM_METRICS = ("euclidean", "sqeuclidean")

__all__ = ["GEMM_METRICS", "gemm_neighbours"]
