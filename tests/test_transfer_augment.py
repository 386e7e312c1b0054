"""Training for the transfer (issue 32, part 3): the hand cut out of Sign Language MNIST, re-lit,
rescaled and put on other backgrounds, in the CNN's batches; and the per-image normalisation
layer, exported to ONNX with parity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import asl_recog as asl
from asl_recog.data import _transfer_augment as transfer
from asl_recog.models._base import KerasModel
from asl_recog.models._export import export_onnx
from asl_recog.routes.hyperdrive._augmented import augmented_batches
from asl_recog.routes.hyperdrive._builders import build_default


@pytest.fixture(scope="module")
def images(train_data: asl.SignMnistDataset) -> np.ndarray:
    return train_data.images[:48]


@pytest.fixture(scope="module")
def masks(images: np.ndarray) -> np.ndarray:
    return transfer.hand_masks(images)


def test_hand_masks_find_the_hand_not_the_wall(images: np.ndarray, masks: np.ndarray) -> None:
    assert masks.shape == images.shape and masks.dtype == np.float32
    assert masks.min() >= 0 and masks.max() <= 1
    # The hand is in the middle and leaves by the bottom edge; the top corners are wall.
    middle, corners = masks[:, 10:24, 8:20].mean(), masks[:, :4, [0, 1, 2, 3, -4, -3, -2, -1]].mean()
    assert middle > 0.7 and corners < 0.15, (middle, corners)
    # A plain wall with no edges has no hand in it.
    assert transfer.hand_masks(np.full((1, 28, 28), 180, np.uint8)).max() < 0.5


def test_scenes_repeat_for_a_seed_and_differ_between_seeds(images: np.ndarray, masks: np.ndarray) -> None:
    first, alphas = transfer.transfer_scenes(images, np.random.default_rng(5), masks)
    assert first.shape == images.shape and first.dtype == np.uint8 and alphas.shape == images.shape
    again, _ = transfer.transfer_scenes(images, np.random.default_rng(5), masks)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, transfer.transfer_scenes(images, np.random.default_rng(6), masks)[0])
    np.testing.assert_array_equal(transfer.transfer_augment(images, np.random.default_rng(5)), first)
    with pytest.raises(asl.ConfigurationError, match="backgrounds"):
        transfer.transfer_scenes(images, np.random.default_rng(0), masks, backgrounds=("moon",))


def test_black_background_keeps_the_hand_lit(images: np.ndarray, masks: np.ndarray) -> None:
    scenes, alphas = transfer.transfer_scenes(images, np.random.default_rng(1), masks, backgrounds=("black",))
    around, hand = scenes[alphas == 0], scenes[alphas > 0.9]
    assert around.mean() < 30 and np.percentile(around, 99) < 60  # near black, a little noise
    assert hand.mean() > around.mean() + 50  # the Massey polarity: a lit hand on black


def test_light_wall_puts_the_hand_darker_than_its_background(images: np.ndarray, masks: np.ndarray) -> None:
    scenes, alphas = transfer.transfer_scenes(images, np.random.default_rng(2), masks, backgrounds=("light_wall",))
    darker = [s[a > 0.9].mean() < s[a == 0].mean() for s, a in zip(scenes, alphas, strict=True) if (a > 0.9).any()]
    # The polarity of photos in rooms: most hands darker than the wall behind them, not all.
    assert 0.6 < np.mean(darker) < 1.0, np.mean(darker)


def test_the_hand_is_shrunk_and_moved(images: np.ndarray, masks: np.ndarray) -> None:
    _, alphas = transfer.transfer_scenes(images, np.random.default_rng(3), masks)
    area = alphas.sum(axis=(1, 2)) / masks.sum(axis=(1, 2))
    # 40-100 % of the side is 16-100 % of the area, give or take the jitter and the cut edges.
    assert area.min() > 0.1 and area.max() < 1.2 and area.mean() < 0.75, (area.min(), area.mean(), area.max())
    rows = cols = np.arange(28)
    centres = np.array([(a.sum(axis=0) @ cols / a.sum(), a.sum(axis=1) @ rows / a.sum()) for a in alphas])
    assert centres[:, 0].std() > 2 and centres[:, 1].std() > 2  # off-centre, both ways


def test_batches_carry_the_transfer_share(images: np.ndarray) -> None:
    x = (images[..., None] / 255.0).astype(np.float32)
    y = np.arange(len(images)) % 24
    plain = augmented_batches(x, y, 48, 0.0, seed=4)[0][0]
    np.testing.assert_array_equal(plain, augmented_batches(x, y, 48, 0.0, seed=4, transfer=0.0)[0][0])
    moved = augmented_batches(x, y, 48, 0.0, seed=4, transfer=0.5)[0][0]
    np.testing.assert_array_equal(moved, augmented_batches(x, y, 48, 0.0, seed=4, transfer=0.5)[0][0])
    changed = (np.abs(moved - plain) > 0.02).mean(axis=(1, 2, 3)) > 0.3
    assert 0.25 < changed.mean() < 0.75  # about half of them, the rest left as they were (strength 0)
    with pytest.raises(asl.ConfigurationError, match="transfer_share"):
        augmented_batches(x, y, 48, 0.0, seed=4, transfer=1.5)


def test_normalize_layer_ignores_exposure_and_exports_with_parity(
    small_split: tuple[asl.SignMnistDataset, asl.SignMnistDataset], tmp_path: Path
) -> None:
    network = build_default({"normalize": True, "filters": 8, "hidden": 16})
    data = small_split[1].float_images[:32]
    plain = network.predict(data, verbose=0)
    # A brighter exposure of the same image reads the same; a flatter one nearly (the layer's epsilon).
    np.testing.assert_allclose(network.predict(data + 0.2, verbose=0), plain, atol=1e-5)
    np.testing.assert_allclose(network.predict(data * 0.6, verbose=0), plain, atol=2e-2)
    model = KerasModel(network, {"normalize": True}, {})
    exported = export_onnx(model, tmp_path / "normalized.onnx", parity_data=small_split[1])
    np.testing.assert_allclose(exported.predict_proba(small_split[1]), model.predict_proba(small_split[1]), atol=1e-4)
