"""Rewrites of an exported Keras graph: a stable output name, and two that make one image cheaper.

Keras 3 exports (through tf2onnx) two layers of the default network as chains of small nodes,
and onnxruntime runs each node as its own kernel call, about a microsecond apiece, which for
one 28x28 image weighs as much as arithmetic (issue 30):

- the weightless per-image ``LayerNormalization`` (``normalize``) as eleven element-wise nodes
  (ReduceMean, Sub, Mul, ReduceMean, Add, Sqrt, Reciprocal, Mul, Neg, Mul, Add). ONNX has had
  one ``LayerNormalization`` operator since opset 17; neither tf2onnx's layer-norm rewriter
  (it matches Keras 2's ops, with a scale and an offset) nor onnxruntime's ``LayerNormFusion``
  (it matches a ``Div`` by the deviation) recognises this chain, so it is matched here;
- ``Flatten``'s target shape, computed at run time from the batch size (Shape, Gather, Cast,
  Slice, Concat, Cast): ``[-1, K]`` reads the same for every batch and is a constant.

Both compute what the chains compute (the layer norm to float rounding, about 1e-6 on the
probabilities; the export's parity check still compares the result with Keras). Writing them
here costs about a hundred lines; the alternative, onnxscript's rewriter, is a new dependency
for two patterns. Measured in docs/benchmarks.md ("ONNX graph rewrites and split batches").
"""

from __future__ import annotations

from typing import Any

import numpy as np


def simplify_keras_graph(proto: Any) -> dict[str, int]:
    """Fuse weightless layer normalisations and make run-time flatten shapes constant, in place.

    Returns:
        How many of each rewrite applied (``{"layer_norm": n, "flatten": m}``); a graph without
        the patterns is left as it was.

    Example:
        >>> from asl_recog.routes.hyperdrive._builders import build_default
        >>> from asl_recog.models._export import _convert_keras
        >>> proto = _convert_keras(build_default({"normalize": True, "filters": 8, "hidden": 16}))
        >>> sorted({n.op_type for n in proto.graph.node} & {"LayerNormalization", "Shape", "Sqrt"})
        ['LayerNormalization']
    """
    graph = proto.graph
    fused = _fuse_layer_norms(graph, _static_shapes(proto))
    flattened = _constant_flatten_shapes(graph)
    if fused or flattened:
        _drop_unused_nodes(graph)
    return {"layer_norm": fused, "flatten": flattened}


def rename_output(proto: Any, new: str) -> None:
    """Give the single graph output a stable name, rewiring the nodes that produce or use it."""
    if len(proto.graph.output) != 1 or proto.graph.output[0].name == new:
        return
    old = proto.graph.output[0].name
    for node in proto.graph.node:
        node.output[:] = [new if n == old else n for n in node.output]
        node.input[:] = [new if n == old else n for n in node.input]
    proto.graph.output[0].name = new


def _constant(graph: Any, name: str) -> np.ndarray | None:
    from onnx import numpy_helper

    for init in graph.initializer:
        if init.name == name:
            return np.asarray(numpy_helper.to_array(init))
    return None


def _producers(graph: Any) -> dict[str, Any]:
    return {out: node for node in graph.node for out in node.output}


def _static_shapes(proto: Any) -> dict[str, list[int]]:
    """Each tensor's inferred dims (0 where not static), by name."""
    from onnx import shape_inference

    inferred = shape_inference.infer_shapes(proto).graph
    return {
        info.name: [d.dim_value if d.HasField("dim_value") else 0 for d in info.type.tensor_type.shape.dim]
        for info in [*inferred.input, *inferred.value_info]
    }


def _fuse_layer_norms(graph: Any, shapes: dict[str, list[int]]) -> int:
    """Replace each chain ``(x - mean) * rsqrt(var + eps)`` over all non-batch axes with one node.

    The chain, as tf2onnx writes Keras 3's layer: ``m = ReduceMean(x)``, ``d = Sub(x, m)``,
    ``v = ReduceMean(Mul(d, d))``, ``r = Reciprocal(Sqrt(Add(v, eps)))``, and the output
    ``Add(Mul(x, r), Mul(Neg(m), r))``.
    """
    from onnx import helper, numpy_helper

    made, count = _producers(graph), 0
    for out_node in list(graph.node):  # a fused node keeps its chain's output name: the map stays right
        match = _match_layer_norm(graph, out_node, made) if out_node.op_type == "Add" else None
        if match is None:
            continue
        x, eps, axes = match
        dims = shapes.get(x, [])
        shape = [dims[a] for a in axes] if len(dims) == axes[-1] + 1 else []
        if not shape or not all(shape):  # the scale needs the static sizes of the normalised axes
            continue
        scale_name = f"{out_node.output[0]}__layer_norm_scale"
        graph.initializer.append(numpy_helper.from_array(np.ones(shape, np.float32), scale_name))
        fused = helper.make_node(
            "LayerNormalization", [x, scale_name], [out_node.output[0]], axis=axes[0], epsilon=eps,
            name=f"{out_node.name or out_node.output[0]}__fused",
        )  # fmt: skip
        index = list(graph.node).index(out_node)
        graph.node.remove(out_node)
        graph.node.insert(index, fused)
        count += 1
    return count


def _match_layer_norm(graph: Any, add: Any, made: dict[str, Any]) -> tuple[str, float, list[int]] | None:
    """``(x, epsilon, axes)`` when ``add`` ends the chain of :func:`_fuse_layer_norms`, else None."""

    def op(name: str, kind: str) -> Any:
        node = made.get(name)
        return node if node is not None and node.op_type == kind else None

    scaled, shifted = (op(add.input[0], "Mul"), op(add.input[1], "Mul")) if len(add.input) == 2 else (None, None)
    if scaled is None or shifted is None:
        return None
    negated = next((i for i, name in enumerate(shifted.input) if op(name, "Neg") is not None), None)
    if negated is None:
        return None
    mean = op(op(shifted.input[negated], "Neg").input[0], "ReduceMean")
    rstd = shifted.input[1 - negated]
    x = next((i for i in scaled.input if i != rstd), None)
    if mean is None or x is None or rstd not in scaled.input or mean.input[0] != x:
        return None
    reciprocal = op(rstd, "Reciprocal")
    sqrt = op(reciprocal.input[0], "Sqrt") if reciprocal is not None else None
    plus = op(sqrt.input[0], "Add") if sqrt is not None else None
    if plus is None:
        return None
    var_name, eps_name = plus.input if _constant(graph, plus.input[1]) is not None else reversed(plus.input)
    variance, eps = op(var_name, "ReduceMean"), _constant(graph, eps_name)
    square = op(variance.input[0], "Mul") if variance is not None else None
    diff = op(square.input[0], "Sub") if square is not None and square.input[0] == square.input[1] else None
    if diff is None or eps is None or eps.size != 1 or list(diff.input) != [x, mean.output[0]]:
        return None
    axes = _axes(mean)
    if axes is None or axes != _axes(variance) or axes != list(range(axes[0], axes[0] + len(axes))):
        return None
    return x, float(eps.reshape(())), axes


def _axes(node: Any) -> list[int] | None:
    """A ReduceMean's axes (the attribute form of opset 17), kept dims only; None otherwise."""
    attrs = {a.name: a for a in node.attribute}
    if "axes" not in attrs or (attrs["keepdims"].i if "keepdims" in attrs else 1) != 1 or len(node.input) != 1:
        return None
    return sorted(int(a) for a in attrs["axes"].ints)


def _constant_flatten_shapes(graph: Any) -> int:
    """Give each Reshape whose target is ``Concat([batch], [K...])`` the constant ``[-1, K...]``.

    ``batch`` is a run-time value (Flatten reads the batch size), the rest constants with no -1
    or 0; for any input the Reshape accepts, ``-1`` resolves to that same batch size.
    """
    from onnx import numpy_helper

    made, count = _producers(graph), 0
    for node in graph.node:
        if node.op_type != "Reshape" or len(node.input) != 2:
            continue
        source = made.get(node.input[1])
        while source is not None and source.op_type == "Cast":
            source = made.get(source.input[0])
        if source is None or source.op_type != "Concat" or len(source.input) != 2:
            continue
        rest = _constant(graph, source.input[1])
        if rest is None or _constant(graph, source.input[0]) is not None or rest.ndim != 1 or (rest <= 0).any():
            continue
        shape_name = f"{node.output[0]}__constant_shape"
        graph.initializer.append(numpy_helper.from_array(np.array([-1, *rest.tolist()], np.int64), shape_name))
        node.input[1] = shape_name
        count += 1
    return count


def _drop_unused_nodes(graph: Any) -> None:
    """Remove nodes (and initializers) nothing reads any more, working back from the outputs."""
    needed = {out.name for out in graph.output}
    kept = []
    for node in reversed(list(graph.node)):
        if any(out in needed for out in node.output):
            kept.append(node)
            needed.update(node.input)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    unused = [init for init in graph.initializer if init.name not in needed]
    for init in unused:
        graph.initializer.remove(init)


__all__ = ["rename_output", "simplify_keras_graph"]
