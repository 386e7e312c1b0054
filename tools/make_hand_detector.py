"""Make the hand detector shipped in asl_recog/data/_detector/ from MediaPipe's wheel, reproducibly.

The detector is MediaPipe's palm detector (``palm_detection_full.tflite``, Apache-2.0), as
released in the ``mediapipe`` 0.10.21 wheel on PyPI. This script:

1. downloads that wheel with pip (``--no-deps``, CPython 3.11, manylinux_2_28 x86_64; mediapipe
   itself is never installed: it pins numpy<2) unless ``--wheel`` names a copy, and checks its sha256;
2. reads ``mediapipe/modules/palm_detection/palm_detection_full.tflite`` and the licence from the
   wheel with zipfile and checks the graph's sha256;
3. converts it with the project's own tf2onnx
   (``python -m tf2onnx.convert --tflite FILE --opset 17 --output OUT``);
4. rewrites each ``PRelu(x, slope)`` as ``Relu(x) + Relu(-x) * -slope``, which is the same
   number (only a zero's sign can differ) and a third faster in ONNX Runtime (see :func:`prelu_as_relu`);
5. renames the folded constants in order of first use (tf2onnx numbers them in an order
   that changes from run to run; the graph is the same) and replaces the temporary folder in the
   graph's doc string, so that the file's bytes are reproducible;
6. checks the graph: input 1x192x192x3 float, outputs 1x2016x18 and 1x2016x1, and the same
   answers as TensorFlow Lite's interpreter on the .tflite for a fixed random image;
7. writes the ONNX file, the Apache-2.0 licence and a NOTICE, and prints the three sha256s.

Usage:
    python tools/make_hand_detector.py             # (re)writes asl_recog/data/_detector/
    python tools/make_hand_detector.py --check     # exit 1 if the committed files differ from a fresh build
    python tools/make_hand_detector.py --wheel mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "asl_recog" / "data" / "_detector"
VERSION = "0.10.21"
WHEEL = f"mediapipe-{VERSION}-cp311-cp311-manylinux_2_28_x86_64.whl"
WHEEL_SHA256 = "05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3"
TFLITE = "mediapipe/modules/palm_detection/palm_detection_full.tflite"
TFLITE_SHA256 = "1b14e9422c6ad006cde6581a46c8b90dd573c07ab7f3934b5589e7cea3f89a54"
LICENSE_MEMBER = f"mediapipe-{VERSION}.dist-info/LICENSE"
ONNX_NAME = "palm_detection_full.onnx"
OPSET = 17
#: Largest difference allowed between ONNX Runtime's and TensorFlow Lite's raw outputs. The .tflite
#: stores float16 weights that both dequantise to float32; what differs is the order of the sums.
TOLERANCE = 1e-3

NOTICE = f"""\
palm_detection_full.onnx: MediaPipe's palm detector, converted to ONNX
=====================================================================

Source:     mediapipe/modules/palm_detection/palm_detection_full.tflite in the wheel
            {WHEEL} (PyPI package "mediapipe" {VERSION},
            https://github.com/google-ai-edge/mediapipe; sha256 {{tflite_sha}}).
Copyright:  The MediaPipe Authors.
Licence:    Apache License 2.0; the licence text is in LICENSE next to this file (the Apache-2.0
            part of the wheel's mediapipe-{VERSION}.dist-info/LICENSE; its other sections are about
            files not taken here).
Changes:    converted from TensorFlow Lite to ONNX (opset {OPSET}) with tf2onnx,
                python -m tf2onnx.convert --tflite palm_detection_full.tflite --opset {OPSET} --output OUT
            each PRelu(x, slope) written as Relu(x) + Relu(-x) * (-slope), the same numbers
            (ONNX Runtime runs its PRelu slowly), and the folded constants renamed in order of
            first use (const_000, ...) so the bytes are reproducible. No weight was changed
            but for the PRelu slopes' signs.
            sha256 of the result: {{onnx_sha}}
How:        python tools/make_hand_detector.py (in the asl_recog source tree) repeats all of it.
Use:        asl_recog/data/_hands.py runs it on 192x192 RGB images scaled to 0..1 and decodes its
            2016 anchors the way MediaPipe's palm_detection_cpu graph does.
"""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_wheel(folder: Path) -> Path:
    """Download the pinned mediapipe wheel into ``folder`` with pip, without installing it."""
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", f"mediapipe=={VERSION}", "--only-binary=:all:",
        "--python-version", "3.11", "--implementation", "cp", "--platform", "manylinux_2_28_x86_64",
        "--dest", str(folder),
    ]  # fmt: skip
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True)
    return folder / WHEEL


def read_wheel(wheel: Path) -> tuple[bytes, bytes]:
    """The palm detector and the Apache-2.0 licence text from the wheel, after checking both hashes."""
    data = wheel.read_bytes()
    if sha256(data) != WHEEL_SHA256:
        raise SystemExit(f"{wheel}: sha256 {sha256(data)}, expected {WHEEL_SHA256}; is it {WHEEL}?")
    print(f"wheel   {sha256(data)}  {wheel.name}")
    with zipfile.ZipFile(wheel) as archive:
        tflite = archive.read(TFLITE)
        licence = archive.read(LICENSE_MEMBER).decode("utf-8")
    if sha256(tflite) != TFLITE_SHA256:
        raise SystemExit(f"{TFLITE}: sha256 {sha256(tflite)}, expected {TFLITE_SHA256}")
    print(f"tflite  {sha256(tflite)}  {TFLITE} ({len(tflite):,} bytes)")
    # The wheel's LICENSE is Apache-2.0 followed by notices of other components after a line of '='.
    apache = licence.split("\n====", 1)[0].rstrip() + "\n"
    if "Apache License" not in apache or "Version 2.0" not in apache:
        raise SystemExit(f"{LICENSE_MEMBER}: does not start with the Apache License 2.0 text")
    return tflite, apache


def convert(tflite: bytes, folder: Path) -> bytes:
    """tf2onnx's conversion of the .tflite, with its folded constants renamed so the bytes are reproducible."""
    import onnx

    source, target = folder / "palm_detection_full.tflite", folder / ONNX_NAME
    source.write_bytes(tflite)
    command = [sys.executable, "-m", "tf2onnx.convert", "--tflite", str(source), "--opset", str(OPSET)]
    command += ["--output", str(target)]
    print("$", " ".join(command), flush=True)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run(command, check=True, env=env, capture_output=True)
    model = onnx.load(str(target))
    prelu_as_relu(model)
    graph = model.graph
    stored = {tensor.name for tensor in graph.initializer}
    names: dict[str, str] = {}
    for node in graph.node:
        for name in node.input:
            if name in stored and name not in names:
                names[name] = f"const_{len(names):03d}"
    for node in graph.node:
        node.input[:] = [names.get(name, name) for name in node.input]
    tensors = sorted(graph.initializer, key=lambda tensor: names[tensor.name])
    renamed = []
    for tensor in tensors:
        copy = onnx.TensorProto()
        copy.CopyFrom(tensor)
        copy.name = names[tensor.name]
        renamed.append(copy)
    del graph.initializer[:]
    graph.initializer.extend(renamed)
    graph.doc_string = f"converted from {TFLITE} ({WHEEL}) by tools/make_hand_detector.py"  # not the temp path
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString(deterministic=True))


def prelu_as_relu(model: Any) -> int:
    """Rewrite each ``PRelu(x, slope)`` of ``model`` in place as ``Relu(x) + Relu(-x) * -slope``; return the count.

    Why: the graph's 31 PRelu nodes took 7.2 of its 17.7 ms in ONNX Runtime 1.32's profile (one
    thread), as long as its 63 convolutions, while the Relu, Neg, Mul and Add that replace them
    take about 3 ms (13.2 ms for the whole graph in the same profile). The numbers are equal: for
    x > 0 the second term is ``0 * -slope``; for x < 0 the first is 0 and ``-x * -slope`` is
    ``x * slope`` exactly (a change of sign rounds nothing). Only a zero's sign can differ
    (PRelu's ``-0.0`` comes out ``+0.0``), which no comparison or later sum can see. Each slope
    is stored negated, in place of the original.
    """
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    stored = {tensor.name: tensor for tensor in graph.initializer}
    nodes, count = [], 0
    for node in graph.node:
        if node.op_type != "PRelu" or node.input[1] not in stored:
            nodes.append(node)
            continue
        (x, slope), (y,) = node.input, node.output
        negated = f"{slope}_negated"
        if negated not in stored:
            stored[negated] = numpy_helper.from_array(-numpy_helper.to_array(stored[slope]), negated)
            graph.initializer.append(stored[negated])
        name = node.name or y
        nodes += [
            helper.make_node("Relu", [x], [f"{y}_positive"], name=f"{name}_positive"),
            helper.make_node("Neg", [x], [f"{y}_flipped"], name=f"{name}_flipped"),
            helper.make_node("Relu", [f"{y}_flipped"], [f"{y}_negative"], name=f"{name}_negative"),
            helper.make_node("Mul", [f"{y}_negative", negated], [f"{y}_scaled"], name=f"{name}_scaled"),
            helper.make_node("Add", [f"{y}_positive", f"{y}_scaled"], [y], name=name),
        ]
        count += 1
    del graph.node[:]
    graph.node.extend(nodes)
    # The slopes are now read only through their negated copies: drop the originals.
    used = {name for node in graph.node for name in node.input}
    kept = [tensor for tensor in graph.initializer if tensor.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    onnx.checker.check_model(model)
    return count


def verify(graph: bytes, tflite: bytes) -> None:
    """The ONNX graph's shapes, and its answers against TensorFlow Lite's on one fixed random image."""
    import onnxruntime as ort

    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    (first,) = session.get_inputs()
    shapes = [first.shape] + [output.shape for output in session.get_outputs()]
    if shapes != [[1, 192, 192, 3], [1, 2016, 18], [1, 2016, 1]] or first.type != "tensor(float)":
        raise SystemExit(f"unexpected graph: input {first.type} {shapes[0]}, outputs {shapes[1:]}")
    image = np.random.default_rng(0).random((1, 192, 192, 3), dtype=np.float32)
    ours = session.run(None, {first.name: image})

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_content=tflite)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image)
    interpreter.invoke()
    theirs = {tuple(d["shape"]): interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()}
    for output in ours:
        difference = float(np.abs(output - theirs[output.shape]).max())
        print(f"output {output.shape}: largest difference from TensorFlow Lite {difference:.2e}")
        if difference > TOLERANCE:
            raise SystemExit(f"ONNX and TensorFlow Lite disagree by {difference} (> {TOLERANCE}) on {output.shape}")
    print(f"graph   input {first.name} {shapes[0]} float, outputs {shapes[1:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--wheel", type=Path, help=f"a downloaded {WHEEL} (default: download it with pip)")
    parser.add_argument("--check", action="store_true", help="compare with the committed files instead of writing")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help=f"output folder (default {OUT_DIR})")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hand-detector-") as tmp:
        wheel = args.wheel or fetch_wheel(Path(tmp))
        tflite, licence = read_wheel(wheel)
        graph = convert(tflite, Path(tmp))
    verify(graph, tflite)
    print(f"onnx    {sha256(graph)}  {ONNX_NAME} ({len(graph):,} bytes)")
    files = {
        ONNX_NAME: graph,
        "LICENSE": licence.encode(),
        "NOTICE": NOTICE.format(tflite_sha=sha256(tflite), onnx_sha=sha256(graph)).encode(),
    }
    if args.check:
        stale = [name for name, data in files.items() if not (args.out / name).is_file()]
        stale += [name for name, data in files.items() if name not in stale and (args.out / name).read_bytes() != data]
        sys.path.insert(0, str(ROOT))
        from asl_recog.data._hands import DETECTOR_SHA256

        if sha256(graph) != DETECTOR_SHA256:
            stale.append(f"asl_recog/data/_hands.py DETECTOR_SHA256 ({DETECTOR_SHA256})")
        if stale:
            print(f"out of date: {', '.join(stale)}; run python tools/make_hand_detector.py", file=sys.stderr)
            return 1
        print("the committed detector matches a fresh build")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (args.out / name).write_bytes(data)
        print(f"wrote {args.out / name}")
    print(f"set DETECTOR_SHA256 = {sha256(graph)!r} in asl_recog/data/_hands.py if it differs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
