"""The hand detector in the image path (issue 32): MediaPipe's palm detector decoded as MediaPipe does it.

The decoding is checked against numbers worked out by hand from MediaPipe's calculator options
(palm_detection_cpu.pbtxt, palm_detection_detection_to_roi.pbtxt); the shipped graph against its
recorded sha256 and shapes; the whole path on photos without hands (it must fall back to the
centre square, pixel for pixel) and on real hands (the Massey photos, read where they are).
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from image_cases import encode, with_orientation
from PIL import Image
from tool_modules import load_tool

import asl_recog as asl
from asl_recog.data import _hands, _palm
from asl_recog.data._images import read_image
from asl_recog.data._palm import Palm, decode, hand_rect, iou, letterbox, ssd_anchors, unpad, weighted_nms

MASSEY = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "massey-asl-photos"
needs_massey = pytest.mark.skipif(
    not MASSEY.is_dir(), reason="the Massey photos live outside the project (../shared/datasets)"
)


def _massey_sample(per_letter: int) -> list[Path]:
    """The first ``per_letter`` photos of every letter folder, in name order (a fixed sample)."""
    return [
        path for folder in sorted(MASSEY.iterdir()) if folder.is_dir() for path in sorted(folder.iterdir())[:per_letter]
    ]


def _keypoints(**points: tuple[float, float]) -> np.ndarray:
    keypoints = np.zeros((7, 2))
    for index, xy in points.items():
        keypoints[int(index[1:])] = xy
    return keypoints


# -- the graph ----------------------------------------------------------------------------------------


def test_the_shipped_graph_is_the_recorded_one_with_mediapipes_shapes() -> None:
    data = _hands.DETECTOR_FILE.read_bytes()
    assert hashlib.sha256(data).hexdigest() == _hands.DETECTOR_SHA256
    assert 4_000_000 < len(data) < 5_000_000
    session = _hands._load_session()
    assert session is _hands._load_session()  # made once
    (first,) = session.get_inputs()
    assert first.shape == [1, 192, 192, 3] and first.type == "tensor(float)"
    assert [output.shape for output in session.get_outputs()] == [[1, 2016, 18], [1, 2016, 1]]
    for name in ("LICENSE", "NOTICE"):
        assert (_hands.DETECTOR_FILE.parent / name).is_file()
    assert "Apache License" in (_hands.DETECTOR_FILE.parent / "LICENSE").read_text()
    assert _hands.DETECTOR_SHA256 in (_hands.DETECTOR_FILE.parent / "NOTICE").read_text()


def test_prelu_rewrite_answers_bit_for_bit_and_the_shipped_graph_has_no_prelu() -> None:
    # tools/make_hand_detector.py writes PRelu as Relu(x) + Relu(-x) * -slope, for speed; it must
    # not change the answers, on slopes below 0, in (0, 1) and above 1, and on -0.0 (whose sign it may
    # drop: -0.0 == 0.0, so array_equal and not the bytes).
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    tool = load_tool("make_hand_detector")
    slope = np.array([-4.55, -0.3, 0.0, 0.25, 1.0, 12.24], dtype=np.float32).reshape(1, 6, 1, 1)
    graph = helper.make_graph(
        [helper.make_node("PRelu", ["x", "slope"], ["y"], name="act"), helper.make_node("Relu", ["y"], ["z"])],
        "prelu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6, 5, 5])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 6, 5, 5])],
        [numpy_helper.from_array(slope, "slope")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    x = np.random.default_rng(0).normal(0, 50, (1, 6, 5, 5)).astype(np.float32)
    x[0, :, 0, 0] = -0.0
    before = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    assert tool.prelu_as_relu(model) == 1
    assert "PRelu" not in {node.op_type for node in model.graph.node}
    assert [tensor.name for tensor in model.graph.initializer] == ["slope_negated"]
    after = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    assert np.array_equal(after[0], before[0])
    shipped = onnx.load(str(_hands.DETECTOR_FILE))
    assert "PRelu" not in {node.op_type for node in shipped.graph.node}


# -- anchors, decoding, suppression: numbers worked out by hand -----------------------------------------


def test_anchors_are_mediapipes_2016() -> None:
    anchors = ssd_anchors()
    assert anchors.shape == (2016, 2) and not anchors.flags.writeable
    # 24x24 cells of stride 8, two anchors per cell, row by row: (x + 0.5) / 24.
    np.testing.assert_allclose(anchors[0], [0.5 / 24, 0.5 / 24])
    np.testing.assert_allclose(anchors[1], anchors[0])
    np.testing.assert_allclose(anchors[2], [1.5 / 24, 0.5 / 24])
    np.testing.assert_allclose(anchors[48], [0.5 / 24, 1.5 / 24])  # the second row
    np.testing.assert_allclose(anchors[1151], [23.5 / 24, 23.5 / 24])
    # then 12x12 cells of stride 16 shared by three layers: six anchors per cell.
    np.testing.assert_allclose(anchors[1152:1158], np.tile([0.5 / 12, 0.5 / 12], (6, 1)))
    np.testing.assert_allclose(anchors[1158], [1.5 / 12, 0.5 / 12])
    np.testing.assert_allclose(anchors[-1], [11.5 / 12, 11.5 / 12])


def test_decoding_a_hand_built_output() -> None:
    close = functools.partial(np.testing.assert_allclose, atol=1e-6)  # the anchors are float32
    raw = np.zeros((1, 2016, 18), np.float32)
    logits = np.full((1, 2016, 1), -5.0, np.float32)  # sigmoid 0.0067: below 0.5, dropped
    # Anchor 1152 sits at (1/24, 1/24): a box 19.2 px right and 9.6 px down of it, 48 x 96 px.
    raw[0, 1152, :4] = [19.2, 9.6, 48.0, 96.0]
    raw[0, 1152, 4:6] = [0.0, 38.4]  # the wrist, 38.4 px below the anchor
    raw[0, 1152, 8:10] = [0.0, -19.2]  # the middle knuckle, 19.2 px above
    logits[0, 1152] = 1000.0  # clipped at 100 first: no overflow, probability 1
    raw[0, 2015, :4] = [0.0, 0.0, 192.0, 192.0]
    logits[0, 2015] = 0.0  # exactly 0.5: kept (min_score_thresh is inclusive)
    logits[0, 7] = -0.01  # just under 0.5
    with np.errstate(all="raise"):
        first, second = decode(raw, logits)
    centre = 1 / 24 + 0.1, 1 / 24 + 0.05
    assert first.score == 1.0
    close(first.box, [centre[0] - 0.125, centre[1] - 0.25, centre[0] + 0.125, centre[1] + 0.25])
    close(first.keypoints[0], [1 / 24, 1 / 24 + 0.2])
    close(first.keypoints[2], [1 / 24, 1 / 24 - 0.1])
    close(first.keypoints[1], [1 / 24, 1 / 24])  # zero offset: the anchor itself
    assert second.score == 0.5
    close(second.box, [11.5 / 12 - 0.5, 11.5 / 12 - 0.5, 11.5 / 12 + 0.5, 11.5 / 12 + 0.5])
    assert decode(raw, np.full(2016, -100.0)) == []


def test_weighted_non_max_suppression_averages_what_overlaps_the_best() -> None:
    def palm(score: float, box: tuple[float, float, float, float], keypoint: float) -> Palm:
        return Palm(score, box, np.full((7, 2), keypoint))

    a = palm(0.9, (0.0, 0.0, 1.0, 1.0), 0.5)
    b = palm(0.6, (0.2, 0.0, 1.2, 1.0), 0.8)  # IoU with a: 0.8 / 1.2 = 0.667, merged into a
    c = palm(0.7, (0.6, 0.0, 1.6, 1.0), 0.1)  # IoU with a: 0.4 / 1.6 = 0.25 <= 0.3, its own palm
    d = palm(0.55, (5.0, 5.0, 6.0, 6.0), 0.0)  # far away
    assert iou(a.box, b.box) == pytest.approx(2 / 3) and iou(a.box, c.box) == pytest.approx(0.25)
    first, second, third = weighted_nms([b, d, c, a])
    assert first.score == 0.9  # the best score, not a mean
    np.testing.assert_allclose(first.box, [0.6 * 0.2 / 1.5, 0.0, (0.9 + 0.6 * 1.2) / 1.5, 1.0])
    np.testing.assert_allclose(first.keypoints, np.full((7, 2), (0.9 * 0.5 + 0.6 * 0.8) / 1.5))
    # c overlapped b (IoU 0.6 / 1.4) but b was taken by a first: c stays as it was.
    assert (second.score, second.box) == (0.7, c.box) and (third.score, third.box) == (0.55, d.box)
    assert weighted_nms([]) == []


# -- geometry -----------------------------------------------------------------------------------------


def test_the_hand_rect_follows_the_palm_as_mediapipe_turns_shifts_and_scales_it() -> None:
    box = (0.4, 0.4, 0.6, 0.5)  # on a 200 x 100 image: 40 x 10 px, centre (100, 45)
    up = hand_rect(Palm(0.9, box, _keypoints(k0=(0.5, 0.6), k2=(0.5, 0.4))), 200, 100)
    assert up.rotation == pytest.approx(0.0)
    assert (up.x_center, up.y_center) == pytest.approx((100.0, 45.0 - 0.5 * 10))  # half its height up
    assert up.side == pytest.approx(40 * 2.6)  # square on the long side, x2.6
    right = hand_rect(Palm(0.9, box, _keypoints(k0=(0.4, 0.45), k2=(0.6, 0.45))), 200, 100)
    assert right.rotation == pytest.approx(math.pi / 2)  # fingers to the right: turned a quarter clockwise
    assert (right.x_center, right.y_center) == pytest.approx((100.0 + 0.5 * 10, 45.0))  # toward the fingers
    down = hand_rect(Palm(0.9, box, _keypoints(k0=(0.5, 0.4), k2=(0.5, 0.6))), 200, 100)
    assert abs(down.rotation) == pytest.approx(math.pi) and down.y_center == pytest.approx(50.0)
    # The direction is measured in pixels: (+20 px, -20 px) on the wide image is 45 degrees, not 63.
    diagonal = hand_rect(Palm(0.9, box, _keypoints(k0=(0.5, 0.5), k2=(0.6, 0.3))), 200, 100)
    assert diagonal.rotation == pytest.approx(math.pi / 4)
    assert diagonal.upright_side() == pytest.approx(104 * math.sqrt(2))


def test_the_crop_is_the_upright_square_scaled_by_the_margin_and_kept_inside() -> None:
    palm = Palm(0.8, (0.4, 0.4, 0.6, 0.6), _keypoints(k0=(0.5, 0.6), k2=(0.5, 0.45)))
    box = _hands.hand_box(palm, 400, 400)  # 80 px palm, centre (200, 200) -> (200, 160), side 208
    side = 208 * _hands.HAND_MARGIN
    assert (box.width, box.height) == (round(side), round(side)) and box.score == 0.8
    assert box.x == round(200 - side / 2) and box.y == round(160 - side / 2)
    corner = _hands.hand_box(Palm(0.8, (0.0, 0.0, 0.2, 0.2), palm.keypoints - 0.4), 400, 400)
    assert (corner.x, corner.y) == (0, 0)  # moved inside, still square
    huge = _hands.hand_box(Palm(0.8, (0.1, 0.1, 0.9, 0.9), palm.keypoints), 400, 300)
    assert huge == asl.HandBox(50, 0, 300, 300, 0.8)  # cut to the short side


def test_letterbox_padding_is_removed_from_the_boxes() -> None:
    placement = letterbox(640, 480)
    assert placement == (0, 24, 192, 144)
    # A palm drawn on the square over the image's middle half, keypoints on its corners.
    on_square = Palm(
        0.9,
        (48 / 192, 60 / 192, 144 / 192, 132 / 192),
        np.array([[0.0, 24 / 192], [1.0, 168 / 192]] * 3 + [[0.5, 0.5]]),
    )
    on_image = unpad(on_square, placement)
    np.testing.assert_allclose(on_image.box, [0.25, 0.25, 0.75, 0.75])
    np.testing.assert_allclose(on_image.keypoints[:2], [[0.0, 0.0], [1.0, 1.0]])
    # With a border the image is smaller in the square, and its own coordinates still come back.
    bordered = letterbox(480, 640, border=0.5)
    left, top, width, height = bordered
    assert (width, height) == (72, 96) and (left, top) == (60, 48)
    square = Palm(
        0.9, ((left + 0.5 * width) / 192, top / 192, (left + width) / 192, (top + height) / 192), np.zeros((7, 2))
    )
    np.testing.assert_allclose(unpad(square, bordered).box, [0.5, 0.0, 1.0, 1.0])


# -- the image path -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["grey", "coffee", "camera"])
def test_without_a_hand_the_centre_square_is_used_pixel_for_pixel(name: str) -> None:
    import skimage.data

    pixels = np.full((300, 400, 3), 128, np.uint8) if name == "grey" else getattr(skimage.data, name)()
    data = encode(Image.fromarray(pixels), "JPEG", quality=90)
    array, hand, searched = read_image(data)
    assert searched and hand is None
    np.testing.assert_array_equal(array, asl.image_to_array(data, find_hand=False))
    assert asl.locate_hand(data) is None and asl.locate_hand(pixels) is None


def test_small_images_and_crop_boxes_are_not_searched(test_data: asl.SignMnistDataset) -> None:
    hand = encode(Image.fromarray(test_data.images[0]))  # 28x28: already a crop
    array, box, searched = read_image(hand)
    assert not searched and box is None
    np.testing.assert_array_equal(array, test_data.images[0])
    assert _hands.detect_hand(np.zeros((63, 200, 3), np.uint8)) is None
    big = encode(Image.fromarray(test_data.images[0]).resize((200, 200)))
    assert read_image(big, crop=(0, 0, 100, 100))[1:] == (None, False)
    assert read_image(big, find_hand=False)[1:] == (None, False)


def test_arrays_of_the_wrong_kind_are_refused_with_the_fix() -> None:
    with pytest.raises(asl.DataFormatError, match=r"uint8 array of shape \(height, width, 3\).*Fix: pass np.asarray"):
        asl.locate_hand(np.zeros((100, 100, 3), np.float32))
    with pytest.raises(asl.DataFormatError, match="got uint8 \\(100, 100, 4\\)"):
        asl.locate_hand(np.zeros((100, 100, 4), np.uint8))


@needs_massey
def test_a_hand_is_found_in_real_photos_and_the_crop_is_around_it() -> None:
    sample = _massey_sample(2)  # 48 photos: two of every letter
    found = 0
    for path in sample:
        array, hand = asl.image_to_array_and_hand(path)
        if hand is None:
            continue
        found += 1
        assert min(hand.x, hand.y) >= 0 and max(hand.x + hand.width, hand.y + hand.height) <= 400
        assert hand.width == hand.height >= 150 and 0.5 <= hand.score <= 1
        np.testing.assert_array_equal(array, asl.image_to_array(path, crop=hand.crop, find_hand=False))
    assert found >= 0.9 * len(sample), f"a hand was found in {found} of {len(sample)} Massey photos"


@needs_massey
def test_the_box_is_in_pixels_of_the_upright_photo(tmp_path: Path) -> None:
    path = _massey_sample(1)[2]  # a C: not symmetric
    upright = Image.open(path).convert("RGB")
    expected = asl.locate_hand(np.asarray(upright))
    assert expected is not None and asl.locate_hand(path) == expected  # the file and its pixels agree
    sideways = with_orientation(upright, 6)  # stored turned, with EXIF orientation 6
    box = asl.locate_hand(sideways)
    assert box is not None
    assert abs(box.x - expected.x) <= 12 and abs(box.y - expected.y) <= 12 and abs(box.width - expected.width) <= 12
    # A large photo is looked at reduced; the box still comes back in its own pixels.
    large = Image.new("RGB", (1600, 1200))
    large.paste(upright.resize((800, 800)), (500, 300))
    box = asl.locate_hand(encode(large, "JPEG", quality=92))
    assert box is not None and 500 <= box.x + box.width / 2 <= 1300 and 300 <= box.y + box.height / 2 <= 1100
    assert 1.2 * expected.width <= box.width <= 2.8 * expected.width  # the hand is twice as large


@needs_massey
def test_a_small_hand_on_a_large_photo_is_decoded_again_for_its_pixels() -> None:
    """The hand is looked for on the frame reduced for the resize (here 1/8: 300x225); a hand square of
    fewer than 112 pixels there is cut from a second decode at a crop box's scale, not from the frame."""
    canvas = Image.new("RGB", (2400, 1800), (70, 90, 110))
    canvas.paste(Image.open(_massey_sample(1)[2]).convert("RGB").resize((450, 450)), (800, 450))
    data = encode(canvas, "JPEG", quality=92)
    array, hand = asl.image_to_array_and_hand(data)
    assert hand is not None and hand.width / 8 < 112  # small on the reduced frame
    assert 800 <= hand.x + hand.width / 2 <= 1250 and 450 <= hand.y + hand.height / 2 <= 900
    np.testing.assert_array_equal(array, asl.image_to_array(data, crop=hand.crop, find_hand=False))


@needs_massey
def test_one_session_serves_threads_alike() -> None:
    pixels = [np.asarray(Image.open(path).convert("RGB")) for path in _massey_sample(1)[:6]]
    alone = [asl.locate_hand(p) for p in pixels]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(asl.locate_hand, pixels * 3))
    assert together == alone * 3


@needs_massey
def test_a_folder_says_once_how_many_photos_had_no_hand(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "photos"
    for letter, path in zip("AB", _massey_sample(1)[:2], strict=True):
        (folder / letter).mkdir(parents=True)
        # A temporary photo made for this test (never kept in the project): the hand off-centre on
        # a 640x480 canvas, so that its square and the centre square differ.
        canvas = Image.new("RGB", (640, 480))
        canvas.paste(Image.open(path).convert("RGB").resize((240, 240)), (390, 40))
        canvas.save(folder / letter / f"{path.stem}.jpg", quality=92)
    wall = io.BytesIO()
    Image.new("RGB", (320, 240), (60, 90, 120)).save(wall, format="PNG")
    for i in range(3):
        (folder / "A" / f"wall{i}.png").write_bytes(wall.getvalue())
    (folder / "B" / "tiny.png").write_bytes(encode(Image.new("L", (28, 28), 90)))  # not searched
    with caplog.at_level(logging.INFO, logger="asl_recog"):
        photos = asl.load_sign_mnist("test", folder)
    assert len(photos) == 6
    messages = [record.getMessage() for record in caplog.records if "hand" in record.getMessage()]
    assert messages == [
        f"{folder}: no hand found in 3 of 5 photos; they were cut to their centre square "
        "(crop them to the hand, or pass find_hand=False to treat every photo alike)"
    ]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="asl_recog"):
        plain = asl.load_sign_mnist("test", folder, find_hand=False)
    assert not [r for r in caplog.records if "hand" in r.getMessage()]
    hands = [0, 4]  # A: the hand, then three walls; B: the hand, then the tiny image
    assert all(not np.array_equal(plain.images[i], photos.images[i]) for i in hands)  # the hand's square
    np.testing.assert_array_equal(np.delete(plain.images, hands, 0), np.delete(photos.images, hands, 0))


def test_the_palm_module_repeats_mediapipes_numbers() -> None:
    """The calculator options copied from MediaPipe 0.10.21's graphs, in one place."""
    assert (_palm.INPUT_SIDE, _palm.STRIDES, _palm.NUM_ANCHORS, _palm.NUM_KEYPOINTS) == (192, (8, 16, 16, 16), 2016, 7)
    assert (_palm.MIN_SCORE, _palm.SCORE_CLIP, _palm.MIN_SUPPRESSION_IOU) == (0.5, 100.0, 0.3)
    assert (_palm.HAND_SCALE, _palm.HAND_SHIFT_Y, _palm.WRIST, _palm.MIDDLE_KNUCKLE) == (2.6, -0.5, 0, 2)
