"""The skl2onnx converter of :class:`HogFeaturizer`: the same four steps as its NumPy code, as ONNX operators.

Registered with skl2onnx (shape calculator + converter) by :func:`register_hog_converter`,
which :func:`~asl_recog.models._export.convert_sklearn_estimator` calls before every
conversion, so any pipeline that starts with the featurizer exports with the usual
parity check.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from asl_recog.data._labels import IMAGE_SIZE
from asl_recog.models._hog import CLIP, EPS, MAG_EPS, HogFeaturizer
from asl_recog.models._skl2onnx_graph import GraphWriter, register_once

_ALIAS = "AslRecogHogFeaturizer"


def _shape_calculator(operator: Any) -> None:
    from skl2onnx.common.data_types import FloatTensorType

    rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = FloatTensorType([rows, operator.raw_operator.n_features_out_])


def _converter(scope: Any, operator: Any, container: Any) -> None:
    hog: HogFeaturizer = operator.raw_operator
    n, ppc, cpb = hog._check()
    side = IMAGE_SIZE // ppc - cpb + 1

    graph = GraphWriter(scope, container, "Hog")
    const, node = graph.const, graph.node

    images = node(
        "Reshape", [operator.inputs[0].full_name, const("shape", [-1, 1, IMAGE_SIZE, IMAGE_SIZE], np.int64)], "img"
    )
    # 1. gradients: central differences as fixed convolutions, border rows/columns zeroed
    kernel_row = np.zeros((1, 1, 3, 3), np.float32)
    kernel_row[0, 0, 2, 1], kernel_row[0, 0, 0, 1] = 1.0, -1.0
    kernel_col = np.zeros((1, 1, 3, 3), np.float32)
    kernel_col[0, 0, 1, 2], kernel_col[0, 0, 1, 0] = 1.0, -1.0
    mask_row = np.zeros((1, 1, IMAGE_SIZE, IMAGE_SIZE), np.float32)
    mask_row[..., 1:-1, :] = 1.0
    mask_col = np.zeros((1, 1, IMAGE_SIZE, IMAGE_SIZE), np.float32)
    mask_col[..., :, 1:-1] = 1.0
    pads = [1, 1, 1, 1]
    g_row = node(
        "Mul", [node("Conv", [images, const("krow", kernel_row)], "grow", pads=pads), const("mrow", mask_row)], "gr"
    )
    g_col = node(
        "Mul", [node("Conv", [images, const("kcol", kernel_col)], "gcol", pads=pads), const("mcol", mask_col)], "gc"
    )
    # 2. orientation binning by projection onto each bin's doubled-angle direction
    rr, cc = node("Mul", [g_row, g_row], "rr"), node("Mul", [g_col, g_col], "cc")
    mag = node("Sqrt", [node("Add", [rr, cc], "mag2")], "mag")
    denom = node("Add", [mag, const("mageps", MAG_EPS)], "denom")
    along = node("Div", [node("Sub", [cc, rr], "ccrr"), denom], "d1")
    across = node("Div", [node("Mul", [node("Mul", [const("two", 2.0), g_col], "gc2"), g_row], "crg"), denom], "d2")
    channels = node("Concat", [along, across, mag], "chan", axis=1)
    weights = hog.bin_weights().reshape(n, 3, 1, 1)
    binned = node("Relu", [node("Conv", [channels, const("bins", weights)], "proj")], "binned")
    # 3. cells: mean over each pixels_per_cell square
    cells = node("AveragePool", [binned], "cells", kernel_shape=[ppc, ppc], strides=[ppc, ppc])
    # 4. blocks: the cells of each block on the channel axis, then L2-Hys
    axes = const("axes23", [2, 3], np.int64)
    parts = [
        node("Slice", [cells, const("s", [r, c], np.int64), const("e", [r + side, c + side], np.int64), axes], "part")
        for r in range(cpb)
        for c in range(cpb)
    ]
    blocks = node("Concat", parts, "blocks", axis=1)
    channel_axis, eps2 = const("axis1", [1], np.int64), const("eps2", EPS * EPS)

    def l2(x: str) -> str:
        total = node("ReduceSumSquare", [x, channel_axis], "ss", keepdims=1)
        return node("Div", [x, node("Sqrt", [node("Add", [total, eps2], "sse")], "norm")], "l2")

    clipped = node("Min", [l2(blocks), const("clip", CLIP)], "clipped")
    container.add_node(
        "Flatten",
        [l2(clipped)],
        [operator.outputs[0].full_name],
        name=scope.get_unique_operator_name("HogFlatten"),
        axis=1,
    )


def register_hog_converter() -> None:
    """Teach skl2onnx :class:`HogFeaturizer` (idempotent; called before each conversion)."""
    register_once(HogFeaturizer, _ALIAS, _shape_calculator, _converter)


__all__ = ["register_hog_converter"]
