"""What this package's own skl2onnx converters share: named constants and nodes, common subgraphs, registration.

skl2onnx lets a library teach it a type (``update_registered_converter``: a shape calculator
and a converter that writes ONNX nodes into a container). The HOG featurizer, the RBF
Nystroem map and the prototype KNN are taught that way, once per process
(:func:`register_once`); the RBF SVC and Platt scaling, which skl2onnx converts itself, get
this package's converter only inside one conversion (:func:`converted_as`). Each converter
writes its nodes through :class:`GraphWriter`; the RBF kernel (:func:`rbf_kernel`) and the
arg-max label (:func:`class_labels`) are written once here for those that need them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

_registered: set[type] = set()
_aliases: set[str] = set()


class GraphWriter:
    """Adds initializers and nodes to an skl2onnx container, each under a unique name.

    Example:
        >>> # inside a converter(scope, operator, container):
        >>> # g = GraphWriter(scope, container, "Hog"); y = g.node("Relu", [g.const("w", w)], "y")
    """

    def __init__(self, scope: Any, container: Any, prefix: str) -> None:
        self.scope, self.container, self.prefix = scope, container, prefix

    def const(self, stem: str, value: Any, dtype: Any = np.float32) -> str:
        """A constant tensor (float32, or int64 for shapes and axes); returns its name."""
        from onnx import TensorProto

        arr = np.asarray(value, dtype=dtype)
        name = self.scope.get_unique_variable_name(stem)
        onnx_type = TensorProto.INT64 if arr.dtype == np.int64 else TensorProto.FLOAT
        self.container.add_initializer(name, onnx_type, list(arr.shape), arr.ravel().tolist())
        return name

    def node(self, op: str, inputs: list[str], stem: str, **attrs: Any) -> str:
        """One ``op`` node on ``inputs``; returns the name of its output."""
        out = self.scope.get_unique_variable_name(stem)
        name = self.scope.get_unique_operator_name(f"{self.prefix}{op}")
        self.container.add_node(op, inputs, [out], name=name, **attrs)
        return out


def rbf_kernel(graph: GraphWriter, x: str, rows: np.ndarray, gamma: float) -> str:
    """``exp(-gamma |x - row|^2)`` against every row (Nystroem's landmarks, an SVC's support vectors).

    Written with the expansion ``|x|^2 - 2 x.row + |row|^2`` of :mod:`asl_recog.models._knn_onnx`,
    the constants folded, so the rows are read once by one float32 GEMM:
    ``x.(2 gamma R) - gamma |x|^2 - gamma |R|^2``. Returns the name of the ``(N, rows)`` kernel.
    """
    const, node = graph.const, graph.node
    cross = node("MatMul", [x, const("r2g", 2.0 * gamma * rows.T)], "cross")
    x_sq = node("ReduceSumSquare", [x, const("axis1", [1], np.int64)], "xsq", keepdims=1)
    shifted = node("Sub", [cross, node("Mul", [x_sq, const("gamma", gamma)], "gxsq")], "shift")
    exponent = node("Sub", [shifted, const("grsq", gamma * (rows**2).sum(axis=1))], "expo")
    # Rounding may leave a tiny positive exponent for an image on a row; the kernel is <= 1.
    return node("Exp", [node("Min", [exponent, const("zero", 0.0)], "clip")], "kernel")


def class_labels(graph: GraphWriter, scores: str, classes: np.ndarray, output: str) -> None:
    """Write ``output``: the class of the highest score in each row of ``scores`` (int64 labels)."""
    best = graph.node("ArgMax", [scores], "best", axis=1, keepdims=0)
    graph.container.add_node(
        "Gather",
        [graph.const("classes", np.asarray(classes), np.int64), best],
        [output],
        name=graph.scope.get_unique_operator_name(f"{graph.prefix}Label"),
    )


def register_once(
    model_type: type,
    alias: str,
    shape_calculator: Callable[[Any], None],
    converter: Callable[[Any, Any, Any], None],
    options: dict[str, list[Any]] | None = None,
) -> None:
    """Teach skl2onnx ``model_type`` (idempotent: called before each conversion)."""
    if model_type in _registered:
        return
    from skl2onnx import update_registered_converter

    update_registered_converter(model_type, alias, shape_calculator, converter, options=options)
    _registered.add(model_type)


@contextlib.contextmanager
def converted_as(
    model_type: type,
    alias: str,
    skl2onnx_alias: str,
    shape_calculator: Callable[[Any], None],
    converter: Callable[[Any, Any, Any], None],
) -> Iterator[None]:
    """Convert ``model_type`` with ``converter`` for the duration of one skl2onnx conversion.

    For types skl2onnx already converts (SVC, CalibratedClassifierCV), where
    :func:`register_once` would replace its converter for the whole process. skl2onnx keys its
    converters by the type's alias; the alias is pointed at ours only inside the block, so other
    code converting the same type in this process still gets skl2onnx's own graph. Ours takes
    the options skl2onnx's converter allows, and falls back to it for what it does not handle.

    Example:
        >>> # with converted_as(SVC, "AslRecogSVC", "SklearnSVC", shape, converter): convert_sklearn(...)
    """
    from skl2onnx._supported_operators import sklearn_operator_name_map
    from skl2onnx.common._registration import _converter_pool, register_converter, register_shape_calculator

    if alias not in _aliases:
        options = _converter_pool[skl2onnx_alias].get_allowed_options()
        register_converter(alias, converter, overwrite=True, options=options)
        register_shape_calculator(alias, shape_calculator, overwrite=True)
        _aliases.add(alias)
    previous = sklearn_operator_name_map[model_type]
    sklearn_operator_name_map[model_type] = alias
    try:
        yield
    finally:
        sklearn_operator_name_map[model_type] = previous


__all__ = ["GraphWriter", "class_labels", "converted_as", "rbf_kernel", "register_once"]
