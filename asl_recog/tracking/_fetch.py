"""A registered model's ONNX file, fetched for the service without loading MLflow into it.

``asl-recog serve models:/NAME/VERSION`` (or ``models:/NAME@ALIAS``) serves a model from the
MLflow Model Registry. MLflow takes several hundred MiB once imported, and the service must fit a
1 GiB container, so the download runs in a short child process (``python -m
asl_recog.tracking._download``) that exits before the service starts: nothing here imports MLflow.
The child copies only the ONNX flavor's graph file; the service then loads it as any ``.onnx``
file (checksum, start-up prediction), so a registry entry is held to the same rules as a file.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from asl_recog._errors import AslRecogError, ConfigurationError, ModelFileError
from asl_recog.tracking._client import check_tracking_uri

#: ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS``; MLflow's own forms, less its deprecated stages.
_MODELS_URI = re.compile(r"models:/(?P<name>[^/@]+)(?:/(?P<version>[1-9][0-9]*)|@(?P<alias>[A-Za-z0-9_-]+))")
#: How long the download may take: a KNN graph that holds its training images can be hundreds of MiB.
DOWNLOAD_TIMEOUT_S = 600.0
#: Exit status of the child for an error the user fixes (a wrong URI, name, version or alias).
EXIT_USAGE = 2


def server_bug_hint(message: str) -> str:
    """The fix for a known MLflow server bug that ``message`` (a server's error) shows, else "".

    MLflow 3.15's server binds a model version as VARCHAR on a ``postgresql+psycopg`` (psycopg 3)
    store, which PostgreSQL refuses to compare with its INTEGER column (mlflow/mlflow#24515, fixed
    upstream by mlflow/mlflow#24565): every lookup of a version or alias fails. The psycopg2 driver
    sends no type, so the same server works with it.

    Example:
        >>> server_bug_hint("BAD_REQUEST: operator does not exist: integer = character varying")[:40]
        ' Fix: the MLflow server hits MLflow bug '
        >>> server_bug_hint("RESOURCE_DOES_NOT_EXIST")
        ''
    """
    if "operator does not exist: integer = character varying" not in message:
        return ""
    return (
        " Fix: the MLflow server hits MLflow bug mlflow/mlflow#24515 (a PostgreSQL store through psycopg 3, "
        "MLflow <= 3.15): start it with --backend-store-uri postgresql+psycopg2://... (pip install "
        "psycopg2-binary), or use an MLflow release with mlflow/mlflow#24565"
    )


def is_models_uri(value: object) -> bool:
    """Whether ``value`` names a registry entry (``models:/...``) rather than a file.

    Example:
        >>> is_models_uri("models:/asl-letters/3"), is_models_uri("runs/best.onnx")
        (True, False)
    """
    return isinstance(value, str) and value.startswith("models:")


def parse_models_uri(uri: str) -> tuple[str, str | None, str | None]:
    """``(name, version, alias)`` of a ``models:/`` URI (one of version and alias is None).

    Raises:
        ConfigurationError: ``uri`` is neither ``models:/NAME/VERSION`` nor ``models:/NAME@ALIAS``.

    Example:
        >>> parse_models_uri("models:/asl-letters/3"), parse_models_uri("models:/asl-letters@champion")
        (('asl-letters', '3', None), ('asl-letters', None, 'champion'))
        >>> parse_models_uri("models:/asl-letters/latest")
        Traceback (most recent call last):
        asl_recog._errors.ConfigurationError: 'models:/asl-letters/latest' is not a registered model's URI: ...
    """
    match = _MODELS_URI.fullmatch(uri) if isinstance(uri, str) else None
    if match is None:
        raise ConfigurationError(
            f"{uri!r} is not a registered model's URI: write models:/NAME/VERSION (a version number, "
            "e.g. models:/asl-letters/3) or models:/NAME@ALIAS (e.g. models:/asl-letters@champion)"
        )
    return match["name"], match["version"], match["alias"]


def resolve_tracking_uri(value: str | None, flag: str = "--tracking-uri") -> str:
    """The tracking URI to use: ``value`` when given, else ``$MLFLOW_TRACKING_URI``.

    Raises:
        ConfigurationError: neither is set (naming both), or the URI is malformed.

    Example:
        >>> resolve_tracking_uri("http://127.0.0.1:5000")
        'http://127.0.0.1:5000'
    """
    chosen = value if value is not None else os.environ.get("MLFLOW_TRACKING_URI") or None
    if chosen is None:
        raise ConfigurationError(
            f"no MLflow tracking server given: pass {flag} URI (e.g. http://127.0.0.1:5000) or set $MLFLOW_TRACKING_URI"
        )
    check_tracking_uri(flag if value is not None else "$MLFLOW_TRACKING_URI", chosen)
    return chosen


def fetch_registered_onnx(
    uri: str, folder: str | os.PathLike[str], *, tracking_uri: str | None = None, timeout_s: float = DOWNLOAD_TIMEOUT_S
) -> Path:
    """Download the ONNX file of the registered model ``uri`` into ``folder``, in a child process.

    This process never imports MLflow: the child does, and exits. The file is checked only
    as far as the registry goes (an ``onnx`` flavor, one ``.onnx`` file); load it with
    :class:`~asl_recog.OnnxModel` (as the service does) to check the graph itself.

    Args:
        uri: ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS``.
        folder: an existing folder for the file (named ``NAME-vVERSION.onnx``).
        tracking_uri: the tracking server; None reads ``$MLFLOW_TRACKING_URI``.
        timeout_s: how long the download may take.

    Returns:
        The path of the downloaded ``.onnx`` file.

    Raises:
        ConfigurationError: a malformed URI, no tracking URI, or no such model, version or alias.
        ModelFileError: the registered model has no ONNX flavor (the service serves ONNX only).
        AslRecogError: the server could not be reached, or the download failed or took too long.

    Example:
        >>> fetch_registered_onnx("models:/asl-letters@champion", "models", tracking_uri="http://127.0.0.1:5000")
        ...  # doctest: +SKIP
        PosixPath('models/asl-letters-v3.onnx')
    """
    parse_models_uri(uri)  # a malformed URI fails here, before a process starts
    tracking = resolve_tracking_uri(tracking_uri)
    folder = Path(folder)
    command = [sys.executable, "-m", "asl_recog.tracking._download", uri, str(folder), "--tracking-uri", tracking]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise AslRecogError(
            f"{uri}: the download from {tracking} took more than {timeout_s:g} s; check the server, then try again"
        ) from exc
    if done.returncode != 0:
        raise _child_error(uri, tracking, done.returncode, done.stderr)
    try:
        path = Path(json.loads(done.stdout.strip().splitlines()[-1])["path"])
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise AslRecogError(f"{uri}: the download process gave no file ({done.stdout[-300:]!r})") from exc
    # The child names the file; it must be an .onnx file directly in the folder asked for.
    if path.parent.resolve() != folder.resolve() or path.suffix != ".onnx" or not path.is_file():
        raise AslRecogError(f"{uri}: the download process wrote {path}, not an .onnx file in {folder}")
    return path


def _child_error(uri: str, tracking: str, status: int, stderr: str) -> AslRecogError:
    """The child's own one-line ``error:`` message as an error of the right kind (else its output's end)."""
    lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    if lines:
        kind, _, message = lines[-1][len("error: ") :].partition(": ")
        error: type[AslRecogError] = {"ModelFileError": ModelFileError, "ConfigurationError": ConfigurationError}.get(
            kind, AslRecogError
        )
        return error(message)
    tail = "\n".join(stderr.strip().splitlines()[-5:])
    return AslRecogError(f"{uri}: the download from {tracking} failed (exit status {status}):\n{tail}")


__all__ = ["fetch_registered_onnx", "is_models_uri", "parse_models_uri", "resolve_tracking_uri", "server_bug_hint"]
