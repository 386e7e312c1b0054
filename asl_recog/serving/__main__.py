"""``python -m asl_recog.serving MODEL``: run the scoring service with one uvicorn worker.

The main ``asl-recog serve`` command reuses :func:`add_arguments` and
:func:`run_from_args`, so both spell their options the same way.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from asl_recog._errors import AslRecogError
from asl_recog.serving import run
from asl_recog.serving._admission import DEFAULT_CHUNK_MB
from asl_recog.tracking._fetch import is_models_uri, registry_tracking_uri

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the service's options to ``parser`` (its own, or a sub-command's)."""
    parser.add_argument(
        "model",
        help="the model to serve: an .onnx file (from asl_recog.export_onnx or Azure AutoML), or a registered "
        "ONNX model, models:/NAME/VERSION or models:/NAME@ALIAS (downloaded from --tracking-uri); "
        "export .aslskl and .keras files first with 'asl-recog export'",
    )
    parser.add_argument(
        "--tracking-uri",
        default=None,
        help="the MLflow tracking server of a models:/ URI (default $MLFLOW_TRACKING_URI)",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1; 0.0.0.0 exposes the service)"
    )
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    parser.add_argument(
        "--key-file",
        default=None,
        help="file holding the API key (one per line; a second line allows rotation). Without it "
        "$ASL_RECOG_API_KEY is used, else a key is generated and printed once",
    )
    parser.add_argument(
        "--no-auth", action="store_true", help="switch key authentication off (anyone who can reach the port can score)"
    )
    parser.add_argument(
        "--max-batch", type=int, default=1024, help="most images per request; more gives 413 (default 1024)"
    )
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        default=16 * 1024 * 1024,
        help="largest request body; more gives 413 (default 16 MiB)",
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to read and score one request; more gives 504 (default 30)"
    )
    parser.add_argument(
        "--header-timeout",
        type=float,
        default=10.0,
        help="seconds a client has to send the request line and headers; more gives 408 (default 10)",
    )
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads per request (default 1)")
    parser.add_argument(
        "--max-concurrent",
        type=int,
        default=None,
        help="large requests (bodies over 256 KiB) read and scored at once (default: sized from the model "
        "and the CPU cores; /info shows it)",
    )
    parser.add_argument(
        "--max-queue",
        type=int,
        default=None,
        help="large requests waiting for a slot; beyond them 503 with Retry-After (default twice --max-concurrent)",
    )
    parser.add_argument(
        "--chunk-mb",
        type=float,
        default=DEFAULT_CHUNK_MB,
        help=f"MiB of the model's tensors per call: large batches are scored in chunks that fit it "
        f"(default {DEFAULT_CHUNK_MB:g})",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="the server log's level (default info)",
    )
    parser.add_argument(
        "--access-log",
        action="store_true",
        help="write one JSON line per request, with its X-Request-ID, to stdout (costs throughput)",
    )
    parser.add_argument(
        "--no-metrics",
        action="store_true",
        help="serve no Prometheus /metrics and record none (for deployments that observe elsewhere)",
    )
    return parser


def run_from_args(args: argparse.Namespace) -> int:
    """Start the service from parsed arguments; returns an exit status."""
    if args.no_auth and args.key_file:
        print("error: --no-auth and --key-file contradict each other; pass one", file=sys.stderr)
        return 2
    if args.no_auth and args.host not in _LOOPBACK:
        print(
            f"warning: authentication is off and the service listens on {args.host}; anyone who can reach it can score",
            file=sys.stderr,
        )
    try:
        run(
            args.model,
            tracking_uri=_tracking_uri(args.model, args.tracking_uri),
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            access_log=args.access_log,
            metrics=not args.no_metrics,
            key_file=args.key_file,
            auth=not args.no_auth,
            max_batch=args.max_batch,
            max_body_bytes=args.max_body_bytes,
            timeout_s=args.timeout,
            threads=args.threads,
            header_timeout_s=args.header_timeout,
            max_concurrent=args.max_concurrent,
            max_queue=args.max_queue,
            chunk_mb=args.chunk_mb,
        )
    except AslRecogError as exc:  # a bad model file, key file or setting: say so, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _tracking_uri(model: str, tracking_uri: str | None) -> str | None:
    """The tracking URI of a ``models:/`` URI, checked here so that its error names the flag.

    The download itself runs in ``create_app``, after the port is checked, as for any caller of ``run``.
    """
    if not is_models_uri(model):
        return tracking_uri
    return registry_tracking_uri(model, tracking_uri, "--tracking-uri")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m asl_recog.serving``."""
    parser = argparse.ArgumentParser(prog="python -m asl_recog.serving", description=__doc__.splitlines()[0])
    return run_from_args(add_arguments(parser).parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
