"""onnxruntime's CPU memory arena on or off: memory and time of 1024-image batches of the large KNN.

Builds the KNN of the batch-load benchmark (bench/load_models.py: HOG, PCA(80), 54,910 stored
rows), then, in a fresh process per setting, scores 1024 real test images three times in
chunks of 53 rows (what the service's default 64 MiB chunk budget gives this model) and
one image 200 times, with the session options OnnxModel uses and the arena switched on or off.
Prints the RSS it holds after the batches, its peak, and the times, as Markdown.

Usage: python bench/bench_onnx_arena.py [--rows 53]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE)]

ONE_SETTING = """
import sys, time, numpy as np, onnxruntime as ort
from pathlib import Path
import asl_recog as asl
def mem():
    f = dict(l.split(":", 1) for l in Path("/proc/self/status").read_text().splitlines() if ":" in l)
    return int(f["VmRSS"].split()[0]) / 1024, int(f["VmHWM"].split()[0]) / 1024
path, arena, rows = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3])
x = asl.load_sign_mnist("test").images[:1024].reshape(1024, 784).astype(np.float32) / 255
options = ort.SessionOptions()
options.enable_cpu_mem_arena = arena
options.intra_op_num_threads, options.inter_op_num_threads, options.log_severity_level = 1, 1, 3
session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
name = session.get_inputs()[0].name
session.run(None, {name: x[:1]})
base = mem()[0]
start = time.perf_counter()
for _ in range(3):
    for i in range(0, 1024, rows):
        session.run(None, {name: x[i : i + rows]})
batch = (time.perf_counter() - start) / 3
held = mem()[0]
start = time.perf_counter()
for i in range(200):
    session.run(None, {name: x[i : i + 1]})
one = (time.perf_counter() - start) / 200
print(f"{base:.0f} {held - base:.0f} {mem()[1] - base:.0f} {batch:.3f} {1000 * one:.2f}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=53, help="images per session run")
    args = parser.parse_args()
    from load_models import build_knn

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        model = build_knn(Path(tmp))
        lines = {}
        for arena in ("1", "0"):
            command = [sys.executable, "-c", ONE_SETTING, str(model), arena, str(args.rows)]
            lines[arena] = subprocess.run(command, check=True, capture_output=True, text=True).stdout.split()
    print(f"- command: `bench/bench_onnx_arena.py --rows {args.rows}`")
    print(
        f"- machine: {os.cpu_count()} cores, Python {platform.python_version()} {platform.system()}, "
        f"load average before the run {load_before:.1f}"
    )
    print(f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    print(
        "| arena | RSS after load MiB | held after the batches MiB | peak above load MiB | 1024 images s | 1 image ms |"
    )
    print("|---|---|---|---|---|---|")
    for arena, label in (("1", "on (OnnxModel's setting)"), ("0", "off")):
        base, held, peak, batch, one = lines[arena]
        print(f"| {label} | {base} | +{held} | +{peak} | {batch} | {one} |")


if __name__ == "__main__":
    main()
