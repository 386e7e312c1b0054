"""``asl-recog register MODEL.onnx --name NAME``: add an ONNX model to the MLflow Model Registry."""

from __future__ import annotations

import argparse

EXAMPLE = (
    "asl-recog register runs/cnn/best.onnx --name asl-letters --alias champion --tracking-uri http://127.0.0.1:5000"
)


def add_register_arguments(p: argparse.ArgumentParser) -> None:
    """The ``register`` command's flags."""
    p.add_argument("model", help="the .onnx model to register (export .keras and .aslskl files first)")
    p.add_argument("--name", required=True, help="the registered model's name; a new version is added when it exists")
    p.add_argument("--alias", default=None, help="an alias to point at the new version, e.g. champion")
    p.add_argument("--tracking-uri", default=None, help="the MLflow tracking server (default $MLFLOW_TRACKING_URI)")
    p.add_argument(
        "--run-id",
        default=None,
        help="a run to log under (a tracked search's parent run): the model goes in a nested 'register' run",
    )
    p.add_argument(
        "--example-data",
        default=None,
        help="training images for the model's input example (default: the bundled training file; never the test file)",
    )
    p.add_argument("--description", default=None, help="the model version's description")


def cmd_register(args: argparse.Namespace) -> int:
    """Register ``args.model`` and print its ``models:/`` URIs and how to serve them."""
    from asl_recog.data._dataset import load_sign_mnist
    from asl_recog.tracking._registry import EXAMPLE_ROWS, register_model

    example = load_sign_mnist("train", args.example_data)[:EXAMPLE_ROWS] if args.example_data else None
    found = register_model(
        args.model,
        args.name,
        tracking_uri=args.tracking_uri,
        run_id=args.run_id,
        alias=args.alias,
        example=example,
        description=args.description,
    )
    print(f"registered {found.uri}" + (f" ({found.alias_uri})" if found.alias_uri else ""))
    print(f"serve it: asl-recog serve {found.alias_uri or found.uri} --tracking-uri {found.tracking_uri}")
    return 0


__all__ = ["EXAMPLE", "add_register_arguments", "cmd_register"]
