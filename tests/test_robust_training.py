"""Robust training (issue 26): every corruption family on the fly, ranges held out from the benchmark,
training photos only, and selection on the mean of clean and corrupted validation accuracy."""

from __future__ import annotations

import numpy as np
import pytest

import asl_recog as asl
from asl_recog.data import _robust_augment as robust
from asl_recog.data._augment import TABULAR_STRENGTH, augment, tabular_copies
from asl_recog.data._photos import background_crops
from asl_recog.evaluation import CORRUPTIONS
from asl_recog.models import ood_images
from asl_recog.routes.hyperdrive._augmented import augmented_batches, outlier_pool, to_uint8, with_corrupted_copy


@pytest.fixture(scope="module")
def images(test_data: asl.SignMnistDataset) -> np.ndarray:
    return test_data.images[:64]


def test_augmentation_is_seeded_and_strength_zero_only_mirrors(images: np.ndarray) -> None:
    first = robust.robust_augment(images, 1.0, np.random.default_rng(3))
    np.testing.assert_array_equal(first, robust.robust_augment(images, 1.0, np.random.default_rng(3)))
    assert not np.array_equal(first, robust.robust_augment(images, 1.0, np.random.default_rng(4)))
    changed = (first != images).any(axis=(1, 2)).mean()
    assert changed > 0.9  # nearly every image is changed at full strength
    mirrored_only = robust.robust_augment(images, 0.0, np.random.default_rng(0))
    same = [np.array_equal(a, b) or np.array_equal(a, b[:, ::-1]) for a, b in zip(mirrored_only, images, strict=True)]
    assert (
        all(same)
        and 0.2 < np.mean([not np.array_equal(a, b) for a, b in zip(mirrored_only, images, strict=True)]) < 0.8
    )
    with pytest.raises(asl.ConfigurationError, match="strength"):
        robust.robust_augment(images, 1.5, np.random.default_rng(0))


def test_training_ranges_stop_short_of_the_benchmarks_top_severity() -> None:
    """Every family is trained, and severity 3 of every corruption lies beyond training's range."""
    trained = set(robust.TRAIN_LEVELS) | {"mirror"}
    assert trained == set(CORRUPTIONS)
    for name, (none, limit) in robust.TRAIN_LEVELS.items():
        top = CORRUPTIONS[name].levels[-1]
        assert abs(limit - none) < abs(top - none), f"{name}: training reaches {limit}, the benchmark's top is {top}"


def test_training_backgrounds_come_only_from_the_training_photos() -> None:
    np.testing.assert_array_equal(robust._training_backgrounds(0), background_crops("train", 2048, 0))
    benchmark = background_crops("benchmark", 256, 0)
    training = robust._training_backgrounds(0).reshape(len(robust._training_backgrounds(0)), -1)
    assert not any((training == crop.ravel()).all(axis=1).any() for crop in benchmark)


def test_batches_are_fresh_each_epoch_and_repeat_for_a_seed(images: np.ndarray) -> None:
    x = (images[..., None] / 255.0).astype(np.float32)
    np.testing.assert_array_equal(to_uint8(x), images)
    y = np.arange(len(images)) % 24
    one, two = augmented_batches(x, y, 16, 1.0, seed=1), augmented_batches(x, y, 16, 1.0, seed=1)
    assert len(one) == 4
    first = one[0]
    np.testing.assert_array_equal(first[0], two[0][0])
    assert (
        first[0].shape == (16, 28, 28, 1)
        and first[0].dtype == np.float32
        and 0 <= first[0].min() <= first[0].max() <= 1
    )
    one.on_epoch_end()
    assert not np.array_equal(one[0][0], first[0])  # another order and other corruptions next epoch
    seen = np.concatenate([one[i][1] for i in range(len(one))])
    assert sorted(seen) == sorted(y)  # each image once per epoch


def test_a_robust_share_leaves_the_rest_of_each_batch_only_mildly_moved(images: np.ndarray) -> None:
    """robust_share: that share of a batch is corrupted from every family, the rest only shifted
    and turned a little (no mirror, no photo behind the hand), as the old recipe's Keras layers did."""
    x, y = (images[..., None] / 255.0).astype(np.float32), np.arange(len(images))

    def distances(share: float) -> np.ndarray:
        batch, labels = augmented_batches(x, y, 64, 1.0, seed=3, share=share)[0]
        source = x[labels]
        np.testing.assert_array_equal(batch, augmented_batches(x, y, 64, 1.0, seed=3, share=share)[0][0])
        return np.abs(batch - source).mean(axis=(1, 2, 3))

    mild, mixed, robust = distances(0.0), distances(0.5), distances(1.0)
    assert mild.max() < robust.max() and mild.mean() < 0.6 * robust.mean()
    assert np.median(mild) < np.median(mixed) < np.median(robust)


def test_outlier_exposure_adds_no_hand_images_with_letters_drawn_at_random(images: np.ndarray) -> None:
    """outlier_share: each batch gains that share of no-hand images, labelled -1, seeded; the
    hands' own draws are those of a fit without it."""
    x, y = (images[..., None] / 255.0).astype(np.float32), np.arange(len(images)) % 24
    plain = augmented_batches(x, y, 32, 0.75, seed=5, share=0.5)
    exposed = augmented_batches(x, y, 32, 0.75, seed=5, share=0.5, outliers=0.25)
    batch, labels = exposed[0]
    assert batch.shape == (40, 28, 28, 1) and len(labels) == 40
    np.testing.assert_array_equal(batch[:32], plain[0][0])  # the hands are unchanged by it
    np.testing.assert_array_equal(labels[:32], plain[0][1])
    np.testing.assert_array_equal(batch, augmented_batches(x, y, 32, 0.75, seed=5, share=0.5, outliers=0.25)[0][0])
    pool = outlier_pool(5)
    assert pool.shape == (5 * 600, 28, 28) and pool.dtype == np.uint8
    # the pool is none of the threshold's own images (seed 0), nor the benchmark half's photos
    threshold_photos = ood_images(50, 0)["photos"].reshape(50, -1)
    assert not any((pool.reshape(len(pool), -1) == crop).all(axis=1).any() for crop in threshold_photos)
    assert (labels[32:] == -1).all()  # no letter: the loss takes the uniform distribution as target
    index = np.arange(len(images))  # labels that say which image each row is
    untouched = augmented_batches(x, index, 32, 0.0, seed=5, outliers=0.25)[0]
    np.testing.assert_array_equal(untouched[0][:32], x[untouched[1][:32]])  # strength 0: hands as they are
    with pytest.raises(asl.ConfigurationError, match="outlier_share"):
        augmented_batches(x, y, 32, 0.75, seed=5, outliers=-0.1)


def test_the_loss_takes_a_uniform_target_for_label_minus_one_and_other_losses_are_refused(small_split) -> None:
    from asl_recog.routes.hyperdrive._builders import _sparse_smoothed_loss, build_default, build_seed
    from asl_recog.routes.hyperdrive._training import train_network

    loss = _sparse_smoothed_loss()(label_smoothing=0.1)
    uniform = np.full((1, 24), 1 / 24, dtype=np.float32)
    sure = np.eye(24, dtype=np.float32)[[3]] * 0.97 + 0.03 / 24
    # For "no letter" the uniform answer is the best one, and the loss of it is log(24).
    assert float(loss(np.array([-1]), uniform)) == pytest.approx(np.log(24), rel=1e-5)
    assert float(loss(np.array([-1]), sure)) > float(loss(np.array([-1]), uniform))
    assert float(loss(np.array([3]), sure)) < float(loss(np.array([3]), uniform))
    network = build_default({"filters": 8, "hidden": 16, "outlier_share": 0.25})
    assert type(network.loss).__name__ == "SparseSmoothedCrossentropy"
    train, _ = small_split
    x, y = train.float_images[:64], np.arange(64) % 24
    with pytest.raises(asl.ConfigurationError, match="outlier_share=0.25 labels its no-hand images -1"):
        train_network(build_seed, {"epochs": 1, "hidden": 8, "outlier_share": 0.25}, (x, y), None)


def test_selection_validation_is_clean_then_one_fixed_corrupted_copy(images: np.ndarray) -> None:
    x, y = (images[..., None] / 255.0).astype(np.float32), np.arange(len(images)) % 24
    vx, vy = with_corrupted_copy((x, y))
    assert len(vx) == 2 * len(x) and (vy == np.concatenate([y, y])).all()
    np.testing.assert_array_equal(vx[: len(x)], x)
    np.testing.assert_array_equal(vx, with_corrupted_copy((x, y))[0])  # every trial sees the same copy


def test_the_default_network_is_selected_on_clean_and_corrupted_validation(small_split, tmp_path) -> None:
    train, validation = small_split
    trainer = asl.HyperDriveTrainer(
        builder="default",
        max_total_runs=1,
        fixed_params={"epochs": 1, "filters": 8, "hidden": 16},
        progress=False,
        refit=False,
        run_dir=str(tmp_path / "run"),
    )
    result = trainer.fit(train, validation)
    info = result.best_model.info
    assert info["selection_score"] == pytest.approx(result.best_score)
    # the leaderboard's score is the mean of the clean accuracy (the model's validation_score) and the corrupted one
    assert result.best_score == pytest.approx(
        (info["validation_score"] + info["validation_score_corrupted"]) / 2, abs=1e-6
    )
    seed = asl.HyperDriveTrainer(
        builder="seed",
        max_total_runs=1,
        fixed_params={"epochs": 1, "hidden": 16},
        progress=False,
        refit=False,
        run_dir=str(tmp_path / "seed"),
    ).fit(train, validation)
    assert "selection_score" not in seed.best_model.info  # the reference network is unchanged


def test_the_tabular_table_keeps_a_geometric_copy_beside_the_robust_one(images: np.ndarray) -> None:
    """AutoML's table: originals, a robust copy, a geometric copy; seeded, and the mode is checked."""
    labels = np.arange(len(images)) % 24
    x, y = tabular_copies(images, labels, seed=2)
    n = len(images)
    assert x.shape == (3 * n, *images.shape[1:]) and x.dtype == images.dtype
    np.testing.assert_array_equal(x[:n], images)
    np.testing.assert_array_equal(y, np.tile(labels, 3))
    robust_only, _ = augment(images, labels, copies=1, seed=2, strength=TABULAR_STRENGTH)
    np.testing.assert_array_equal(x[n : 2 * n], robust_only[n:])  # the same draws as the robust mode
    assert not np.array_equal(x[2 * n :], images) and not np.array_equal(x[2 * n :], x[n : 2 * n])
    np.testing.assert_array_equal(x, tabular_copies(images, labels, seed=2)[0])
    with pytest.raises(asl.ConfigurationError, match="'robust', 'geometric' or 'mixed'"):
        augment(images, labels, mode="both")  # type: ignore[arg-type]
