"""Serving throughput and latency: `asl-recog serve` vs `mlflow models serve`, same ONNX model, side by side.

Both servers run one uvicorn worker on 127.0.0.1; the load comes from wrk (C,
epoll, one thread; a Lua script adds the POST body and the bearer key), so the
generator is not the bottleneck. Each request holds one real test image. The
phases alternate between the two servers so a change in machine load hits both.

The model is PCA(40) + logistic regression fitted on 2,400 real training images
and exported with asl_recog.export_onnx (or --model PATH). MLflow gets the same
.onnx file through mlflow.onnx.save_model, in its own virtual environment
bench/.venv-mlflow (created on first run: pip install mlflow onnx onnxruntime).

Besides wall-clock req/s and latency it reports the CPU time the server process
tree used (Linux /proc): requests per server CPU-second is the throughput one
dedicated core would give, which stays meaningful on a machine shared with
other work, where wall-clock figures depend on what else runs.

``--metrics-cost N`` adds N rounds comparing the service with and without Prometheus
metrics (``--no-metrics``), in this process, with an A/A control: what recording
metrics costs in throughput.

Usage: python bench/bench_serve.py [--duration 5] [--concurrency 1 16] [--no-mlflow] [--model PATH]
       [--metrics-cost 5]
Needs wrk (Debian: apt-get install -y wrk). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from serve_metrics_cost import metrics_cost  # a bench module beside this one

import asl_recog as asl
from asl_recog.data._labels import labels_to_indices
from asl_recog.deploy._local import free_port

HERE = Path(__file__).resolve().parent
MLFLOW_VENV = HERE / ".venv-mlflow"
KEY = "bench-key"
WRK_SCRIPT = """
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb")); local body = f:read("*a"); f:close()
wrk.method = "POST"; wrk.body = body
wrk.headers["Content-Type"] = "application/json"
local key = os.getenv("BENCH_KEY"); if key ~= "" then wrk.headers["Authorization"] = "Bearer " .. key end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCH {"requests": %d, "seconds": %f, "p50": %d, "p95": %d, "p99": %d, '
    .. '"errors": %d}\\n', summary.requests, summary.duration / 1e6, latency:percentile(50),
    latency:percentile(95), latency:percentile(99), e.connect + e.read + e.write + e.status + e.timeout))
end
"""
MLFLOW_SAVE = """
import sys, numpy as np, onnx, mlflow.onnx
from mlflow.models import infer_signature
x = np.zeros((1, 784), dtype=np.float32)
mlflow.onnx.save_model(onnx.load(sys.argv[1]), sys.argv[2], signature=infer_signature(x, None))
"""


def train_model(folder: Path) -> Path:
    """PCA(40) + logistic regression on 100 real training images per letter, exported to ONNX."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from asl_recog.models._export import export_onnx

    train = asl.load_sign_mnist("train")
    rng = np.random.default_rng(0)
    picks = np.sort(
        np.concatenate([rng.choice(np.flatnonzero(train.labels == label), 100, replace=False) for label in asl.LABELS])
    )
    part = train[picks]
    estimator = make_pipeline(PCA(40, random_state=0), StandardScaler(), LogisticRegression(max_iter=500))
    estimator.fit(part.flat, labels_to_indices(part.labels))
    path = folder / "model.onnx"
    export_onnx(asl.SklearnModel(estimator), path)
    return path


def ensure_mlflow_venv() -> Path:
    """bench/.venv-mlflow with full MLflow (benchmark only; never a project dependency)."""
    python = MLFLOW_VENV / "bin" / "python"
    if not (MLFLOW_VENV / "bin" / "mlflow").is_file():
        print(f"creating {MLFLOW_VENV} (pip install mlflow onnx onnxruntime; a few minutes, once)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(MLFLOW_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "mlflow", "onnx", "onnxruntime"], check=True)
    return python


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited ({process.returncode}) before {url} answered")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout_s:g} s")


def start_ours(model: Path, folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    (folder / "key").write_text(KEY)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "asl_recog.serving",
            str(model),
            "--port",
            str(port),
            "--key-file",
            str(folder / "key"),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(folder / "ours.log", "wb"),  # noqa: SIM115 - open for the life of the server process
    )
    wait_ready(f"http://127.0.0.1:{port}/ready", process)
    return process, f"http://127.0.0.1:{port}/score"


def start_mlflow(model: Path, folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    python = ensure_mlflow_venv()
    saved = folder / "mlflow_model"
    subprocess.run([str(python), "-c", MLFLOW_SAVE, str(model), str(saved)], check=True, capture_output=True)
    port = free_port()
    env = {**os.environ, "PATH": f"{python.parent}{os.pathsep}{os.environ['PATH']}"}
    process = subprocess.Popen(
        [
            str(python.parent / "mlflow"),
            "models",
            "serve",
            "-m",
            str(saved),
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(folder / "mlflow.log", "wb"),  # noqa: SIM115 - open for the life of the server process
        env=env,
    )
    wait_ready(f"http://127.0.0.1:{port}/ping", process)
    return process, f"http://127.0.0.1:{port}/invocations"


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its descendants (Linux /proc), so a contended
    machine can still tell how much work each request costs the server."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, stack = 0.0, [pid]
    while stack:
        current = stack.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
            for task in Path(f"/proc/{current}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def run_wrk(
    url: str, body: bytes, key: str, concurrency: int, duration: float, folder: Path, server_pid: int
) -> dict[str, Any]:
    (folder / "body.json").write_bytes(body)
    (folder / "post.lua").write_text(WRK_SCRIPT)
    env = {**os.environ, "BENCH_BODY": str(folder / "body.json"), "BENCH_KEY": key}
    cpu_before = tree_cpu_seconds(server_pid)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{duration:g}s", "--timeout", "5s", "-s", str(folder / "post.lua"), url],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    cpu = tree_cpu_seconds(server_pid) - cpu_before
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("BENCH "))
    stats = json.loads(line[6:])
    stats["rps"] = stats["requests"] / stats["seconds"]
    stats["per_cpu_s"] = stats["requests"] / cpu if cpu > 0 else float("nan")
    stats["cpu_share"] = cpu / stats["seconds"]
    return stats


def server_stack() -> str:
    import importlib.util

    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    parser = "orjson" if importlib.util.find_spec("orjson") else "json (stdlib)"
    return f"uvicorn {http}/{loop}, JSON parser {parser}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement (default 5)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--no-mlflow", action="store_true", help="measure asl-recog serve only")
    parser.add_argument("--model", type=Path, help="an .onnx model to serve (default: train the small one)")
    parser.add_argument(
        "--metrics-cost", type=int, default=0, metavar="N", help="N alternating rounds with and without /metrics"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed as the load generator: apt-get install -y wrk")
    test = asl.load_sign_mnist("test")
    image = test.images[1]
    pixels = image.reshape(-1).tolist()
    bodies = {  # one image per request
        "seed records {data: [{pixel1..pixel784}]}": json.dumps(
            {"data": [dict(zip(test.to_frame().columns[1:], pixels, strict=False))]}
        ).encode(),
        "lists {inputs: [[784 ints]]}": json.dumps({"inputs": [pixels]}).encode(),
    }
    mlflow_body = json.dumps({"inputs": [[round(v / 255.0, 4) for v in pixels]]}).encode()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench_serve_") as tmp:
        folder = Path(tmp)
        model = args.model or train_model(folder)
        expected = int(asl.OnnxModel.load(model).predict(image[None])[0])
        processes = []
        try:
            ours, ours_url = start_ours(model, folder)
            processes.append(ours)
            answer = httpx.post(
                ours_url, content=bodies["lists {inputs: [[784 ints]]}"], headers={"Authorization": f"Bearer {KEY}"}
            ).json()
            assert answer["result"] == [expected], answer
            mlflow_url = None
            if not args.no_mlflow:
                mlflow, mlflow_url = start_mlflow(model, folder)
                processes.append(mlflow)
                predictions = httpx.post(
                    mlflow_url, content=mlflow_body, headers={"Content-Type": "application/json"}
                ).json()["predictions"]
                proba = np.asarray(predictions["probabilities"] if isinstance(predictions, dict) else predictions)
                assert asl.LABELS[int(proba.argmax())] == expected, predictions
            rows = []
            for concurrency in args.concurrency:
                for name, body in bodies.items():
                    rows.append(
                        (
                            "asl-recog serve",
                            name,
                            len(body),
                            concurrency,
                            run_wrk(ours_url, body, KEY, concurrency, args.duration, folder, ours.pid),
                        )
                    )
                if mlflow_url:
                    rows.append(
                        (
                            "mlflow models serve",
                            "{inputs: [[784 floats 0..1]]}",
                            len(mlflow_body),
                            concurrency,
                            run_wrk(mlflow_url, mlflow_body, "", concurrency, args.duration, folder, mlflow.pid),
                        )
                    )
        finally:
            for process in processes:
                process.terminate()
                process.wait(10)
        cost = (
            metrics_cost(model, bodies["lists {inputs: [[784 ints]]}"], args.metrics_cost, key=KEY)
            if args.metrics_cost
            else {}
        )
    print(
        f"\nCPU: {os.cpu_count()} cores ({platform.processor() or platform.machine()}), load average before "
        f"{load_before[0]:.1f} (shared machine), after {os.getloadavg()[0]:.1f}; {server_stack()}; "
        f"load generator: wrk, 1 thread, {args.duration:g} s per row\n"
    )
    print(
        "| server | request body | bytes | concurrency | req/s | p50 ms | p95 ms | p99 ms | errors "
        "| server CPU used | req per server CPU-second |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for server, name, size, concurrency, s in rows:
        print(
            f"| {server} | {name} | {size:,} | {concurrency} | {s['rps']:,.0f} | {s['p50'] / 1000:.2f} | "
            f"{s['p95'] / 1000:.2f} | {s['p99'] / 1000:.2f} | {s['errors']} | {s['cpu_share']:.0%} | "
            f"{s['per_cpu_s']:,.0f} |"
        )
    for concurrency in args.concurrency:
        ours = [s for _, name, _, c, s in rows if c == concurrency and name.startswith("lists")]
        theirs = [s for server, _, _, c, s in rows if c == concurrency and server.startswith("mlflow")]
        if ours and theirs:
            print(
                f"\nConcurrency {concurrency}, asl-recog (lists) / MLflow: throughput "
                f"{ours[0]['rps'] / theirs[0]['rps']:.1f}x, requests per server CPU-second "
                f"{ours[0]['per_cpu_s'] / theirs[0]['per_cpu_s']:.1f}x"
            )
    if cost:
        q = {k: np.percentile(v, [25, 50, 75]) for k, v in cost.items()}
        print(
            f"\nCost of Prometheus metrics: time per /score request (one image, lists body, sent straight "
            f"into the ASGI app) with metrics / without (`--no-metrics`), and the same ratio for two "
            f"identical apps with metrics as a control; {args.metrics_cost} rounds of 6 x 400 requests "
            "in ABBA order\n"
        )
        print("| comparison | median ratio | quartiles |")
        print("|---|---:|---|")
        print(f"| metrics / no metrics | {q['cost'][1]:.3f} | {q['cost'][0]:.3f}-{q['cost'][2]:.3f} |")
        print(f"| control: metrics / metrics | {q['control'][1]:.3f} | {q['control'][0]:.3f}-{q['control'][2]:.3f} |")
        record, request = cost["record_us"][0], q["us"][1]
        print(
            f"\nA request without metrics took {request:.0f} microseconds (median). Recording one request's "
            f"metrics (observe_request + observe_inference, timed alone in a loop of 100,000) took "
            f"{record:.1f} microseconds: {record / request:.1%} of a request."
        )


if __name__ == "__main__":
    main()
