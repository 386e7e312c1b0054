"""What a Keras network costs per image: its weights and its multiply-adds, counted from its layers.

Keras reports parameters (``count_params``) but not compute. Latency on one image is what a
user feels, but it depends on the machine and the runtime; multiply-adds do not, so the
network-size table (docs/benchmarks.md, "Network size") gives both. Counted here: the
convolutions (full, depthwise and depthwise-separable) and the dense layers, which hold
nearly all the arithmetic; batch normalisation folds into the convolution before it in the
exported graph, and pooling, activations and the per-image normalisation cost a few
operations per value, which are left out (about 1 % of the default network's count).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class NetworkCost:
    """A network's size and arithmetic per image.

    Attributes:
        parameters: every weight, trainable or not (``model.count_params()``).
        macs: multiply-adds of the convolutions and dense layers for one image.

    Example:
        >>> from asl_recog.routes.hyperdrive._builders import build_seed
        >>> cost = network_cost(build_seed({"hidden": 128}))
        >>> cost.macs == 26 * 26 * 9 * 28 + 13 * 13 * 28 * 128 + 128 * 24
        True
    """

    parameters: int
    macs: int


def _spatial(shape: Any) -> int:
    """Output positions of a layer whose output is ``(batch, height, width, channels)``."""
    return int(math.prod(int(d) for d in shape[1:-1]))


def layer_macs(layer: Any) -> int:
    """Multiply-adds of one Keras layer for one image (0 for the layers not counted, see the module).

    A ``SeparableConv2D`` counts its 3x3 filter per channel and its 1x1 mix across channels.

    Example:
        >>> from asl_recog.routes.hyperdrive._builders import build_default
        >>> network = build_default({"separable": True})
        >>> [layer_macs(layer) for layer in network.layers if "Conv" in type(layer).__name__]
        [225792, 457856, 429632]
    """
    kind = type(layer).__name__
    if kind == "Dense":
        return int(layer.kernel.shape[0]) * int(layer.units)
    if kind not in ("Conv2D", "DepthwiseConv2D", "SeparableConv2D"):
        return 0
    positions = _spatial(layer.output.shape)
    k = int(math.prod(layer.kernel_size))
    if kind == "Conv2D":
        # The kernel is (kh, kw, channels in per group, filters): grouped convolutions count right as they are.
        return positions * k * int(layer.kernel.shape[-2]) * int(layer.filters)
    depthwise = layer.depthwise_kernel if kind == "SeparableConv2D" else layer.kernel
    channels_in, multiplier = int(depthwise.shape[-2]), int(depthwise.shape[-1])
    macs = positions * k * channels_in * multiplier
    if kind == "SeparableConv2D":
        macs += positions * channels_in * multiplier * int(layer.filters)
    return macs


def network_cost(model: Any) -> NetworkCost:
    """Parameters and multiply-adds per image of a built Keras model (see :class:`NetworkCost`).

    Example:
        >>> from asl_recog.routes.hyperdrive._builders import build_default
        >>> network_cost(build_default({}))  # the default network: 3 convolutions, 2 dense layers
        NetworkCost(parameters=244024, macs=7601664)
    """
    return NetworkCost(parameters=int(model.count_params()), macs=sum(layer_macs(layer) for layer in _layers(model)))


def _layers(model: Any) -> list[Any]:
    """Every layer, nested models' layers included (a Sequential inside a functional model)."""
    found: list[Any] = []
    for layer in model.layers:
        found.extend(_layers(layer) if hasattr(layer, "layers") else [layer])
    return found


__all__ = ["NetworkCost", "layer_macs", "network_cost"]
