"""HOG features for 28x28 sign images, in operations that have an ONNX form.

Histograms of oriented gradients (Dalal and Triggs) as scikit-image's
``hog(orientations=9, pixels_per_cell=(4, 4), cells_per_block=(2, 2), block_norm="L2-Hys")``
computes them, with one change that makes the features continuous and exportable:
scikit-image puts each pixel's gradient into exactly one orientation bin (a hard
``if`` on its angle), which has no stable ONNX form, since a float difference of
1e-7 at a bin edge moves a whole gradient to another bin. Here a gradient is
*projected* on each bin's direction instead (in doubled-angle space, where the
unsigned orientations 0 and 180 degrees meet), and a bin takes ``ReLU(projection -
cos(bin width))``: a gradient at a bin's centre goes to that bin alone, one between
two centres is shared, and nothing jumps. Every step is one ONNX operator:

1. gradients: fixed central differences (``Conv`` with [-1, 0, 1]), zero on the border;
2. orientation binning by projection: a 1x1 ``Conv`` over (g_c^2 - g_r^2, 2 g_c g_r) / |g|
   and |g|, then ``Relu``;
3. cells: ``AveragePool`` over ``pixels_per_cell`` squares;
4. blocks: the ``cells_per_block`` squares of cells side by side (``Slice`` + ``Concat``),
   each normalised with L2-Hys (L2, clip at 0.2, L2 again).

The converter that writes this graph is in ``_hog_onnx.py``; the parity of the two is
tested on real images. Scikit-image is not a dependency: the features are written here
in NumPy because they must match their ONNX graph operation for operation.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from asl_recog._errors import ConfigurationError, DataFormatError
from asl_recog.data._labels import IMAGE_SIZE, NUM_PIXELS

#: scikit-image's ``eps`` of block normalisation, and the clip of L2-Hys.
EPS = 1e-5
CLIP = 0.2
#: Added to |g| before dividing by it, so a flat patch (|g| = 0) gives zeros, not NaN.
MAG_EPS = 1e-12
#: Images featurized at a time. The intermediates take about 70 bytes per pixel (gradients,
#: three projection channels, nine bins), so the 55k augmented training images at once
#: peaked at 4.6 GB (the process, input included) and set the main job's peak; in chunks of 4,096: 0.96 GB,
#: and ran twice as fast (13.2 -> 6.5 s for the 55k images: the intermediates stay in cache).
CHUNK = 4096


class HogFeaturizer(TransformerMixin, BaseEstimator):
    """Histogram-of-oriented-gradients features of flat ``(N, 784)`` 0..1 images, exportable to ONNX.

    Args:
        orientations: bins over 0..180 degrees (unsigned gradients).
        pixels_per_cell: side of a square cell, in pixels; must divide 28.
        cells_per_block: side of a square block, in cells (L2-Hys normalised together).

    A stateless transformer (``fit`` only checks the input), so ``clone``, ``get_params``
    and ``set_params`` work as for any scikit-learn step, and ``skl2onnx`` converts it
    (the converter is registered when ``asl_recog.models`` exports a pipeline).

    Example:
        >>> hog = HogFeaturizer()
        >>> features = hog.fit_transform(train.flat[:3])
        >>> features.shape, hog.n_features_out_  # 6 x 6 blocks x (2 x 2 cells x 9 bins)
        ((3, 1296), 1296)
        >>> bool(features.min() >= 0.0), bool(features.max() <= 1.0)
        (True, True)
    """

    def __init__(self, orientations: int = 9, pixels_per_cell: int = 4, cells_per_block: int = 2) -> None:
        self.orientations = orientations
        self.pixels_per_cell = pixels_per_cell
        self.cells_per_block = cells_per_block

    # -- geometry --------------------------------------------------------------------------------

    def _check(self) -> tuple[int, int, int]:
        n, ppc, cpb = self.orientations, self.pixels_per_cell, self.cells_per_block
        for name, value in (("orientations", n), ("pixels_per_cell", ppc), ("cells_per_block", cpb)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigurationError(f"HogFeaturizer({name}={value!r}): use a positive integer")
        if n < 3:
            raise ConfigurationError(f"HogFeaturizer(orientations={n}): use 3 bins or more (9 is the usual)")
        if IMAGE_SIZE % ppc:
            raise ConfigurationError(
                f"HogFeaturizer(pixels_per_cell={ppc}): 28 pixels do not split into cells of {ppc}; use 2, 4, 7 or 14"
            )
        if cpb > IMAGE_SIZE // ppc:
            raise ConfigurationError(
                f"HogFeaturizer(cells_per_block={cpb}): the image has only {IMAGE_SIZE // ppc} cells a side"
            )
        return int(n), int(ppc), int(cpb)

    @property
    def n_features_out_(self) -> int:
        """The number of features per image."""
        n, ppc, cpb = self._check()
        blocks = IMAGE_SIZE // ppc - cpb + 1
        return blocks * blocks * cpb * cpb * n

    def bin_weights(self) -> np.ndarray:
        """The ``(orientations, 3)`` projection of (doubled-angle vector x, y, |g|) onto each bin.

        Bin ``k`` is centred at ``180 / n * (k + 1/2)`` degrees, as scikit-image's bins
        ``[180 k / n, 180 (k + 1) / n)``; its weight is ``ReLU(cos(2 (a - centre)) - cos(w)) / (1 - cos(w))``
        for a gradient of angle ``a`` and unit length, with ``w = 360 / n`` the bin width in
        doubled angles: 1 at the centre, 0 from the next centre on.
        """
        n, _, _ = self._check()
        centres = np.deg2rad(360.0 / n * (np.arange(n) + 0.5))
        width = math.cos(2 * math.pi / n)
        weights = np.stack([np.cos(centres), np.sin(centres), np.full(n, -width)], axis=1)
        return (weights / (1.0 - width)).astype(np.float32)

    # -- scikit-learn API ------------------------------------------------------------------------

    def fit(self, x: Any, y: Any = None) -> HogFeaturizer:
        """Check the settings and the input width; HOG learns nothing from data."""
        self._check()
        self._rows(x)
        self.n_features_in_ = NUM_PIXELS
        return self

    def transform(self, x: Any) -> np.ndarray:
        """HOG features, ``(N, n_features_out_)`` float32, in the order the ONNX graph writes them."""
        rows = self._rows(x)
        out = np.empty((len(rows), self.n_features_out_), dtype=np.float32)
        for start in range(0, len(rows), CHUNK):
            out[start : start + CHUNK] = self._features(rows[start : start + CHUNK])
        return out

    def _features(self, rows: np.ndarray) -> np.ndarray:
        n, ppc, cpb = self._check()
        images = rows.reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
        # 1. central differences, zero on the border rows/columns (as scikit-image)
        g_row = np.zeros_like(images)
        g_col = np.zeros_like(images)
        g_row[:, 1:-1, :] = images[:, 2:, :] - images[:, :-2, :]
        g_col[:, :, 1:-1] = images[:, :, 2:] - images[:, :, :-2]
        # 2. orientation binning by projection (channels: doubled-angle x, y, |g|)
        mag = np.sqrt(g_row * g_row + g_col * g_col)
        denom = mag + np.float32(MAG_EPS)
        channels = np.stack([(g_col * g_col - g_row * g_row) / denom, (2 * g_col * g_row) / denom, mag], axis=1)
        binned = np.maximum(np.einsum("kc,nchw->nkhw", self.bin_weights(), channels, dtype=np.float32), 0)
        # 3. cells: the mean over each cell (scikit-image divides by the cell's area too)
        cells_a_side = IMAGE_SIZE // ppc
        cells = binned.reshape(len(images), n, cells_a_side, ppc, cells_a_side, ppc).mean(axis=(3, 5))
        # 4. blocks: the cells of each block stacked on the channel axis, then L2-Hys
        side = cells_a_side - cpb + 1
        parts = [cells[:, :, r : r + side, c : c + side] for r in range(cpb) for c in range(cpb)]
        blocks = np.concatenate(parts, axis=1)
        blocks = blocks / np.sqrt((blocks * blocks).sum(axis=1, keepdims=True) + np.float32(EPS * EPS))
        blocks = np.minimum(blocks, np.float32(CLIP))
        blocks = blocks / np.sqrt((blocks * blocks).sum(axis=1, keepdims=True) + np.float32(EPS * EPS))
        return blocks.reshape(len(images), -1)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """``hog0 .. hog{n-1}``: the features in the order :meth:`transform` writes them."""
        return np.asarray([f"hog{i}" for i in range(self.n_features_out_)], dtype=object)

    @staticmethod
    def _rows(x: Any) -> np.ndarray:
        arr = np.asarray(x, dtype=np.float32)
        if arr.ndim != 2 or arr.shape[1] != NUM_PIXELS:
            raise DataFormatError(
                f"HogFeaturizer takes flat rows of {NUM_PIXELS} pixels, got shape {arr.shape}",
                source="HogFeaturizer input",
                fix="pass images as (N, 784) float rows scaled to 0..1 (SignMnistDataset.flat)",
            )
        return arr


__all__ = ["HogFeaturizer"]
