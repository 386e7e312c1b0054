"""What this package's own skl2onnx converters share: named constants and nodes, and registration once.

skl2onnx lets a library teach it a type (``update_registered_converter``: a shape calculator
and a converter that writes ONNX nodes into a container). The HOG featurizer, the RBF
Nystroem map and the prototype KNN are taught that way; each converter writes its nodes
through :class:`GraphWriter`, and each registers through :func:`register_once`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

_registered: set[type] = set()


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


__all__ = ["GraphWriter", "register_once"]
