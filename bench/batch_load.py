"""``bench_hardening_load.py --batch-load``: 1024-image batches from many clients, against the service's memory.

For each model, a fresh ``python -m asl_recog.serving MODEL --no-auth`` (one uvicorn worker,
default settings), N asyncio/httpx clients each sending the same 1024 real test images as one
JSON body for D seconds, and the server's VmRSS sampled every 0.5 s from /proc, with its
peak (VmHWM) at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from bench_serve import wait_ready
from load_models import BUILDERS

import asl_recog as asl
from asl_recog.deploy._local import free_port

#: The budget the issue sets: a winner serves in a 1 GB container.
TARGET_MIB = 1000 * 10**6 / 2**20


async def _client(url: str, body: bytes, want: list[int], until: float, tally: dict[str, list]) -> None:
    async with httpx.AsyncClient(timeout=120.0) as http:
        while time.monotonic() < until:
            start = time.perf_counter()
            try:
                response = await http.post(url, content=body, headers={"Content-Type": "application/json"})
            except httpx.HTTPError as exc:
                tally["errors"].append(type(exc).__name__)
                continue
            if response.status_code == 200 and response.json()["result"] == want:
                tally["ok"].append(time.perf_counter() - start)
            elif response.status_code == 503 and "retry-after" in response.headers:
                tally["shed"].append(1)
                await asyncio.sleep(float(response.headers["retry-after"]))
            else:
                tally["errors"].append(f"{response.status_code} {response.text[:120]}")


async def _drive(url: str, pid: int, body: bytes, want: list[int], clients: int, duration: float, memory_kib: Any):
    tally: dict[str, list] = {"ok": [], "shed": [], "errors": []}
    samples: list[int] = []
    until = time.monotonic() + duration

    async def sample() -> None:
        while time.monotonic() < until:
            samples.append(memory_kib(pid)[0])
            await asyncio.sleep(0.5)

    await asyncio.gather(sample(), *(_client(url, body, want, until, tally) for _ in range(clients)))
    return tally, samples


def _serve_one(model: Path, folder: Path, args: argparse.Namespace, memory_kib: Callable) -> dict:
    test = asl.load_sign_mnist("test")
    images = test.images[: args.batch]
    body = json.dumps({"data": images.reshape(len(images), 784).tolist()}).encode()
    want = asl.OnnxModel.load(model).predict(images).tolist()
    port = free_port()
    log = open(folder / f"{model.stem}.log", "wb")  # noqa: SIM115 - closed after the process ends
    command = [sys.executable, "-m", "asl_recog.serving", str(model), "--no-auth", "--port", str(port)]
    command += [*args.serve_option, "--log-level", "warning"]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(f"http://127.0.0.1:{port}/ready", process)
        limits = httpx.get(f"http://127.0.0.1:{port}/info").json()["scoring_limits"]
        rss_start = memory_kib(process.pid)[0]
        started = time.monotonic()
        tally, samples = asyncio.run(
            _drive(f"http://127.0.0.1:{port}/score", process.pid, body, want, args.clients, args.duration, memory_kib)
        )
        elapsed = time.monotonic() - started
        rss_end, hwm = memory_kib(process.pid)
    finally:
        process.terminate()
        process.wait(10)
        log.close()
    return {
        "model": model.stem,
        "onnx_mb": model.stat().st_size / 1e6,
        "limits": limits,
        "body_mb": len(body) / 1e6,
        "elapsed": elapsed,
        "tally": tally,
        "samples": samples,
        "rss_start": rss_start,
        "rss_end": rss_end,
        "hwm": hwm,
        "tracebacks": (folder / f"{model.stem}.log").read_text(errors="replace").count("Traceback"),
    }


def batch_load(args: argparse.Namespace, memory_kib: Callable) -> None:
    """Build each model, load its service with 1024-image batches, print a Markdown section."""
    load_before = os.getloadavg()[0]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in args.batch_load:
            results.append(_serve_one(BUILDERS[name](folder), folder, args, memory_kib))
    print(
        f"- command: `bench/bench_hardening_load.py --batch-load {' '.join(args.batch_load)} "
        f"--duration {args.duration:g} --clients {args.clients}"
        + "".join(f" --serve-option={option}" for option in args.serve_option)
        + "`"
    )
    print(
        f"- machine: {os.cpu_count()} cores, Python {platform.python_version()} {platform.system()}, "
        f"load average before the run {load_before:.1f}"
    )
    print(f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    print(
        "| model | ONNX MB | chunk rows | max concurrent | max queue | 200 | 503 | errors | images/s | p50 s "
        "| p99 s | RSS start MiB | RSS end MiB | RSS max sampled MiB | peak RSS (VmHWM) MiB | tracebacks |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        ok, limits = sorted(r["tally"]["ok"]), r["limits"]
        p50 = f"{statistics.median(ok):.2f}" if ok else "-"
        p99 = f"{ok[int(0.99 * (len(ok) - 1))]:.2f}" if ok else "-"
        print(
            f"| {r['model']} | {r['onnx_mb']:.1f} | {limits['chunk_rows']} | {limits['max_concurrent']} | "
            f"{limits['max_queue']} | {len(ok)} | {len(r['tally']['shed'])} | {len(r['tally']['errors'])} | "
            f"{len(ok) * args.batch / r['elapsed']:.0f} | {p50} | {p99} | {r['rss_start'] / 1024:.0f} | "
            f"{r['rss_end'] / 1024:.0f} | {max(r['samples']) / 1024:.0f} | {r['hwm'] / 1024:.0f} | {r['tracebacks']} |"
        )
    print(f"\nBody: {results[0]['body_mb']:.1f} MB of JSON per request ({args.batch} images). Target: peak <= 1 GB.")
    for r in results:
        print(f"\n{r['model']}: RSS every 10 s (MiB): {', '.join(f'{v / 1024:.0f}' for v in r['samples'][::20])}")
        errors = Counter(r["tally"]["errors"])
        if errors:
            print("errors: " + "; ".join(f"{count} x {text}" for text, count in errors.most_common(5)))
        verdict = "within" if r["hwm"] / 1024 <= TARGET_MIB else "OVER"
        print(f"peak {r['hwm'] / 1024:.0f} MiB: {verdict} the 1 GB budget ({TARGET_MIB:.0f} MiB)")
