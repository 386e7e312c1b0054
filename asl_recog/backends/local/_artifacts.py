"""Files that travel between hosts of a distributed search, through ``optuna.artifacts``.

Workers on other hosts share only the study's database and an artifact store:
Optuna's ``FileSystemArtifactStore`` on a shared folder, or its
``Boto3ArtifactStore`` for S3-compatible storage (``s3://bucket``). Two kinds of
file travel:

* the search's data, once: the four arrays in one ``.npz`` (loaded with
  ``allow_pickle=False``), named in the study by the SHA-256 of its arrays, which a
  worker checks after the download (content-addressed: a wrong or corrupted file is
  refused, not trained on);
* each completed trial's model file, in the package's own formats (``.keras`` and
  ``.aslskl``, which load without unpickling), so that the process that called
  ``fit`` can load the winner whichever host trained it.

Optuna records each artifact's metadata in the study, so ``optuna-dashboard``
lists them too.
"""

from __future__ import annotations

import re
import tempfile
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import optuna.artifacts

from asl_recog._errors import ConfigurationError
from asl_recog.data._digest import arrays_sha256

#: A SHA-256 as the recipe names the data: it becomes part of a file name here.
_SHA256 = re.compile(r"[0-9a-f]{64}")
#: The arrays of a search's data, in this order: train images, train labels, validation images and labels.
ARRAY_NAMES = ("x", "y", "vx", "vy")


def artifact_store(location: str | Path) -> Any:
    """The artifact store at ``location``: ``s3://bucket`` (boto3's credentials) or a folder all hosts mount.

    Example:
        >>> store = artifact_store("shared/artifacts")  # a folder every host mounts
        >>> type(store).__name__
        'FileSystemArtifactStore'
    """
    text = str(location)
    if text.startswith("s3://"):
        bucket = text[len("s3://") :].strip("/")
        if not bucket or "/" in bucket:
            raise ConfigurationError(f"artifacts={text!r}: write an S3 location as s3://<bucket> (no key prefix)")
        try:
            import boto3  # noqa: F401  (Optuna's Boto3ArtifactStore needs it)
        except ImportError as exc:
            raise ConfigurationError(
                f"artifacts={text!r}: an S3 artifact store needs boto3; pip install boto3"
            ) from exc
        return optuna.artifacts.Boto3ArtifactStore(bucket)
    if "://" in text:
        raise ConfigurationError(f"artifacts={text!r}: give a folder that every host mounts, or s3://<bucket>")
    folder = Path(text)
    folder.mkdir(parents=True, exist_ok=True)
    return optuna.artifacts.FileSystemArtifactStore(folder)


def arrays_digest(arrays: tuple[np.ndarray, ...]) -> str:
    """SHA-256 of arrays' dtypes, shapes and bytes: the data's name in the store (:func:`arrays_sha256`).

    Example:
        >>> arrays_digest((np.zeros(2, np.uint8),)) == arrays_digest((np.zeros(2, np.uint8),))
        True
    """
    return arrays_sha256(*arrays)


def check_artifact_id(artifact_id: Any, where: str) -> str:
    """``artifact_id`` if it is an id Optuna gives (a UUID); anything else is refused.

    Ids come from the shared study, and the file-system store joins them to its folder, so a
    forged ``../../etc/passwd`` or ``etc/hostname`` would copy a file of the worker's host.

    Example:
        >>> check_artifact_id("etc/hostname", "trial 3: model_artifact")
        Traceback (most recent call last):
        ...
        asl_recog._errors.ConfigurationError: trial 3: model_artifact: 'etc/hostname' is not an artifact id ...
    """
    try:
        valid = isinstance(artifact_id, str) and str(uuid.UUID(artifact_id)) == artifact_id
    except ValueError:
        valid = False
    if not valid:
        raise ConfigurationError(
            f"{where}: {str(artifact_id)[:80]!r} is not an artifact id (a UUID, as optuna.artifacts writes); "
            "the study was written by something other than asl-recog: refusing to read files by it"
        )
    return str(artifact_id)


def upload_data(study: optuna.Study, store: Any, arrays: tuple[np.ndarray, ...]) -> dict[str, str]:
    """Upload the search's arrays once; returns ``{"artifact_id", "sha256"}`` for the recipe."""
    if len(arrays) != len(ARRAY_NAMES):
        raise ValueError(f"upload_data takes the {len(ARRAY_NAMES)} arrays {ARRAY_NAMES}, got {len(arrays)}")
    sha = arrays_digest(arrays)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"data-{sha[:16]}.npz"
        np.savez(path, x=arrays[0], y=arrays[1], vx=arrays[2], vy=arrays[3])  # the names of ARRAY_NAMES
        artifact_id = optuna.artifacts.upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=study)
    return {"artifact_id": artifact_id, "sha256": sha}


def download_data(store: Any, ref: dict[str, str], folder: Path) -> tuple[np.ndarray, ...]:
    """The search's arrays named by ``ref`` (from :func:`upload_data`), checked against their SHA-256.

    Raises:
        ConfigurationError: the downloaded arrays are not the ones the search uploaded.
    """
    artifact_id = check_artifact_id(ref.get("artifact_id"), "the recipe's data.artifact_id")
    if not (isinstance(ref.get("sha256"), str) and _SHA256.fullmatch(ref["sha256"])):
        raise ConfigurationError(f"the recipe's data.sha256 {str(ref.get('sha256'))[:80]!r} is not a SHA-256")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"data-{ref['sha256'][:16]}.npz"
    if not path.is_file():
        optuna.artifacts.download_artifact(artifact_store=store, file_path=str(path), artifact_id=artifact_id)
    with np.load(path, allow_pickle=False) as archive:
        arrays = tuple(archive[name] for name in ARRAY_NAMES)
    if arrays_digest(arrays) != ref["sha256"]:
        path.unlink()
        raise ConfigurationError(
            f"the search's data (artifact {ref['artifact_id']}) does not match its checksum {ref['sha256'][:16]}...: "
            "the artifact store holds another file under that id; point --artifacts at the store the search uses"
        )
    return arrays


def upload_model(trial: optuna.trial.Trial, store: Any, path: str) -> str:
    """Upload a trial's saved model; returns its artifact id (recorded as the trial's ``model_artifact``)."""
    return optuna.artifacts.upload_artifact(artifact_store=store, file_path=path, study_or_trial=trial)


def fetch_model(store: Any, artifact_id: str, name: str, folder: Path) -> Path:
    """Download a trial's model file into ``folder`` under its own file name ``name`` (once)."""
    artifact_id = check_artifact_id(artifact_id, f"model {Path(name).name!r}: model_artifact")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / Path(name).name
    if not path.is_file():
        optuna.artifacts.download_artifact(artifact_store=store, file_path=str(path), artifact_id=artifact_id)
    return path


__all__ = [
    "ARRAY_NAMES",
    "artifact_store",
    "arrays_digest",
    "check_artifact_id",
    "download_data",
    "fetch_model",
    "upload_data",
    "upload_model",
]
