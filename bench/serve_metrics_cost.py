"""What Prometheus metrics cost a /score request, measured inside one process (``bench_serve.py --metrics-cost``).

A bench module beside ``bench_serve.py``, which calls it; it starts no server of its own.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import asl_recog as asl


def metrics_cost(model: Path, body: bytes, rounds: int, *, key: str, requests: int = 400) -> dict[str, list[float]]:
    """Per round, the time per /score request of the service with metrics divided by the time
    without them; and the same ratio for two identical apps with metrics (an A/A control).

    The requests go straight into the ASGI app (every middleware, the key check, JSON
    parsing, the model, the answer), with no socket and no load generator: on this
    virtual machine two identical servers measured side by side with wrk differed by up
    to 10 %, more than the cost being measured. Short rounds in ABBA order, compared
    pairwise, cancel the drifts in machine speed that longer runs pick up.
    """
    import asyncio

    from asl_recog.serving import create_app

    # One loaded model for the three apps: two onnxruntime sessions of the same file can
    # differ by several per cent in speed (memory placement), which would swamp the cost.
    loaded = asl.OnnxModel.load(model)
    apps = {
        "metrics": create_app(loaded, api_key=key),
        "metrics (second app)": create_app(loaded, api_key=key),
        "no metrics": create_app(loaded, api_key=key, metrics=False),
    }
    headers = [
        (b"host", b"bench"),
        (b"content-type", b"application/json"),
        (b"authorization", f"Bearer {key}".encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/score", "raw_path": b"/score", "query_string": b"", "root_path": "", "headers": headers,
        "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000),
    }  # fmt: skip

    async def one(app: Any) -> None:
        messages: list[dict[str, Any]] = [{"type": "http.request", "body": body, "more_body": False}]
        status: list[int] = []

        async def receive() -> dict[str, Any]:
            return messages.pop() if messages else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        await app(dict(scope), receive, send)
        assert status == [200], status

    async def timed(name: str) -> float:
        start = time.perf_counter()
        for _ in range(requests):
            await one(apps[name])
        return (time.perf_counter() - start) / requests

    async def run() -> dict[str, list[float]]:
        for app in apps.values():
            for _ in range(300):  # warm-up
                await one(app)
        out: dict[str, list[float]] = {"cost": [], "control": [], "us": []}
        for _ in range(rounds):
            a1, b1, c1 = await timed("metrics"), await timed("no metrics"), await timed("metrics (second app)")
            c2, b2, a2 = await timed("metrics (second app)"), await timed("no metrics"), await timed("metrics")
            out["cost"].append((a1 + a2) / (b1 + b2))
            out["control"].append((a1 + a2) / (c1 + c2))
            out["us"].append((b1 + b2) / 2 * 1e6)
        return out

    out = asyncio.run(run())
    # What recording costs by itself, timed in a loop: the two calls every /score request makes.
    from asl_recog.serving._metrics import ServiceMetrics, route_of

    recorder, n = ServiceMetrics(), 100_000
    start = time.perf_counter()
    for _ in range(n):
        recorder.observe_request(route_of("/score"), 200, 0.0004)
        recorder.observe_inference(1, 0.0002)
    out["record_us"] = [(time.perf_counter() - start) / n * 1e6]
    return out
