"""The skl2onnx converter of scikit-learn's RBF :class:`~sklearn.kernel_approximation.Nystroem`.

skl2onnx 1.20 has no converter for ``Nystroem`` (it has ``KernelPCA``, whose exact kernel
over every training row is what the approximation avoids). The map is short enough to
write out with the same expansion as :mod:`asl_recog.models._knn_onnx`:

    features = exp(-gamma * (|x|^2 - 2 x.C + |C|^2)) @ normalization_.T

where ``C`` are the ``m`` fitted landmark rows. The distances are one float32 GEMM, so an
image costs ``D x m`` multiply-adds plus ``m x m`` for the normalization: 150 x 1,000 +
1,000 x 1,000 on HOG + PCA, against the RBF SVC's 9-12k support vectors of 150 features
and its one-against-one votes. Only the RBF kernel is converted; any other kernel is
refused at export with its name. The export's parity check guards the result.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from asl_recog.models._skl2onnx_graph import GraphWriter, rbf_kernel, register_once

_ALIAS = "AslRecogNystroem"


def _shape_calculator(operator: Any) -> None:
    from skl2onnx.common.data_types import FloatTensorType

    rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = FloatTensorType([rows, operator.raw_operator.normalization_.shape[0]])


def _converter(scope: Any, operator: Any, container: Any) -> None:
    from onnx import TensorProto

    nystroem = operator.raw_operator
    if nystroem.kernel != "rbf" or nystroem.kernel_params:
        raise NotImplementedError(
            f"asl_recog converts Nystroem(kernel='rbf') only, got kernel={nystroem.kernel!r}; use the RBF kernel"
        )
    landmarks = np.asarray(nystroem.components_, dtype=np.float64)
    gamma = 1.0 / landmarks.shape[1] if nystroem.gamma is None else float(nystroem.gamma)

    graph = GraphWriter(scope, container, "Nystroem")
    const, node = graph.const, graph.node
    x = node("Cast", [operator.inputs[0].full_name], "x", to=TensorProto.FLOAT)
    kernel = rbf_kernel(graph, x, landmarks, gamma)
    container.add_node(
        "MatMul",
        [kernel, const("norm", np.asarray(nystroem.normalization_, dtype=np.float64).T)],
        [operator.outputs[0].full_name],
        name=scope.get_unique_operator_name("NystroemNormalize"),
    )


def register_nystroem_converter() -> None:
    """Teach skl2onnx the RBF ``Nystroem`` (idempotent; called before each conversion)."""
    from sklearn.kernel_approximation import Nystroem

    register_once(Nystroem, _ALIAS, _shape_calculator, _converter)


__all__ = ["register_nystroem_converter"]
