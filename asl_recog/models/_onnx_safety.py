"""What a served ONNX file may contain: its own data only, and operators onnxruntime implements itself.

An ONNX file is data, but two of its features reach outside it: tensors can
keep their values in external files (a path onnxruntime opens), and nodes can
name operators of custom domains (which run native code registered for them).
:func:`check_self_contained` refuses both before a session is created.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from asl_recog._errors import ModelFileError

#: Operator domains onnxruntime implements itself (standard ONNX, ONNX-ML and its own contrib operators).
SAFE_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "com.microsoft"})


def _initializers(graph: Any) -> list[Any]:
    return [*graph.initializer, *(t for sparse in graph.sparse_initializer for t in (sparse.values, sparse.indices))]


def _graphs(proto: Any) -> Iterator[tuple[list[Any], list[Any]]]:
    """(tensors, nodes) of the main graph, of every subgraph (If/Loop/Scan bodies) and of every local function."""
    pending = [(_initializers(proto.graph), list(proto.graph.node))]
    pending += [([], list(function.node)) for function in proto.functions]
    while pending:
        tensors, nodes = pending.pop()
        for node in nodes:
            for attr in node.attribute:
                tensors += attr.tensors
                tensors += [t for sparse in attr.sparse_tensors for t in (sparse.values, sparse.indices)]
                if attr.HasField("t"):
                    tensors.append(attr.t)
                if attr.HasField("sparse_tensor"):
                    tensors += [attr.sparse_tensor.values, attr.sparse_tensor.indices]
                subgraphs = [*attr.graphs, *([attr.g] if attr.HasField("g") else [])]
                pending += [(_initializers(graph), list(graph.node)) for graph in subgraphs]
        yield tensors, nodes


def check_self_contained(proto: Any, source: str) -> None:
    """Refuse graphs that read other files (external data) or need operators from outside onnxruntime.

    External data names a path that onnxruntime would open (``../../etc/passwd`` as weights); a custom
    operator domain needs a native library registered to run it. Neither belongs in a served model.
    """
    import onnx

    local = {function.domain for function in proto.functions}  # defined in the file, out of standard operators
    for tensors, nodes in _graphs(proto):
        for tensor in tensors:
            if tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data):
                where = next((e.value for e in tensor.external_data if e.key == "location"), "?")
                raise ModelFileError(
                    f"{source}: tensor {tensor.name!r} keeps its data in an external file "
                    f"({where!r}); a served model must be one self-contained file. Fix: re-export "
                    "it, or merge the data with onnx.load(path, load_external_data=True) and "
                    "onnx.save(model, path, save_as_external_data=False)"
                )
        for node in nodes:
            if node.domain not in SAFE_DOMAINS and node.domain not in local:
                raise ModelFileError(
                    f"{source}: node {node.name or node.op_type!r} uses operator "
                    f"{node.domain}.{node.op_type} from a custom domain, which needs code outside "
                    f"onnxruntime; only the domains {sorted(SAFE_DOMAINS)} are run. Fix: export "
                    "the model with standard ONNX operators (asl_recog.export_onnx)"
                )
