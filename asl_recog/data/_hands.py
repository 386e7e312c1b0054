"""Finding the hand in a photo with MediaPipe's palm detector, so that the 28x28 crop is of the hand.

Sign Language MNIST's images are square crops in which the hand nearly fills the frame. A
photo of a person is mostly room: its centre square holds a small, off-centre hand, and the
model reads the room. MediaPipe's palm detector (``palm_detection_full``, converted to ONNX by
``tools/make_hand_detector.py``, shipped in ``_detector/``; Apache-2.0, see its NOTICE) finds
the palm, MediaPipe's own rules widen it to the hand (:mod:`asl_recog.data._palm`), and the
upright square around that is the crop. Nothing is downloaded at run time.

The graph runs on one small ONNX Runtime session made on first use and shared by all threads
(``InferenceSession.run`` is thread-safe); decoding and suppression are numpy.
"""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from asl_recog._errors import DataFormatError, MissingDependencyError
from asl_recog.data._palm import INPUT_SIDE, Palm, decode, hand_rect, letterbox, unpad, weighted_nms

DETECTOR_FILE = Path(__file__).resolve().parent / "_detector" / "palm_detection_full.onnx"
#: sha256 of the shipped graph, as tools/make_hand_detector.py printed it: a damaged or swapped
#: file is refused instead of quietly finding no hands.
DETECTOR_SHA256 = "54b67eef1401c20513c944c074128fe925c3dcfd40db7103c9480dcf928f198a"
#: Photos whose short side is under this many pixels are not searched: they are already a crop
#: (Sign Language MNIST's 28x28 images, thumbnails), and the detector needs a palm of ~20 px.
MIN_DETECTION_SIDE = 64
#: The crop's side as a multiple of the upright square around MediaPipe's hand rect. That rect is
#: made to hold the whole hand with room to spare for the landmark model, while Sign Language
#: MNIST's hands nearly fill their frame (fingers near the top edge, the wrist cut by the bottom
#: one). Measured on a 1-in-5 sample of the Massey photos by their black-background masks (not by
#: any model's accuracy): the hand's long extent is a median 0.66 of the upright square's side
#: (p10 0.54, p90 0.81). At 0.9 the hand spans about 3/4 of the crop and the crop keeps at least
#: 98 % of the hand's pixels in 83 % of the photos; 0.8 would fill more but cut fingers off half
#: of them (50 %), and 1.0 leaves the hand at 2/3 of the frame, smaller than in the training images.
HAND_MARGIN = 0.9
#: Black border (share of the photo's long side, on every side) of the second look at a photo in
#: which no palm was found: the detector was trained on hands at arm's length and misses one that
#: fills the frame (a tight crop). On the 1,675 Massey photos (hands cropped tight on black) it
#: finds a palm in 70.3 % as they are, 98.9 % with a border of 0.25 and 100 % with 0.5
#: (bench/bench_hands.py). A photo without a hand pays for both looks.
RETRY_BORDER = 0.5
#: One thread: the graph takes about 12 ms of one core; on the 2-core development machine, busy
#: with other work, two threads took 19-35 ms, and a web server runs several decodes at once anyway.
_THREADS = 1

_lock = threading.Lock()
_session: Any = None


@dataclass(frozen=True)
class HandBox:
    """Where the hand is: an upright square in pixels of the upright image, and the detector's score.

    Attributes:
        x, y: the top-left corner (pixels from the left and top edges).
        width, height: the box's size (equal, give or take a pixel of rounding when the box was
            found on a reduced copy of the photo and scaled back to its pixels).
        score: the palm detector's probability, 0.5..1.

    Example:
        >>> box = HandBox(x=40, y=10, width=120, height=120, score=0.97)
        >>> box.crop
        (40, 10, 120, 120)
    """

    x: int
    y: int
    width: int
    height: int
    score: float

    @property
    def crop(self) -> tuple[int, int, int, int]:
        """``(x, y, width, height)``, the form ``image_to_array(..., crop=...)`` takes."""
        return (self.x, self.y, self.width, self.height)

    def scaled(self, factor_x: float, factor_y: float, width: int, height: int) -> HandBox:
        """The box in an image ``factor_x`` x ``factor_y`` as large (``width x height``), kept inside it."""
        x, y = math.floor(self.x * factor_x), math.floor(self.y * factor_y)
        right, bottom = math.ceil((self.x + self.width) * factor_x), math.ceil((self.y + self.height) * factor_y)
        x, y = min(max(x, 0), width - 1), min(max(y, 0), height - 1)
        return HandBox(x, y, max(1, min(right, width) - x), max(1, min(bottom, height) - y), self.score)


def _load_session() -> Any:
    """The detector's ONNX Runtime session, made once (thread-safe) and kept."""
    global _session
    with _lock:
        if _session is not None:
            return _session
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise MissingDependencyError("onnxruntime", "Finding the hand in a photo", exc) from exc
        try:
            graph = DETECTOR_FILE.read_bytes()
        except OSError as exc:
            raise DataFormatError(
                f"the hand detector cannot be read ({exc})",
                source=str(DETECTOR_FILE),
                fix="reinstall asl-recog (the wheel ships it), or rebuild it with tools/make_hand_detector.py",
            ) from exc
        digest = hashlib.sha256(graph).hexdigest()
        if digest != DETECTOR_SHA256:
            raise DataFormatError(
                f"the hand detector's sha256 is {digest}, not {DETECTOR_SHA256}",
                source=str(DETECTOR_FILE),
                fix="reinstall asl-recog, or rebuild the file with tools/make_hand_detector.py",
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = _THREADS
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        _session = ort.InferenceSession(graph, sess_options=options, providers=["CPUExecutionProvider"])
        return _session


def palms(image: Any, border: float = 0.0) -> list[Palm]:
    """The palms in an image, best first, in normalised coordinates of the image.

    The image is scaled to fit 192x192 and centred on black (MediaPipe's letterbox), so palms
    are looked for at the detector's resolution whatever the photo's size.

    Args:
        image: a PIL image or a uint8 array (``(H, W, 3)`` RGB or ``(H, W)`` grey).
        border: black added around the image on every side, as a share of its long side, before
            it is fitted into the square (the image then takes ``1 / (1 + 2 * border)`` of it).

    Example:
        >>> palms(np.full((120, 160, 3), 128, np.uint8))  # a grey wall: no palm
        []
    """
    from PIL import Image

    picture = Image.fromarray(np.ascontiguousarray(image)) if isinstance(image, np.ndarray) else image
    width, height = picture.size
    placement = letterbox(width, height, border=border)
    left, top, new_width, new_height = placement
    small = picture.convert("RGB").resize((new_width, new_height), Image.Resampling.BILINEAR, reducing_gap=2.0)
    tensor = np.zeros((1, INPUT_SIDE, INPUT_SIDE, 3), np.float32)  # black letterbox bands (BORDER_ZERO)
    tensor[0, top : top + new_height, left : left + new_width] = np.asarray(small, np.float32) / 255.0
    session = _load_session()
    regressors, logits = session.run(None, {session.get_inputs()[0].name: tensor})
    found = weighted_nms(decode(regressors, logits))
    return sorted((unpad(palm, placement) for palm in found), key=lambda palm: -palm.score)


def hand_box(palm: Palm, width: int, height: int) -> HandBox:
    """The crop for ``palm`` (found on a ``width x height`` image): an upright square around its hand.

    MediaPipe's hand rect is turned with the hand; the crop is the axis-aligned square around
    it, scaled by :data:`HAND_MARGIN`. A square reaching past an edge is moved inside (what lies
    outside holds no pixels anyway); one larger than the image's short side is cut to it.

    Example:
        >>> kp = np.zeros((7, 2))
        >>> kp[0], kp[2] = (0.5, 0.6), (0.5, 0.45)  # wrist below the middle knuckle: fingers up
        >>> hand_box(Palm(0.9, (0.4, 0.4, 0.6, 0.6), kp), 400, 300)
        HandBox(x=106, y=26, width=187, height=187, score=0.9)
    """
    rect = hand_rect(palm, width, height)
    side = min(rect.upright_side() * HAND_MARGIN, width, height)
    x = min(max(rect.x_center - side / 2, 0.0), width - side)
    y = min(max(rect.y_center - side / 2, 0.0), height - side)
    left, top = round(x), round(y)
    size = max(1, min(round(side), width - left, height - top))
    return HandBox(left, top, size, size, palm.score)


def detect_hand(image: Any) -> HandBox | None:
    """The crop around the most likely hand in an image, in its pixels, or None when there is none.

    A photo whose short side is under :data:`MIN_DETECTION_SIDE` is not searched. Where the
    photo as it is shows no palm, it is looked at once more inside a black border
    (:data:`RETRY_BORDER`): the detector misses hands that fill the frame.

    Args:
        image: a PIL image, or an RGB ``(H, W, 3)`` / grey ``(H, W)`` uint8 array.

    Raises:
        DataFormatError: an array that is not uint8 ``(H, W, 3)`` or ``(H, W)``.

    Example:
        >>> detect_hand(np.full((240, 320, 3), 200, np.uint8)) is None  # nothing to find on a plain wall
        True
    """
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
            raise DataFormatError(
                f"expected an RGB image as a uint8 array of shape (height, width, 3), got {image.dtype} {image.shape}",
                source="<array>",
                fix="pass np.asarray(PIL.Image.open(path).convert('RGB')), or the encoded bytes or the file path",
            )
        width, height = image.shape[1], image.shape[0]
    else:
        width, height = image.size
    if min(width, height) < MIN_DETECTION_SIDE:
        return None
    found = palms(image) or palms(image, border=RETRY_BORDER)
    return hand_box(found[0], width, height) if found else None


__all__ = [
    "DETECTOR_FILE",
    "HAND_MARGIN",
    "MIN_DETECTION_SIDE",
    "RETRY_BORDER",
    "HandBox",
    "detect_hand",
    "hand_box",
    "palms",
]
