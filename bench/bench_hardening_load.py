"""Loopback load with mixed JSON and image requests: errors and the service's memory over a long run.

Starts ``python -m asl_recog.serving`` (one uvicorn worker) on 127.0.0.1 with a
small real ONNX model (PCA(40) + logistic regression, as bench_serve.py), then
runs N concurrent clients (asyncio + httpx, keep-alive) for D seconds. Each
request is drawn from a fixed mix: JSON bodies in several shapes, PNG and
JPEG uploads (raw and multipart, some with EXIF orientation, some 16-bit), and
hostile requests (image bombs, truncated forms, unhashable columns) whose
expected answer is a 4xx. An error is a transport failure, any 5xx, or a
status other than the one expected for that request. The service's resident
memory (VmRSS) is sampled every 0.5 s from /proc, with its peak (VmHWM).

``--batch-load knn cnn``: instead of the mix, every client sends 1024-image JSON batches
to a service holding one of two fixed models (bench/load_models.py: the largest KNN of the
AutoML search, on HOG features of all 54,910 augmented training rows, and the default CNN),
served with its default scoring limits (``/info``'s ``scoring_limits``). A 503 is the
service shedding load: the client waits its ``Retry-After`` and sends again; an error is any
other non-200, a transport failure, or a 200 whose letters differ from the model's own.

Usage: python bench/bench_hardening_load.py [--duration 60] [--clients 32] [--batch-load knn cnn]
Prints a Markdown section.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from batch_load import batch_load  # noqa: E402 - a bench module beside this one
from bench_serve import train_model, wait_ready  # noqa: E402
from image_cases import encode, jpeg_bomb, odd_modes, png_bomb, with_orientation  # noqa: E402
from load_models import BUILDERS  # noqa: E402

import asl_recog as asl  # noqa: E402
from asl_recog.deploy._local import free_port  # noqa: E402


def _form(photos: list[bytes], cut: bool = False) -> tuple[bytes, str]:
    body = (
        b"".join(
            b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="p%d.jpg"\r\n\r\n%s\r\n' % (i, p)
            for i, p in enumerate(photos)
        )
        + b"--b0undary--\r\n"
    )
    return (body[: len(body) * 2 // 3] if cut else body), "multipart/form-data; boundary=b0undary"


def request_mix(test: asl.SignMnistDataset) -> list[tuple[str, bytes, str, int]]:
    """(kind, body, content type, expected status); the list is the mix the clients draw from."""
    rng = np.random.default_rng(0)
    images = test.images[rng.choice(len(test), 8, replace=False)]
    rows = images.reshape(8, 784).tolist()
    columns = [f"pixel{i}" for i in range(1, 785)]
    photo = Image.fromarray(images[0]).resize((320, 240), Image.Resampling.BICUBIC)
    jpeg = encode(photo.convert("RGB"), "JPEG", quality=90)
    js = "application/json"
    mix = [
        ("json_records_1", json.dumps({"data": [dict(zip(columns, rows[0], strict=False))]}).encode(), js, 200),
        ("json_lists_8", json.dumps({"data": rows}).encode(), js, 200),
        ("json_input_data_4", json.dumps({"input_data": {"columns": columns, "data": rows[:4]}}).encode(), js, 200),
        (
            "json_v2_proba_2",
            json.dumps({"Inputs": {"data": rows[:2]}, "GlobalParameters": {"method": "predict_proba"}}).encode(),
            js,
            200,
        ),
        ("png_raw", encode(photo), "image/png", 200),
        ("jpeg_exif_form_2", *_form([with_orientation(photo, 6), jpeg]), 200),
        ("png16_form", *_form([odd_modes(np.asarray(photo))["png_I16"]]), 200),
        ("bomb_png_raw", png_bomb(13000, 13000), "image/png", 413),
        ("bomb_jpeg_form", *_form([jpeg_bomb()]), 413),
        ("truncated_form", *_form([jpeg, jpeg], cut=True), 400),
        (
            "unhashable_columns",
            json.dumps({"input_data": {"columns": [[1]] * 784, "data": rows[:1]}}).encode(),
            js,
            422,
        ),
    ]
    weights = [6, 4, 3, 2, 3, 2, 1, 1, 1, 1, 1]  # mostly valid traffic, one in ten hostile
    return [entry for entry, weight in zip(mix, weights, strict=False) for _ in range(weight)]


def _status_kib(pid: int) -> tuple[int, int]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def memory_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process and its children, in KiB: what the service's container holds.

    The service parses large bodies in a child process (serving/_offload.py), so its memory
    counts. The summed VmHWM is an upper bound of the peak of the sum (the peaks may not coincide).
    """
    rss, hwm = _status_kib(pid)
    children = Path(f"/proc/{pid}/task/{pid}/children")
    for child in children.read_text().split() if children.exists() else []:
        try:
            child_rss, child_hwm = _status_kib(int(child))
        except (FileNotFoundError, ProcessLookupError):
            continue  # ended between the listing and the read
        rss, hwm = rss + child_rss, hwm + child_hwm
    return rss, hwm


async def client(
    url: str,
    mix: list[tuple[str, bytes, str, int]],
    until: float,
    seed: int,
    stats: dict[str, list[float]],
    errors: list[str],
) -> None:
    rng = random.Random(seed)
    async with httpx.AsyncClient(timeout=30.0) as http:
        while time.monotonic() < until:
            kind, body, content_type, expected = rng.choice(mix)
            start = time.perf_counter()
            try:
                response = await http.post(url, content=body, headers={"Content-Type": content_type})
                status = response.status_code
                ok = status == expected and response.headers.get("content-type", "").startswith("application/json")
            except httpx.HTTPError as exc:
                status, ok = type(exc).__name__, False
            stats.setdefault(kind, []).append(time.perf_counter() - start)
            if not ok:
                errors.append(f"{kind}: got {status}, expected {expected}")


async def drive(
    url: str, pid: int, mix: list[tuple[str, bytes, str, int]], clients: int, duration: float
) -> tuple[dict[str, list[float]], list[str], list[int]]:
    stats: dict[str, list[float]] = {}
    errors: list[str] = []
    samples: list[int] = []
    until = time.monotonic() + duration

    async def sample() -> None:
        while time.monotonic() < until:
            samples.append(memory_kib(pid)[0])
            await asyncio.sleep(0.5)

    await asyncio.gather(sample(), *(client(url, mix, until, seed, stats, errors) for seed in range(clients)))
    return stats, errors, samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument(
        "--batch-load",
        nargs="+",
        choices=sorted(BUILDERS),
        default=None,
        help="1024-image batches to these models instead of the request mix",
    )
    parser.add_argument("--batch", type=int, default=1024, help="images per request with --batch-load")
    parser.add_argument(
        "--serve-option",
        action="append",
        default=[],
        help="with --batch-load: one more option for the service, e.g. --serve-option=--max-concurrent=4",
    )
    args = parser.parse_args()
    if args.batch_load:
        batch_load(args, memory_kib)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = train_model(folder)
        port = free_port()
        log = open(folder / "service.log", "wb")  # noqa: SIM115 - closed after the process ends
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "asl_recog.serving",
                str(model),
                "--no-auth",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_ready(f"http://127.0.0.1:{port}/ready", process)
            mix = request_mix(asl.load_sign_mnist("test"))
            rss_start = memory_kib(process.pid)[0]
            started = time.monotonic()
            stats, errors, samples = asyncio.run(
                drive(f"http://127.0.0.1:{port}/score", process.pid, mix, args.clients, args.duration)
            )
            elapsed = time.monotonic() - started
            rss_end, hwm = memory_kib(process.pid)
        finally:
            process.terminate()
            process.wait(10)
            log.close()
        tracebacks = (folder / "service.log").read_text(errors="replace").count("Traceback")
    latencies = sorted(v for values in stats.values() for v in values)
    total = len(latencies)
    print(f"- command: `bench/bench_hardening_load.py --duration {args.duration:g} --clients {args.clients}`")
    print(
        f"- machine: {os.cpu_count()} cores, Python {platform.python_version()} {platform.system()}, "
        f"load average before the run {os.getloadavg()[0]:.1f}"
    )
    print(f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    print(
        "| requests | errors | req/s | p50 ms | p99 ms | RSS start MiB | RSS end MiB | RSS max sampled MiB "
        "| peak RSS (VmHWM) MiB | tracebacks in the service log |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {total} | {len(errors)} | {total / elapsed:.0f} | {1000 * statistics.median(latencies):.1f} | "
        f"{1000 * latencies[int(0.99 * (total - 1))]:.1f} | {rss_start / 1024:.0f} | {rss_end / 1024:.0f} | "
        f"{max(samples) / 1024:.0f} | {hwm / 1024:.0f} | {tracebacks} |"
    )
    print(f"\nService RSS every 10 s (MiB): {', '.join(f'{v / 1024:.0f}' for v in samples[::20])}")
    print("\n| request kind | count |\n|---|---|")
    for kind in sorted(stats):
        print(f"| {kind} | {len(stats[kind])} |")
    if errors:
        print("\nfirst errors:\n" + "\n".join(f"- {e}" for e in errors[:10]))


if __name__ == "__main__":
    main()
