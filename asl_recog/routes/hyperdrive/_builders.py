"""Keras network builders for the HyperDrive route, and their default search spaces.

A builder is ``params -> compiled keras.Model`` taking ``(28, 28, 1)`` float
images in 0..1 and returning 24 softmax outputs. Training params
(``batch_size``, ``epochs``) are read by the training loop, not the builder.
Networks use only built-in layers, so ``model.export(format="onnx")`` works.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from asl_recog._console import import_keras
from asl_recog._errors import ConfigurationError
from asl_recog.data._labels import IMAGE_SIZE, NUM_CLASSES
from asl_recog.search._space import RandomParameterSampling, Sampling, choice, loguniform, uniform

_SEED_DEFAULTS: dict[str, Any] = {"hidden": 256, "batch_size": 128, "epochs": 5, "dropout": 0.3, "learning_rate": 1e-3}
# The recipe: cosine decay over the whole fit (training loop) and label smoothing.
# On the grouped validation split, 4 epochs reach 0.98 this way against 0.96 with
# per-epoch exponential decay (docs/benchmarks.md).
_DEFAULT_DEFAULTS: dict[str, Any] = {
    "filters": 32,
    "hidden": 128,
    "batch_size": 128,
    "epochs": 4,
    "dropout": 0.3,
    "learning_rate": 3e-3,
    "lr_schedule": "cosine",
    "label_smoothing": 0.1,
    "augment": True,
    # Every corruption family on the fly (routes/hyperdrive/_augmented.py); 0 falls back to
    # the Keras layers' shift, rotation and zoom that ``augment`` adds.
    "robust_strength": 0.75,
    # Half of each batch corrupted from every family, the other half only mildly shifted and
    # turned: at 6 epochs (bench/bench_robust_strength.py, seed 0) clean validation 0.980 and mCA
    # 0.807, against 0.879 and 0.703 with every image corrupted at the same strength.
    "robust_share": 0.5,
    "lr_decay": 0.7,
    "decay_images": 21_700,
    # Issue 32: a share of each batch with the hand cut out, re-lit, shrunk and put on other
    # backgrounds (asl_recog/data/_transfer_augment.py), out of the robust half, and each image
    # standardised in the network. The quick main job's CNN (seeds 0 and 1) then reads the Massey
    # photos at 0.464/0.363 top-1 (0.324/0.331 without) and the test file at 0.9999/0.9974
    # (1.0000/0.9934), its selection score 0.9274/0.9232 (0.9195/0.9249). At 0.3 the photos read
    # 0.489/0.495 but the test file 0.9974/0.9862 and selection 0.9165/0.8841 (docs/benchmarks.md).
    "transfer_share": 0.15,
    "normalize": True,
    # The network's shape (issue 30, item 2): conv blocks (2 or 3; pooling after each), and
    # depthwise-separable convolutions in the blocks after the first (a 3x3 depthwise filter per
    # channel, then a 1x1 mix: about 1/8 of the multiply-adds of a full 3x3 convolution here).
    # The Pareto table in docs/benchmarks.md ("Network size") measures what each costs and keeps.
    "blocks": 3,
    "separable": False,
}
#: The conv block counts the default builder accepts: 28 -> 14 -> 7 (-> 3) after pooling.
BLOCKS = (2, 3)
#: Learning-rate schedules of the default builder: "cosine" is applied per batch by the
#: training loop (it needs the step count); "exponential" decays by ``lr_decay`` every
#: ``decay_images`` images (the previous recipe).
LR_SCHEDULES = ("cosine", "exponential", "constant")


def _compile(model: Any, learning_rate: Any, label_smoothing: float = 0.0, outliers: bool = False) -> Any:
    keras = import_keras()

    rate = (
        learning_rate
        if isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule)
        else float(learning_rate)
    )
    loss = (
        _sparse_smoothed_loss()(label_smoothing=float(label_smoothing))
        if label_smoothing or outliers  # only this loss reads label -1 (no hand) as a uniform target
        else "sparse_categorical_crossentropy"
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=rate), loss=loss, metrics=["accuracy"])
    return model


@functools.cache
def _sparse_smoothed_loss() -> Any:
    """Cross-entropy with label smoothing on integer class targets; label -1 means "no letter".

    Keras's ``SparseCategoricalCrossentropy`` has no ``label_smoothing`` and the
    categorical one wants one-hot targets; this keeps every builder's network
    trainable with the same integer labels. Registered, so saved models name it.
    A negative label takes the uniform distribution as its target: outlier exposure's
    loss for an image with no hand (``routes/hyperdrive/_augmented.py``).
    """
    import_keras()  # quiet start-up; the plain import below lets mypy see a module it can subclass from
    import keras

    @keras.saving.register_keras_serializable(package="asl_recog", name="SparseSmoothedCrossentropy")
    class SparseSmoothedCrossentropy(keras.losses.Loss):
        def __init__(
            self, label_smoothing: float = 0.1, name: str = "sparse_smoothed_crossentropy", **kwargs: Any
        ) -> None:
            super().__init__(name=name, **kwargs)
            self.label_smoothing = float(label_smoothing)

        def call(self, y_true: Any, y_pred: Any) -> Any:
            ops = keras.ops
            labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
            classes = ops.shape(y_pred)[-1]
            onehot = ops.one_hot(labels, classes)  # a row of zeros for a negative label
            # A negative label is an image with no hand (outlier exposure): its target is uniform.
            uniform = ops.cast(ops.expand_dims(labels < 0, -1), y_pred.dtype)
            target = onehot * (1 - uniform) + uniform / ops.cast(classes, y_pred.dtype)
            return keras.losses.categorical_crossentropy(target, y_pred, label_smoothing=self.label_smoothing)

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "label_smoothing": self.label_smoothing}

    return SparseSmoothedCrossentropy


def build_seed(params: dict[str, Any]) -> Any:
    """The seed project's network: Conv2D(28, 3x3) -> MaxPool -> Dense(hidden) -> Dropout -> Dense(24).

    Example:
        >>> model = build_seed({"hidden": 128, "dropout": 0.2, "learning_rate": 1e-3})
    """
    keras = import_keras()
    layers = keras.layers

    p = {**_SEED_DEFAULTS, **params}
    model = keras.Sequential(
        [
            keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1)),
            layers.Conv2D(28, (3, 3), activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(int(p["hidden"]), activation="relu"),
            layers.Dropout(float(p["dropout"])),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="seed_cnn",
    )
    return _compile(model, p["learning_rate"])


def build_default(params: dict[str, Any]) -> Any:
    """Three batch-normalised conv blocks trained on corrupted copies, then dropout and softmax.

    With ``robust_strength`` > 0 (0.75 by default) the training loop feeds each batch
    corrupted afresh with every family of the corruption benchmark, within training's own
    ranges (:mod:`asl_recog.data._robust_augment`), ``robust_share`` of it (half by default;
    the rest only shifted and turned a little); with 0 and ``augment``, Keras layers
    (shift 0.1, rotation ~10 degrees, zoom 0.1) augment instead, acting only in training. Batch norm uses
    momentum 0.9 so its moving statistics are usable after the first epoch. The
    learning rate follows ``lr_schedule``: by default a cosine decay with warm-up
    over the whole fit, applied by the training loop, so the last epochs settle at
    a low rate however many epochs or images there are; ``label_smoothing`` (0.1)
    keeps the softmax from growing over-confident on near-duplicate photos.
    ``outlier_share`` > 0 (off by default) adds no-hand images to each batch, labelled -1,
    which the compiled loss reads as a uniform target (outlier exposure,
    :mod:`asl_recog.routes.hyperdrive._augmented`). ``transfer_share`` (0.15 by default) gives
    that share of each batch the transfer augmentation (the hand cut out and put on other
    backgrounds, issue 32), and ``normalize`` (on by default) standardises each image (its own
    mean and spread) in the network's first layer, a built-in ``LayerNormalization`` without
    weights, so the exported ONNX graph does it too and a served answer equals the library's.
    ``blocks`` (3) sets the conv blocks, 2 or 3, and ``separable`` (off) makes the blocks after
    the first depthwise-separable: a leaner network, measured in docs/benchmarks.md ("Network size").

    Example:
        >>> model = build_default({"filters": 32, "dropout": 0.3, "learning_rate": 2e-3})
        >>> lean = build_default({"filters": 32, "separable": True})
        >>> model.count_params(), lean.count_params()  # the dense layers hold most of the weights
        (244024, 162968)
    """
    keras = import_keras()
    layers = keras.layers

    p = {**_DEFAULT_DEFAULTS, **params}
    filters = int(p["filters"])
    blocks, separable = _shape(p)
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1))
    x = inputs
    if p["augment"] and not float(p["robust_strength"] or 0):
        x = layers.RandomTranslation(0.1, 0.1, fill_mode="nearest")(x)
        x = layers.RandomRotation(10 / 360, fill_mode="nearest")(x)
        x = layers.RandomZoom(0.1, fill_mode="nearest")(x)
    if p.get("normalize"):
        # Each image to zero mean and unit spread over its pixels: a hand on black and the same
        # hand on a grey wall differ less after it, and a darker or brighter exposure not at all.
        # Built in and weightless, so saving, loading and the ONNX export need nothing of ours.
        x = layers.LayerNormalization(axis=[1, 2, 3], center=False, scale=False, epsilon=1e-3)(x)
    for block in range(blocks):
        # Conv-BN-ReLU; pooling after each block halves 28 -> 14 -> 7 -> 3. The first block stays a full
        # convolution: on one input channel a separable one would be a 3x3 filter and a scaling.
        conv = layers.SeparableConv2D if separable and block > 0 else layers.Conv2D
        x = conv(filters * 2**block, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=0.9)(x)
        x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(float(p["dropout"]))(x)
    x = layers.Dense(int(p["hidden"]), activation="relu")(x)
    x = layers.Dropout(float(p["dropout"]))(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax")(x)
    if p["lr_schedule"] not in LR_SCHEDULES:
        raise ConfigurationError(f"lr_schedule must be one of {LR_SCHEDULES}, got {p['lr_schedule']!r}")
    rate: Any = float(p["learning_rate"])
    if p["lr_schedule"] == "exponential":
        steps = max(1, round(float(p["decay_images"]) / int(p["batch_size"])))
        rate = keras.optimizers.schedules.ExponentialDecay(rate, steps, float(p["lr_decay"]))
    outliers = float(p.get("outlier_share") or 0) > 0
    return _compile(keras.Model(inputs, outputs, name="default_cnn"), rate, float(p["label_smoothing"]), outliers)


def _shape(p: dict[str, Any]) -> tuple[int, bool]:
    """The default network's ``blocks`` and ``separable``, checked (a bad value names the param and the fix)."""
    blocks, separable = p["blocks"], p["separable"]
    if isinstance(blocks, bool) or not isinstance(blocks, numbers.Integral) or blocks not in BLOCKS:
        raise ConfigurationError(f"blocks must be one of {BLOCKS} (conv blocks of the default network), got {blocks!r}")
    if not isinstance(separable, bool):
        raise ConfigurationError(f"separable must be True or False, got {separable!r}")
    return int(blocks), separable


def _seed_sampling() -> Sampling:
    return RandomParameterSampling(
        {
            "hidden": choice(128, 256, 512),
            "batch_size": choice(64, 128, 256),
            "epochs": choice(5, 8, 10),
            "dropout": uniform(0.1, 0.5),
            "learning_rate": loguniform(math.log(3e-4), math.log(3e-3)),
        }
    )


def _default_sampling() -> Sampling:
    # Around the recipe (cosine decay, label smoothing). On the grouped validation split
    # 8 epochs ended at 0.988 and 12 at 0.999 (the last epochs at a low rate are where the
    # near-duplicates stop being memorised and the held-out photos come right); peak rates
    # of 2e-3 to 5e-3 suit Adam with batch norm here.
    return RandomParameterSampling(
        {
            "filters": choice(32, 48),
            "hidden": choice(128, 256),
            "epochs": choice(10, 12),
            "dropout": uniform(0.2, 0.4),
            "learning_rate": loguniform(math.log(2e-3), math.log(5e-3)),
            "label_smoothing": choice(0.05, 0.1),
            "robust_strength": choice(0.5, 0.75, 1.0),
        }
    )


@dataclass(frozen=True)
class BuilderSpec:
    """One named network builder: the function, the params it assumes, the space searched by default.

    Attributes:
        build: ``params -> compiled keras.Model`` (missing params take ``defaults``).
        defaults: the value of every param a search does not set, training params included.
        sampling: makes the builder's default search space.

    Example:
        >>> BUILDERS["seed"].defaults["hidden"], BUILDERS["seed"].build is build_seed
        (256, True)
    """

    build: Callable[[dict[str, Any]], Any]
    defaults: dict[str, Any]
    sampling: Callable[[], Sampling]
    #: Trials are ranked by the mean of clean and corrupted validation accuracy (issue 26).
    robust_selection: bool = False


#: The named builders, the one list of builder names; ``"default"`` is the default.
BUILDERS: dict[str, BuilderSpec] = {
    "default": BuilderSpec(build_default, _DEFAULT_DEFAULTS, _default_sampling, robust_selection=True),
    "seed": BuilderSpec(build_seed, _SEED_DEFAULTS, _seed_sampling),
}
#: Each named builder's defaults, used for params a search does not set.
DEFAULTS: dict[str, dict[str, Any]] = {name: spec.defaults for name, spec in BUILDERS.items()}


def _unknown(builder: object) -> ConfigurationError:
    return ConfigurationError(f"builder must be one of {list(BUILDERS)} or a callable, got {builder!r}")


def get_builder(builder: str | Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
    """The builder function for a name or a callable."""
    if callable(builder):
        return builder
    if builder not in BUILDERS:
        raise _unknown(builder)
    return BUILDERS[builder].build


def default_sampling(name: str = "default") -> Sampling:
    """Each builder's default search space, in the HyperDrive vocabulary.

    Example:
        >>> default_sampling("seed").parameter_space["hidden"]
        choice(128, 256, 512)
    """
    spec = BUILDERS.get(name)
    if spec is None:
        raise ConfigurationError(
            f"no default search space for builder {name!r}; choose one of {list(BUILDERS)}, "
            "or pass hyperparameter_sampling= with your own space"
        )
    return spec.sampling()


__all__ = [
    "BLOCKS",
    "BuilderSpec",
    "BUILDERS",
    "DEFAULTS",
    "build_seed",
    "build_default",
    "default_sampling",
    "get_builder",
]
