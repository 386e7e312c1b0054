"""The exported Keras graph's rewrites: one LayerNormalization node, a constant flatten shape, same answers."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import asl_recog as asl
from asl_recog.models._base import KerasModel
from asl_recog.models._export import _convert_keras
from asl_recog.models._onnx_fuse import simplify_keras_graph
from asl_recog.routes.hyperdrive._builders import build_default

#: The element-wise ops that tf2onnx writes for Keras 3's weightless LayerNormalization and Flatten.
CHAIN_OPS = {"ReduceMean", "Sqrt", "Reciprocal", "Neg", "Shape", "Gather", "Slice", "Concat", "Cast"}


def _run(proto: Any, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {session.get_inputs()[0].name: x})[0])


def _chain_graph(axes: list[int], extra_use_of_mean: bool = False) -> Any:
    """Keras 3's layer norm as tf2onnx writes it, then Flatten with its run-time shape, on (N, 4, 3, 2)."""
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["mean"], axes=axes, keepdims=1),
        helper.make_node("Sub", ["x", "mean"], ["diff"]),
        helper.make_node("Mul", ["diff", "diff"], ["square"]),
        helper.make_node("ReduceMean", ["square"], ["var"], axes=axes, keepdims=1),
        helper.make_node("Add", ["var", "eps"], ["var_eps"]),
        helper.make_node("Sqrt", ["var_eps"], ["std"]),
        helper.make_node("Reciprocal", ["std"], ["rstd"]),
        helper.make_node("Mul", ["x", "rstd"], ["scaled"]),
        helper.make_node("Neg", ["mean"], ["neg_mean"]),
        helper.make_node("Mul", ["neg_mean", "rstd"], ["shift"]),
        helper.make_node("Add", ["scaled", "shift"], ["normed"]),
        helper.make_node("Shape", ["normed"], ["shape"]),
        helper.make_node("Cast", ["shape"], ["shape32"], to=TensorProto.INT32),
        helper.make_node("Slice", ["shape32", "zero", "one", "zero"], ["batch"]),
        helper.make_node("Concat", ["batch", "rest"], ["target32"], axis=0),
        helper.make_node("Cast", ["target32"], ["target"], to=TensorProto.INT64),
        helper.make_node("Reshape", ["normed", "target"], ["flat"]),
    ]
    outputs = [helper.make_tensor_value_info("flat", TensorProto.FLOAT, [None, 24])]
    if extra_use_of_mean:
        nodes.append(helper.make_node("Identity", ["mean"], ["mean_out"]))
        outputs.append(helper.make_tensor_value_info("mean_out", TensorProto.FLOAT, None))
    constants = [
        numpy_helper.from_array(np.array(1e-3, np.float32), "eps"),
        numpy_helper.from_array(np.array([0], np.int32), "zero"),
        numpy_helper.from_array(np.array([1], np.int32), "one"),
        numpy_helper.from_array(np.array([24], np.int32), "rest"),
    ]
    graph = helper.make_graph(
        nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4, 3, 2])], outputs, constants
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize(("batch", "axes"), [(1, [1, 2, 3]), (3, [1, 2, 3]), (3, [2, 3])])
def test_the_chains_become_one_layer_norm_and_a_constant_shape_with_the_same_output(
    batch: int, axes: list[int]
) -> None:
    proto = _chain_graph(axes)
    x = np.random.default_rng(batch).normal(3.0, 2.0, (batch, 4, 3, 2)).astype(np.float32)
    before = _run(proto, x)
    assert simplify_keras_graph(proto) == {"layer_norm": 1, "flatten": 1}
    onnx.checker.check_model(proto, full_check=True)
    ops = [node.op_type for node in proto.graph.node]
    assert ops == ["LayerNormalization", "Reshape"], ops
    assert [i.name for i in proto.graph.initializer if i.name in {"zero", "one", "rest"}] == []  # dead: dropped
    np.testing.assert_allclose(_run(proto, x), before, atol=1e-5)
    if axes == [1, 2, 3]:
        np.testing.assert_allclose(_run(proto, x).mean(axis=1), 0.0, atol=1e-5)  # still normalised per image


def test_chains_that_differ_from_the_pattern_are_left_alone() -> None:
    partial = _chain_graph([1, 2])  # not up to the last axis: LayerNormalization's axis cannot say it
    assert simplify_keras_graph(partial)["layer_norm"] == 0
    assert "Sqrt" in {node.op_type for node in partial.graph.node}
    shared = _chain_graph([1, 2, 3], extra_use_of_mean=True)  # the mean is read elsewhere: it stays
    x = np.random.default_rng(0).normal(size=(2, 4, 3, 2)).astype(np.float32)
    expected = _run(shared, x)
    assert simplify_keras_graph(shared) == {"layer_norm": 1, "flatten": 1}
    assert {"ReduceMean", "LayerNormalization"} <= {node.op_type for node in shared.graph.node}
    np.testing.assert_allclose(_run(shared, x), expected, atol=1e-5)


def test_the_default_networks_export_has_no_chain_ops_and_keeps_parity(
    small_split: tuple[asl.SignMnistDataset, asl.SignMnistDataset], tmp_path: Any
) -> None:
    network = build_default({"normalize": True, "filters": 8, "hidden": 16})
    ops = [node.op_type for node in _convert_keras(network).graph.node]
    assert ops.count("LayerNormalization") == 1 and not CHAIN_OPS & set(ops), ops
    model = KerasModel(network, {"normalize": True}, {})
    exported = asl.export_onnx(model, tmp_path / "fused.onnx", parity_data=small_split[1])  # the parity rule holds
    images = small_split[1].images[:64]
    np.testing.assert_allclose(exported.predict_proba(images), model.predict_proba(images), atol=1e-5)
    for batch in (images[:1], images[:0]):  # one image, and none: the constant shape serves both
        assert exported.predict_proba(batch).shape == (len(batch), 24)
