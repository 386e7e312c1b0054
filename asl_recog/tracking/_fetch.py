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
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def resolve_tracking_uri(value: str | None, flag: str = "--tracking-uri", subject: str = "") -> str:
    """The tracking URI to use: ``value`` when given, else ``$MLFLOW_TRACKING_URI``.

    Args:
        value: the URI given, or None.
        flag: how the user gives it, for the error.
        subject: what needs it (e.g. the ``models:/`` URI to download), to begin the error with.

    Raises:
        ConfigurationError: neither is set (naming both), or the URI is malformed.

    Example:
        >>> resolve_tracking_uri("http://127.0.0.1:5000")
        'http://127.0.0.1:5000'
    """
    chosen = value if value is not None else os.environ.get("MLFLOW_TRACKING_URI") or None
    if chosen is None:
        raise ConfigurationError(
            f"{subject + ': ' if subject else ''}no MLflow tracking server given: pass {flag} URI "
            "(e.g. http://127.0.0.1:5000) or set $MLFLOW_TRACKING_URI"
        )
    check_tracking_uri(flag if value is not None else "$MLFLOW_TRACKING_URI", chosen)
    return chosen


def registry_tracking_uri(uri: str, tracking_uri: str | None, flag: str) -> str:
    """The tracking server to fetch the registered model ``uri`` from, after checking ``uri`` itself.

    Checked before anything starts (a download, a service process), so that a malformed URI is the
    first error and a missing server is named by ``flag``, the way the caller's user gives it.

    Raises:
        ConfigurationError: a malformed URI, or no tracking URI (neither ``tracking_uri`` nor
            ``$MLFLOW_TRACKING_URI``).

    Example:
        >>> registry_tracking_uri("models:/asl-letters@champion", "http://127.0.0.1:5000", "--tracking-uri")
        'http://127.0.0.1:5000'
    """
    parse_models_uri(uri)
    return resolve_tracking_uri(tracking_uri, flag, uri)


def _without_credentials(uri: str) -> str:
    """``uri`` without a user name or password in its address, to show where a model came from.

    Example:
        >>> _without_credentials("https://me:s3cret@mlflow.example.com/"), _without_credentials("databricks")
        ('https://mlflow.example.com/', 'databricks')
    """
    parts = urllib.parse.urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


@dataclass(frozen=True)
class RegisteredOnnx:
    """A registered model's ONNX file, downloaded: the file, and the registry entry it is.

    An alias is resolved once, when the file is downloaded: ``version`` is the version the
    alias pointed to then, and a later move of the alias does not change this file.

    Attributes:
        uri: the URI asked for, ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS``.
        name: the registered model's name.
        version: its version (for an alias, the one it pointed to at the download).
        alias: the alias asked for, or None.
        path: the downloaded ``.onnx`` file (``NAME-vVERSION.onnx``).
        tracking_uri: the server it came from.

    Example:
        >>> found = RegisteredOnnx("models:/asl-letters@champion", "asl-letters", "3", "champion",
        ...                        Path("asl-letters-v3.onnx"), "https://me:pw@mlflow.example.com")
        >>> found.describe()
        'models:/asl-letters@champion is version 3 of registered model asl-letters (https://mlflow.example.com)'
        >>> found.as_info()["version_uri"]
        'models:/asl-letters/3'
    """

    uri: str
    name: str
    version: str
    alias: str | None
    path: Path
    tracking_uri: str

    def describe(self) -> str:
        """One line saying which version the URI is, and where it came from."""
        server = _without_credentials(self.tracking_uri)
        return f"{self.uri} is version {self.version} of registered model {self.name} ({server})"

    def as_info(self) -> dict[str, Any]:
        """The entry as JSON data (the service's ``/info`` ``registry`` object); no credentials."""
        return {
            "uri": self.uri,
            "name": self.name,
            "version": self.version,
            "alias": self.alias,
            "version_uri": f"models:/{self.name}/{self.version}",
            "file": self.path.name,
            "tracking_uri": _without_credentials(self.tracking_uri),
        }


def fetch_registered(
    uri: str,
    folder: str | os.PathLike[str],
    *,
    tracking_uri: str | None = None,
    flag: str = "tracking_uri=",
    timeout_s: float = DOWNLOAD_TIMEOUT_S,
) -> RegisteredOnnx:
    """Download the ONNX file of the registered model ``uri`` into ``folder``, in a child process.

    The one way asl_recog resolves a ``models:/`` URI: ``asl-recog serve``, :func:`asl_recog.serving.create_app`
    and :func:`~asl_recog.serving.run`, and the deployers all come here. This process never imports
    MLflow: the child does, and exits. The file is checked only as far as the registry goes (an
    ``onnx`` flavor, one ``.onnx`` file); load it with :class:`~asl_recog.OnnxModel` (as the service
    does) to check the graph itself.

    Args:
        uri: ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS``.
        folder: an existing folder for the file (named ``NAME-vVERSION.onnx``).
        tracking_uri: the tracking server; None reads ``$MLFLOW_TRACKING_URI``.
        flag: how the caller's user passes ``tracking_uri`` (``--tracking-uri`` on the command line),
            for the error when there is none.
        timeout_s: how long the download may take.

    Returns:
        The downloaded file and the registry entry it is (for an alias, the version it resolved to).

    Raises:
        ConfigurationError: a malformed URI, no tracking URI, or no such model, version or alias.
        ModelFileError: the registered model has no ONNX flavor (the service serves ONNX only).
        AslRecogError: the server could not be reached, or the download failed or took too long.

    Example:
        >>> found = fetch_registered("models:/asl-letters@champion", "models", tracking_uri="http://127.0.0.1:5000")
        ...  # doctest: +SKIP
        >>> found.path, found.version  # doctest: +SKIP
        (PosixPath('models/asl-letters-v3.onnx'), '3')
    """
    tracking = registry_tracking_uri(uri, tracking_uri, flag)  # before a process starts
    _, _, alias = parse_models_uri(uri)
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
        found = json.loads(done.stdout.strip().splitlines()[-1])
        path, name, version = Path(found["path"]), str(found["name"]), str(found["version"])
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise AslRecogError(f"{uri}: the download process gave no file ({done.stdout[-300:]!r})") from exc
    # The child names the file; it must be an .onnx file directly in the folder asked for.
    if path.parent.resolve() != folder.resolve() or path.suffix != ".onnx" or not path.is_file():
        raise AslRecogError(f"{uri}: the download process wrote {path}, not an .onnx file in {folder}")
    return RegisteredOnnx(uri, name, version, alias, path, tracking)


def fetch_registered_onnx(
    uri: str, folder: str | os.PathLike[str], *, tracking_uri: str | None = None, timeout_s: float = DOWNLOAD_TIMEOUT_S
) -> Path:
    """The path of the file :func:`fetch_registered` downloads (same arguments and errors).

    Example:
        >>> fetch_registered_onnx("models:/asl-letters/3", "models", tracking_uri="http://127.0.0.1:5000")
        ...  # doctest: +SKIP
        PosixPath('models/asl-letters-v3.onnx')
    """
    return fetch_registered(uri, folder, tracking_uri=tracking_uri, timeout_s=timeout_s).path


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


__all__ = [
    "RegisteredOnnx",
    "fetch_registered",
    "fetch_registered_onnx",
    "is_models_uri",
    "parse_models_uri",
    "registry_tracking_uri",
    "resolve_tracking_uri",
    "server_bug_hint",
]
