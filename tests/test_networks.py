"""The default builder's shapes (issue 30, item 2): blocks, separable convolutions, their cost and export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import asl_recog as asl
from asl_recog.models._base import KerasModel
from asl_recog.routes.hyperdrive._builders import build_default
from asl_recog.routes.hyperdrive._cost import network_cost
from asl_recog.routes.hyperdrive.train_cnn import parse_args

#: The default network's arithmetic, layer by layer: three 3x3 convolutions at 28, 14 and 7 pixels
#: (32, 64, 128 filters), then Dense(1152 -> 128) and Dense(128 -> 24).
DEFAULT_MACS = 28 * 28 * 9 * 1 * 32 + 14 * 14 * 9 * 32 * 64 + 7 * 7 * 9 * 64 * 128 + 1152 * 128 + 128 * 24
#: The same with blocks 2 and 3 depthwise-separable: a 3x3 filter per channel, then a 1x1 mix.
SEPARABLE_MACS = 28 * 28 * 9 * 32 + 14 * 14 * (9 * 32 + 32 * 64) + 7 * 7 * (9 * 64 + 64 * 128) + 1152 * 128 + 128 * 24


def _layer_kinds(network: object) -> list[str]:
    return [type(layer).__name__ for layer in network.layers]  # type: ignore[attr-defined]


def test_the_default_shape_is_unchanged_and_costs_what_its_layers_say() -> None:
    network = build_default({})
    kinds = _layer_kinds(network)
    assert kinds.count("Conv2D") == 3 and "SeparableConv2D" not in kinds
    cost = network_cost(network)
    assert cost.macs == DEFAULT_MACS == 7_601_664
    assert cost.parameters == network.count_params()


def test_separable_blocks_after_the_first_cut_the_arithmetic_six_fold() -> None:
    network = build_default({"separable": True})
    kinds = _layer_kinds(network)
    assert kinds.count("Conv2D") == 1 and kinds.count("SeparableConv2D") == 2
    assert network_cost(network).macs == SEPARABLE_MACS
    assert DEFAULT_MACS / SEPARABLE_MACS > 6
    assert network.output_shape == (None, 24)


def test_two_blocks_end_at_7_pixels() -> None:
    network = build_default({"blocks": 2, "filters": 16})
    assert _layer_kinds(network).count("Conv2D") == 2
    flat = next(layer for layer in network.layers if type(layer).__name__ == "Flatten")
    assert flat.output.shape[-1] == 7 * 7 * 32
    assert network.output_shape == (None, 24)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"blocks": 4}, r"blocks must be one of \(2, 3\) .*got 4"),
        ({"blocks": 2.5}, r"blocks must be one of \(2, 3\) .*got 2.5"),
        ({"blocks": True}, r"blocks must be one of \(2, 3\) .*got True"),
        ({"separable": "yes"}, r"separable must be True or False, got 'yes'"),
    ],
)
def test_a_bad_shape_is_refused_with_the_param_and_the_allowed_values(params: dict, message: str) -> None:
    with pytest.raises(asl.ConfigurationError, match=message):
        build_default(params)


def test_a_shape_can_be_fixed_in_a_search_and_on_the_training_script() -> None:
    trainer = asl.HyperDriveTrainer(fixed_params={"separable": True, "blocks": 2}, max_total_runs=1)
    assert trainer.fixed_params == {"separable": True, "blocks": 2}
    # HyperDrive sends quantized values as floats ("2.0"); the script reads them as whole numbers.
    _, params = parse_args(["--blocks", "2.0", "--separable", "true"])
    assert params["blocks"] == 2 and params["separable"] is True


def test_a_separable_network_exports_to_onnx_with_parity(
    tmp_path: Path, small_split: tuple[asl.SignMnistDataset, asl.SignMnistDataset]
) -> None:
    _, validation = small_split
    model = KerasModel(build_default({"separable": True, "blocks": 2}), {"separable": True, "blocks": 2}, {})
    onnx_model = asl.export_onnx(model, tmp_path / "lean.onnx", parity_data=validation[:64], test_data=False)
    images = validation[:64]
    np.testing.assert_allclose(
        np.asarray(onnx_model.predict_proba(images)), np.asarray(model.predict_proba(images)), atol=1e-4
    )


def test_a_grouped_convolution_counts_each_group_once() -> None:
    from asl_recog._console import import_keras

    keras = import_keras()
    inputs = keras.Input((28, 28, 4))
    network = keras.Model(inputs, keras.layers.Conv2D(8, 3, padding="same", groups=2)(inputs))
    # Each of the 8 filters sees the 2 input channels of its group: 28 x 28 positions x 9 x 2 x 8.
    assert network_cost(network).macs == 28 * 28 * 9 * 2 * 8
