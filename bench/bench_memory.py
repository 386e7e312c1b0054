"""Peak memory and wall time of the main job, and the memory of the service that serves its winner.

The main job (``asl-recog run``) runs under ``/usr/bin/time -v`` while this script
samples, every 0.2 s with psutil, the resident set summed over its whole process
tree (the job, its trial workers and the demo service). ``/usr/bin/time -v``
reports only the largest single process, so both are printed. The winner's ONNX
file is then served by ``asl-recog serve`` under 2,000 single-image requests, and
its peak resident set (VmHWM) is read.

Usage:
    python bench/bench_memory.py                  # the quick preset (target: <= 4 GiB, <= 12 min)
    python bench/bench_memory.py --preset full    # target: <= 6 GiB
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from asl_recog.evaluation._memory import TreeMemory

TARGET_GIB = {"quick": 4.0, "full": 6.0}
SERVICE_TARGET_MIB = 300


def main_job(preset: str, out: Path) -> dict[str, float]:
    """Run the main job; return its summed-tree peak, largest single process, and wall time."""
    timing = out.parent / "time-v.txt"
    command = [
        "/usr/bin/time",
        "-v",
        "-o",
        str(timing),
        str(Path(sys.executable).with_name("asl-recog")),
        "run",
        "--preset",
        preset,
        "--out",
        str(out),
        "--no-progress",
    ]
    start = time.perf_counter()
    with open(out.parent / "console.txt", "w") as console:  # stdout and stderr as a user sees them
        process = subprocess.Popen(
            command, stdout=console, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )  # keeps the two in order
        with TreeMemory(process.pid) as memory:
            process.wait()
    wall = time.perf_counter() - start
    if process.returncode != 0:
        tail = (out.parent / "console.txt").read_text()[-3000:]
        raise SystemExit(f"the main job failed ({process.returncode}):\n{tail}")
    single_kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", timing.read_text()).group(1))
    summary = json.loads((out / "summary.json").read_text())
    return {
        "tree_gib": memory.peak_bytes / 2**30,
        "single_gib": single_kib / 2**20,
        "wall_s": wall,
        "steps": summary["seconds"],
        "step_peaks": summary["peak_memory_gib_by_step"],
        "accuracy": summary["test_accuracy"],
        "best": summary["best"],
    }


def service_peak(model: Path, requests: int = 2000) -> float:
    """Peak RSS (MiB) of the scoring service serving ``model`` after ``requests`` single-image calls."""
    import httpx

    import asl_recog as asl

    with asl.LocalDeployer().deploy(model, name="memory-bench") as endpoint:
        row = asl.load_sign_mnist("test").to_frame().iloc[1:2].drop(columns=["label"])
        body = {"data": json.loads(row.to_json(orient="records"))}
        with httpx.Client(headers={"Authorization": f"Bearer {endpoint.keys[0]}"}) as client:
            for _ in range(requests):
                client.post(endpoint.scoring_uri, json=body).raise_for_status()
        status = Path(f"/proc/{endpoint.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(TARGET_GIB), default="quick")
    parser.add_argument("--keep", default=None, help="keep the run folder and the job's console output here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(args.keep or scratch)
        folder.mkdir(parents=True, exist_ok=True)
        job = main_job(args.preset, folder / "run")
        service = service_peak(folder / "run" / "best.onnx")
    target = TARGET_GIB[args.preset]
    print(
        f"`asl-recog run --preset {args.preset}`: winner **{job['best']}**; test accuracy "
        + ", ".join(f"{name} {value:.4f}" for name, value in job["accuracy"].items())
        + "."
    )
    print()
    print("| measure | value | target |")
    print("|---|---|---|")
    print(
        f"| peak RSS summed over the process tree (psutil, every 0.2 s) | {job['tree_gib']:.2f} GiB | "
        f"<= {target:g} GiB |"
    )
    print(f"| largest single process (`/usr/bin/time -v`) | {job['single_gib']:.2f} GiB | |")
    print(
        f"| wall time of the main job | {job['wall_s'] / 60:.1f} min | "
        f"{'<= 12 min' if args.preset == 'quick' else ''} |"
    )
    print(
        f"| service serving the winner, peak RSS after 2,000 requests | {service:.0f} MiB | "
        f"<= {SERVICE_TARGET_MIB} MiB |"
    )
    print()
    print("| step | seconds | peak GiB (tree) |")
    print("|---|---|---|")
    for step, seconds in job["steps"].items():
        print(f"| {step} | {seconds:.0f} | {job['step_peaks'].get(step, float('nan')):.2f} |")


if __name__ == "__main__":
    main()
