"""Validation splits that do not lie: near-duplicates of one photo stay on one side.

The training file holds many augmentations (filters, small rotations, brightness
and contrast changes) of each of a much smaller set of photos. A random split
puts copies of the same photo on both sides and overstates accuracy wildly.
The grouped split clusters each letter's images by visual similarity and keeps
every cluster whole.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from asl_recog.data._dataset import SignMnistDataset

Strategy = Literal["grouped", "random"]


def embed(images: np.ndarray, size: int = 7) -> np.ndarray:
    """A compact embedding that ignores what the augmentations change.

    Each image is average-pooled to ``size x size`` (blurring away filters and
    pixelation) and standardised (removing brightness and contrast changes).
    """
    n = images.shape[0]
    factor = images.shape[1] // size
    crop = images[:, : size * factor, : size * factor].astype(np.float32)
    pooled = crop.reshape(n, size, factor, size, factor).mean(axis=(2, 4)).reshape(n, -1)
    pooled -= pooled.mean(axis=1, keepdims=True)
    pooled /= pooled.std(axis=1, keepdims=True) + 1e-6
    return pooled


def similarity_groups(data: SignMnistDataset, *, threshold: float = 0.1, size: int = 7) -> np.ndarray:
    """Group ids such that visually near-identical images of one letter share a group.

    Within each letter, images whose embeddings lie within ``threshold`` (RMS
    distance of standardised pooled pixels) are linked, and groups are the
    connected components (single-linkage clustering).
    """
    from scipy.sparse.csgraph import connected_components
    from sklearn.neighbors import radius_neighbors_graph

    vectors = embed(data.images, size) / np.sqrt(size * size)
    groups = np.empty(len(data), dtype=np.int64)
    offset = 0
    for label in np.unique(data.labels):
        members = np.flatnonzero(data.labels == label)
        graph = radius_neighbors_graph(vectors[members], threshold, mode="connectivity", include_self=False)
        count, component = connected_components(graph, directed=False)
        groups[members] = component + offset
        offset += count
    return groups


def train_validation_split(
    data: SignMnistDataset,
    fraction: float = 0.2,
    strategy: Strategy = "grouped",
    seed: int | None = 0,
    *,
    groups: np.ndarray | None = None,
) -> tuple[SignMnistDataset, SignMnistDataset]:
    """Split data into (train, validation) so that validation accuracy predicts test accuracy.

    Args:
        data: the training data.
        fraction: the share of images (per letter) to hold out, in (0, 1).
        strategy: ``"grouped"`` keeps near-duplicates of one photo on one side
            (the honest default); ``"random"`` splits rows at random and overstates
            accuracy on this dataset. It exists to show the difference.
        seed: makes the split repeatable.
        groups: precomputed group ids (one per image); None computes them.

    Returns:
        ``(train, validation)`` datasets.

    Example:
        >>> fit_part, validation = train_validation_split(load_sign_mnist("train"))
        >>> len(fit_part), len(validation)  # about 80/20; groups of near-duplicates stay on one side
        (21742, 5713)
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction!r}")
    if strategy not in ("grouped", "random"):
        raise ValueError(f"strategy must be 'grouped' or 'random', got {strategy!r}")
    if len(data) < 2:
        raise ValueError(f"need at least 2 images to split, got {len(data)}")
    rng = np.random.default_rng(seed)
    if strategy == "random":
        order = rng.permutation(len(data))
        cut = max(1, round(len(data) * fraction))
        return data[np.sort(order[cut:])], data[np.sort(order[:cut])]
    if groups is None:
        groups = similarity_groups(data)
    elif len(groups) != len(data):
        raise ValueError(f"groups has {len(groups)} entries for {len(data)} images")
    held_out = np.zeros(len(data), dtype=bool)
    for label in np.unique(data.labels):
        members = np.flatnonzero(data.labels == label)
        ids, sizes = np.unique(groups[members], return_counts=True)
        order = rng.permutation(len(ids))
        # Take whole groups in random order until the letter's quota is met.
        target = fraction * len(members)
        taken = np.cumsum(sizes[order])
        count = int(np.searchsorted(taken, target)) + 1
        chosen = ids[order[: min(count, len(ids) - 1 if len(ids) > 1 else 1)]]
        held_out[members[np.isin(groups[members], chosen)]] = True
    if held_out.all() or not held_out.any():
        raise ValueError("the grouped split left one side empty; the data has too few distinct photos")
    return data[np.flatnonzero(~held_out)], data[np.flatnonzero(held_out)]
