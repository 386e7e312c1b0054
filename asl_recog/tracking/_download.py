"""``python -m asl_recog.tracking._download URI FOLDER --tracking-uri URI``: a registered ONNX file, downloaded.

The child process of :func:`~asl_recog.tracking._fetch.fetch_registered`: it imports
MLflow so that the service never does, resolves ``models:/NAME/VERSION`` or
``models:/NAME@ALIAS``, reads the model's ``MLmodel`` file as data (YAML, ``safe_load``), and
copies only its ``onnx`` flavor's graph file to ``FOLDER/NAME-vVERSION.onnx``. Nothing of the
model's code, environment or ``python_function`` loader is used. It prints one JSON line
(``path``, ``name``, ``version``) and exits 0; otherwise one line ``error: KIND: message`` on
stderr and exit status 2 (a fix in the command: URI, name, version, alias, flavor) or 1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from asl_recog._errors import AslRecogError, ConfigurationError, ModelFileError
from asl_recog._imports import LazyModule
from asl_recog.tracking._client import client, mlflow_exception
from asl_recog.tracking._fetch import EXIT_USAGE, parse_models_uri, server_bug_hint

_ARTIFACTS = LazyModule("mlflow.artifacts", package="mlflow", extra="mlflow", purpose="The model registry")
#: The ONNX flavor's graph: one file name, no folders (a registry entry must not name a path out of its own).
_PLAIN_FILE = re.compile(r"[A-Za-z0-9_.-]+\.onnx")
#: MLflow retries an unreachable server for minutes by default; a service's start should fail in seconds.
_QUICK_FAILURE = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
}


def _model_version(mlflow_client: Any, uri: str, tracking_uri: str) -> Any:
    """The registry's entry for ``uri``, or ConfigurationError saying what is missing and how to see what there is."""
    name, version, alias = parse_models_uri(uri)
    try:
        if alias is not None:
            return mlflow_client.get_model_version_by_alias(name, alias)
        return mlflow_client.get_model_version(name, version)
    except mlflow_exception() as exc:
        code = getattr(exc, "error_code", "")
        if code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            hint = server_bug_hint(str(exc))
            raise AslRecogError(f"{uri}: the registry at {tracking_uri} could not be read: {exc}{hint}") from exc
        try:
            mlflow_client.get_registered_model(name)
        except mlflow_exception():
            raise ConfigurationError(
                f"{uri}: there is no registered model {name!r} at {tracking_uri}. Fix: check the name "
                "(the MLflow UI's Models page lists them) or register one with 'asl-recog register MODEL.onnx "
                f"--name {name}'"
            ) from exc
        what = f"alias {alias!r}" if alias is not None else f"version {version}"
        raise ConfigurationError(
            f"{uri}: the registered model {name!r} at {tracking_uri} has no {what}. Fix: pick one of its "
            "versions or aliases (the MLflow UI's Models page lists them)"
        ) from exc


def _onnx_file_name(mlmodel: Path, uri: str, version: str) -> str:
    """The file name of the ``onnx`` flavor's graph, read from ``MLmodel`` as data; ModelFileError without one."""
    import yaml  # MLflow's own dependency: the child has it whenever it has MLflow

    try:
        spec = yaml.safe_load(mlmodel.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ModelFileError(f"{uri} (version {version}): its MLmodel file cannot be read: {exc}") from exc
    flavors = spec.get("flavors") if isinstance(spec, dict) else None
    flavors = flavors if isinstance(flavors, dict) else {}
    onnx = flavors.get("onnx")
    if not isinstance(onnx, dict):
        raise ModelFileError(
            f"{uri} (version {version}) is an MLflow model of flavor(s) {sorted(map(str, flavors)) or 'none'}, "
            "not onnx; the service serves ONNX graphs only (no pickles, no Python loaders). Fix: export the model "
            "with 'asl-recog export' and register the .onnx file with 'asl-recog register'"
        )
    data = onnx.get("data")
    if not isinstance(data, str) or not _PLAIN_FILE.fullmatch(data):
        raise ModelFileError(
            f"{uri} (version {version}): its onnx flavor names {data!r} as its graph, not one .onnx file "
            "beside MLmodel. Fix: register it again with 'asl-recog register MODEL.onnx'"
        )
    return data


def download(uri: str, folder: Path, tracking_uri: str) -> dict[str, str]:
    """Download the ONNX graph of registry entry ``uri`` into ``folder``; returns its path, name and version."""
    mlflow_client = client(tracking_uri)
    found = _model_version(mlflow_client, uri, tracking_uri)
    name, version = str(found.name), str(found.version)
    try:
        location = str(mlflow_client.get_model_version_download_uri(name, version)).rstrip("/")
        with tempfile.TemporaryDirectory(prefix="asl-recog-download-") as scratch:
            mlmodel = _ARTIFACTS.download_artifacts(
                artifact_uri=f"{location}/MLmodel", dst_path=scratch, tracking_uri=tracking_uri
            )
            graph_name = _onnx_file_name(Path(mlmodel), uri, version)
            graph = _ARTIFACTS.download_artifacts(
                artifact_uri=f"{location}/{graph_name}", dst_path=scratch, tracking_uri=tracking_uri
            )
            target = folder / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}-v{version}.onnx"
            shutil.move(graph, target)
    except mlflow_exception() as exc:
        hint = server_bug_hint(str(exc))
        raise AslRecogError(f"{uri} (version {version}): its files could not be downloaded: {exc}{hint}") from exc
    return {"path": str(target), "name": name, "version": version}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the child process; returns its exit status."""
    parser = argparse.ArgumentParser(prog="python -m asl_recog.tracking._download", description=__doc__.splitlines()[0])
    parser.add_argument("uri", help="models:/NAME/VERSION or models:/NAME@ALIAS")
    parser.add_argument("folder", help="an existing folder for the .onnx file")
    parser.add_argument("--tracking-uri", required=True, help="the MLflow tracking server")
    args = parser.parse_args(argv)
    for variable, value in _QUICK_FAILURE.items():
        os.environ.setdefault(variable, value)
    try:
        found = download(args.uri, Path(args.folder), args.tracking_uri)
    except AslRecogError as exc:
        message = " ".join(str(exc).split())  # one line: the parent reads the last "error:" line
        print(f"error: {type(exc).__name__}: {message}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, (ConfigurationError, ModelFileError)) else 1
    print(json.dumps(found))
    return 0


if __name__ == "__main__":
    sys.exit(main())
