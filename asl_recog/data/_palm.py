"""MediaPipe's palm detector, decoded in numpy: SSD anchors, boxes, weighted NMS, letterbox and hand rect.

The graph (``palm_detection_full``, 192x192 RGB in 0..1) answers 2016 anchors x 18 numbers
(box centre offset, size, 7 keypoints) and 2016 logits. What turns them into palms is not in
the graph but in MediaPipe's calculator options, repeated here with the same numbers:

* ``mediapipe/modules/palm_detection/palm_detection_cpu.pbtxt`` (MediaPipe 0.10.21):
  ``SsdAnchorsCalculator``, ``TensorsToDetectionsCalculator``, ``NonMaxSuppressionCalculator``
  (WEIGHTED, IoU 0.3) and ``DetectionLetterboxRemovalCalculator``;
* ``mediapipe/modules/hand_landmark/palm_detection_detection_to_roi.pbtxt``: the palm box turned
  (wrist -> middle-finger knuckle pointing up), widened 2.6x and moved half a palm toward the
  fingers, which is the box MediaPipe gives its hand-landmark model.

Everything here is pure numpy on normalised coordinates (0..1 of the 192x192 input), except
:func:`hand_rect`, which works in pixels so that a non-square photo's rotation stays right.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

#: The graph's input side (pixels) and the scale of its box and keypoint regressions.
INPUT_SIDE = 192
#: SsdAnchorsCalculator options of palm_detection_cpu.pbtxt (min/max_scale do not matter:
#: fixed_anchor_size makes every anchor 1x1).
STRIDES = (8, 16, 16, 16)
ANCHOR_OFFSET = 0.5
NUM_ANCHORS = 2016
NUM_COORDS = 18
NUM_KEYPOINTS = 7
#: TensorsToDetectionsCalculator: raw scores are clipped to +-100 before the sigmoid, and a
#: detection needs a probability of at least 0.5.
SCORE_CLIP = 100.0
MIN_SCORE = 0.5
#: NonMaxSuppressionCalculator: boxes overlapping the best one by more than this IoU are merged into it.
MIN_SUPPRESSION_IOU = 0.3
#: Keypoints 0 (centre of the wrist) and 2 (knuckle of the middle finger) give the hand's direction;
#: MediaPipe turns the rect so that this vector points up (90 degrees).
WRIST, MIDDLE_KNUCKLE = 0, 2
TARGET_ANGLE = math.pi / 2
#: RectTransformationCalculator: the palm box grows 2.6x (square on its long side) and moves
#: half its height toward the fingers, so that the whole hand is inside.
HAND_SCALE = 2.6
HAND_SHIFT_Y = -0.5


@dataclass(frozen=True)
class Palm:
    """One palm found by the detector, in normalised coordinates of the image it was run on.

    Attributes:
        score: the detector's probability, 0.5..1.
        box: ``(xmin, ymin, xmax, ymax)`` in 0..1 (may reach past the edges).
        keypoints: ``(7, 2)`` x, y of the wrist, the four knuckles and two thumb joints.
    """

    score: float
    box: tuple[float, float, float, float]
    keypoints: np.ndarray


@functools.cache
def ssd_anchors() -> np.ndarray:
    """The detector's 2016 anchor centres as a read-only ``(2016, 2)`` float32 array of x, y in 0..1.

    SsdAnchorsCalculator walks the layers; consecutive layers with the same stride share one
    feature map and stack their anchors per cell. Each layer adds two anchors per cell (aspect
    ratio 1.0 and the interpolated scale), so the 24x24 map (stride 8) has 2 per cell and the
    12x12 map (three layers of stride 16) has 6: 1152 + 864 = 2016. With ``fixed_anchor_size``
    every anchor is 1x1, so only the centres matter.

    Example:
        >>> anchors = ssd_anchors()
        >>> anchors.shape, anchors[0].tolist(), anchors[-1].tolist()
        ((2016, 2), [0.0208333..., 0.0208333...], [0.9583333..., 0.9583333...])
    """
    centres: list[np.ndarray] = []
    layer = 0
    while layer < len(STRIDES):
        stride = STRIDES[layer]
        same = 0
        while layer < len(STRIDES) and STRIDES[layer] == stride:
            same, layer = same + 1, layer + 1
        side = math.ceil(INPUT_SIDE / stride)
        ys, xs = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")  # row by row, as MediaPipe
        grid = (np.stack([xs, ys], axis=-1).reshape(-1, 2) + ANCHOR_OFFSET) / side
        centres.append(np.repeat(grid, 2 * same, axis=0))
    anchors = np.concatenate(centres).astype(np.float32)
    anchors.flags.writeable = False  # cached and shared: nobody may change it
    return anchors


def decode(regressors: np.ndarray, logits: np.ndarray, min_score: float = MIN_SCORE) -> list[Palm]:
    """The raw outputs of one image as palms with a score of at least ``min_score``, unsuppressed.

    Args:
        regressors: ``(2016, 18)`` (or ``(1, 2016, 18)``): per anchor x, y, w, h of the box and x, y
            of the 7 keypoints, in input pixels relative to the anchor (``reverse_output_order``).
        logits: ``(2016,)`` (or ``(1, 2016, 1)``) raw scores.
        min_score: the least probability kept.

    Returns:
        The palms, in anchor order.

    Example:
        >>> raw = np.zeros((2016, 18), np.float32)
        >>> raw[0, :4] = [0, 0, 38.4, 19.2]  # a 0.2 x 0.1 box on the first anchor
        >>> logits = np.full(2016, -10.0, np.float32)
        >>> logits[0] = 2.0
        >>> (palm,) = decode(raw, logits)
        >>> round(palm.score, 4), [round(v, 4) for v in palm.box]
        (0.8808, [-0.0792, -0.0292, 0.1208, 0.0708])
    """
    raw = np.asarray(regressors, dtype=np.float64).reshape(NUM_ANCHORS, NUM_COORDS)
    clipped = np.clip(np.asarray(logits, dtype=np.float64).reshape(NUM_ANCHORS), -SCORE_CLIP, SCORE_CLIP)
    scores = 1.0 / (1.0 + np.exp(-clipped))
    keep = np.flatnonzero(scores >= min_score)
    anchors = ssd_anchors().astype(np.float64)[keep]
    values = raw[keep] / INPUT_SIDE  # anchors are 1x1, so the scale is the only factor
    centre = anchors + values[:, 0:2]
    half = values[:, 2:4] / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    keypoints = anchors[:, None, :] + values[:, 4:].reshape(-1, NUM_KEYPOINTS, 2)
    return [
        Palm(float(scores[i]), (float(b[0]), float(b[1]), float(b[2]), float(b[3])), k)
        for i, b, k in zip(keep, boxes, keypoints, strict=True)
    ]


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two ``(xmin, ymin, xmax, ymax)`` boxes (0 when they do not meet).

    Example:
        >>> iou((0, 0, 2, 2), (1, 1, 3, 3))
        0.14285714285714285
    """
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def weighted_nms(palms: list[Palm], threshold: float = MIN_SUPPRESSION_IOU) -> list[Palm]:
    """MediaPipe's WEIGHTED non-max suppression: each best palm absorbs the palms overlapping it.

    Repeatedly, the best remaining palm and every remaining palm whose IoU with it exceeds
    ``threshold`` (itself included) are replaced by one palm: its box and keypoints are the
    score-weighted mean of theirs, its score the best one's. Averaging the anchors that all see
    the same palm steadies the box more than keeping only the best anchor.

    Example:
        >>> kp = np.zeros((7, 2))
        >>> palms = [Palm(0.9, (0.0, 0.0, 1.0, 1.0), kp), Palm(0.6, (0.1, 0.1, 1.1, 1.1), kp),
        ...          Palm(0.8, (2.0, 2.0, 3.0, 3.0), kp)]
        >>> [(round(p.score, 2), [round(v, 2) for v in p.box]) for p in weighted_nms(palms)]
        [(0.9, [0.04, 0.04, 1.04, 1.04]), (0.8, [2.0, 2.0, 3.0, 3.0])]
    """
    remaining = sorted(palms, key=lambda p: p.score, reverse=True)  # stable: ties keep anchor order
    kept: list[Palm] = []
    while remaining:
        best = remaining[0]
        merged = [p for p in remaining if iou(best.box, p.box) > threshold]
        remaining = [p for p in remaining if iou(best.box, p.box) <= threshold]
        if best not in merged:  # a degenerate (zero-area) box overlaps nothing, not even itself
            merged.append(best)
            remaining = [p for p in remaining if p is not best]
        if len(merged) == 1:  # nothing to average (MediaPipe's sums give the same, up to rounding)
            kept.append(best)
            continue
        weights = np.array([p.score for p in merged])
        total = float(weights.sum())
        box = np.array([p.box for p in merged]).T @ weights / total
        keypoints = np.tensordot(weights, np.stack([p.keypoints for p in merged]), axes=1) / total
        kept.append(Palm(best.score, (float(box[0]), float(box[1]), float(box[2]), float(box[3])), keypoints))
    return kept


def letterbox(width: int, height: int, side: int = INPUT_SIDE, border: float = 0.0) -> tuple[int, int, int, int]:
    """Where a ``width x height`` image goes in a ``side x side`` square, aspect kept and centred.

    Args:
        width, height: the image's size.
        side: the square's side.
        border: room kept free around the image on every side, as a share of its long side.

    Returns:
        ``(left, top, new_width, new_height)`` in pixels of the square; the rest is black padding
        (MediaPipe's ``keep_aspect_ratio`` with ``BORDER_ZERO``).

    Example:
        >>> letterbox(640, 480)
        (0, 24, 192, 144)
        >>> letterbox(640, 480, border=0.5)  # the image takes half of the square's side
        (48, 60, 96, 72)
    """
    scale = side / ((1 + 2 * border) * max(width, height))
    new_width, new_height = max(1, round(width * scale)), max(1, round(height * scale))
    return (side - new_width) // 2, (side - new_height) // 2, new_width, new_height


def unpad(palm: Palm, placement: tuple[int, int, int, int], side: int = INPUT_SIDE) -> Palm:
    """A palm found on the letterboxed square, in normalised coordinates of the image itself.

    DetectionLetterboxRemovalCalculator's sums: ``x' = (x - left) / (1 - left - right)``, the same
    for y, with the padding as fractions of the square.

    Example:
        >>> palm = Palm(0.9, (0.25, 0.125, 0.75, 0.5), np.full((7, 2), 0.5))
        >>> unpad(palm, letterbox(640, 480)).box
        (0.25, 0.0, 0.75, 0.5)
    """
    left, top, width, height = placement
    offset = np.array([left / side, top / side])
    extent = np.array([width / side, height / side])
    xmin, ymin = (np.array(palm.box[:2]) - offset) / extent
    xmax, ymax = (np.array(palm.box[2:]) - offset) / extent
    keypoints = (palm.keypoints - offset) / extent
    return Palm(palm.score, (float(xmin), float(ymin), float(xmax), float(ymax)), keypoints)


@dataclass(frozen=True)
class HandRect:
    """MediaPipe's hand region: a square turned by ``rotation`` about its centre, in image pixels.

    Attributes:
        x_center, y_center: its centre.
        side: its side (MediaPipe's rect is square on the long side of the palm box, then scaled).
        rotation: radians, clockwise on the image (y down), 0 when the fingers point up.
    """

    x_center: float
    y_center: float
    side: float
    rotation: float

    def upright_side(self) -> float:
        """The side of the smallest axis-aligned square holding the turned one.

        Example:
            >>> round(HandRect(0, 0, 10, math.pi / 4).upright_side(), 3)
            14.142
        """
        return self.side * (abs(math.cos(self.rotation)) + abs(math.sin(self.rotation)))


def hand_rect(palm: Palm, width: int, height: int) -> HandRect:
    """The hand region MediaPipe derives from a palm found on a ``width x height`` image.

    DetectionsToRectsCalculator: the rect is the palm box, turned so that the wrist-to-middle-
    knuckle vector points up (``rotation = 90deg - atan2(-(y1 - y0), x1 - x0)``, normalised to
    -pi..pi). RectTransformationCalculator: moved by ``shift_y`` (-0.5) of its height along its
    own turned y axis (toward the fingers), made square on its long side, and scaled 2.6x.

    Example:
        >>> kp = np.zeros((7, 2))
        >>> kp[WRIST], kp[MIDDLE_KNUCKLE] = (0.5, 0.6), (0.6, 0.5)  # fingers up and to the right
        >>> rect = hand_rect(Palm(0.9, (0.4, 0.4, 0.6, 0.6), kp), 100, 100)
        >>> round(rect.x_center, 3), round(rect.y_center, 3), round(rect.side, 1), round(math.degrees(rect.rotation))
        (57.071, 42.929, 52.0, 45)
    """
    xmin, ymin, xmax, ymax = palm.box
    box_width, box_height = (xmax - xmin) * width, (ymax - ymin) * height
    x_center, y_center = (xmin + xmax) / 2 * width, (ymin + ymax) / 2 * height
    x0, y0 = palm.keypoints[WRIST, 0] * width, palm.keypoints[WRIST, 1] * height
    x1, y1 = palm.keypoints[MIDDLE_KNUCKLE, 0] * width, palm.keypoints[MIDDLE_KNUCKLE, 1] * height
    angle = TARGET_ANGLE - math.atan2(-(y1 - y0), x1 - x0)
    rotation = angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))  # MediaPipe's NormalizeRadians
    # The shift in the rect's own frame, turned into the image's (shift_x is 0).
    x_center -= box_height * HAND_SHIFT_Y * math.sin(rotation)
    y_center += box_height * HAND_SHIFT_Y * math.cos(rotation)
    side = max(box_width, box_height) * HAND_SCALE
    return HandRect(float(x_center), float(y_center), float(side), float(rotation))


__all__ = [
    "INPUT_SIDE",
    "HandRect",
    "Palm",
    "decode",
    "hand_rect",
    "iou",
    "letterbox",
    "ssd_anchors",
    "unpad",
    "weighted_nms",
]
