"""The grouped split keeps near-duplicates together, so validation predicts test accuracy."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

import asl_recog as asl
from asl_recog.data._split import similarity_groups


@pytest.fixture(scope="module")
def groups(train_data: asl.SignMnistDataset) -> np.ndarray:
    return similarity_groups(train_data)


def _positions(data: asl.SignMnistDataset, part: asl.SignMnistDataset) -> np.ndarray:
    """Row positions of ``part``'s images in ``data`` (images are matched by their bytes and label)."""
    index = {(data.images[i].tobytes(), int(data.labels[i])): i for i in range(len(data))}
    return np.array([index[(part.images[i].tobytes(), int(part.labels[i]))] for i in range(len(part))])


def test_no_group_lands_on_both_sides(train_data: asl.SignMnistDataset, groups: np.ndarray) -> None:
    fit, validation = asl.train_validation_split(train_data, seed=0, groups=groups)
    fit_groups = set(groups[_positions(train_data, fit)])
    val_groups = set(groups[_positions(train_data, validation)])
    assert fit_groups and val_groups
    assert fit_groups.isdisjoint(val_groups)
    assert len(fit) + len(validation) == len(train_data)


def test_grouped_split_is_stratified_and_sized(train_data: asl.SignMnistDataset, groups: np.ndarray) -> None:
    fit, validation = asl.train_validation_split(train_data, fraction=0.2, seed=3, groups=groups)
    assert 0.17 < len(validation) / len(train_data) < 0.25
    assert set(np.unique(validation.labels)) == set(asl.LABELS) == set(np.unique(fit.labels))
    per_letter = validation.class_counts() / train_data.class_counts()
    assert per_letter.min() > 0.1 and per_letter.max() < 0.35


def test_split_is_repeatable_per_seed(train_data: asl.SignMnistDataset, groups: np.ndarray) -> None:
    a = asl.train_validation_split(train_data, seed=7, groups=groups)[1]
    b = asl.train_validation_split(train_data, seed=7, groups=groups)[1]
    c = asl.train_validation_split(train_data, seed=8, groups=groups)[1]
    assert np.array_equal(a.images, b.images)
    assert not np.array_equal(a.labels, c.labels) or not np.array_equal(a.images, c.images)


def test_groups_are_photo_sized(groups: np.ndarray) -> None:
    # ~1,700 source photos for both files; the training file has roughly 20 variants of each.
    _, sizes = np.unique(groups, return_counts=True)
    assert 1_000 < len(sizes) < 2_000
    assert 10 <= np.median(sizes) <= 30


def test_an_augmented_copy_joins_its_source_group(train_data: asl.SignMnistDataset) -> None:
    # Brightness/contrast change and pixel noise, as the dataset's own augmentation pipeline did.
    rng = np.random.default_rng(0)
    source = train_data[:200]
    bright = np.clip(source.images[0].astype(float) * 1.1 + 12 + rng.normal(0, 3, (28, 28)), 0, 255)
    data = asl.SignMnistDataset(
        np.concatenate([source.images, bright[None].astype(np.uint8)]),
        np.concatenate([source.labels, source.labels[:1]]),
    )
    ids = similarity_groups(data)
    assert ids[-1] == ids[0]


def test_random_split(train_data: asl.SignMnistDataset) -> None:
    fit, validation = asl.train_validation_split(train_data, fraction=0.25, strategy="random", seed=0)
    assert len(validation) == round(0.25 * len(train_data))
    assert len(fit) + len(validation) == len(train_data)


def test_bad_arguments(train_data: asl.SignMnistDataset) -> None:
    with pytest.raises(ValueError, match="fraction must be between 0 and 1"):
        asl.train_validation_split(train_data, fraction=1.5)
    with pytest.raises(ValueError, match="strategy must be 'grouped' or 'random'"):
        asl.train_validation_split(train_data, strategy="stratified")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="groups has 3 entries"):
        asl.train_validation_split(train_data, groups=np.arange(3))
    with pytest.raises(ValueError, match="at least 2 images"):
        asl.train_validation_split(train_data[:1])


@pytest.mark.slow
def test_grouped_validation_predicts_test_and_random_does_not(
    train_data: asl.SignMnistDataset, test_data: asl.SignMnistDataset, groups: np.ndarray
) -> None:
    """1-NN: the grouped split's validation score is within 5 points of the same model's test score."""
    gaps = {}
    for strategy in ("grouped", "random"):
        fit, validation = asl.train_validation_split(
            train_data, strategy=strategy, seed=0, groups=groups if strategy == "grouped" else None
        )
        model = KNeighborsClassifier(n_neighbors=1).fit(fit.flat, fit.labels)
        gaps[strategy] = model.score(validation.flat, validation.labels) - model.score(test_data.flat, test_data.labels)
    assert abs(gaps["grouped"]) < 0.05
    assert gaps["random"] > 0.15  # the random split overstates accuracy wildly
