"""Training data on Azure ML: registered once per content, reused by both SDKs' jobs.

Each split (the training part, and the grouped validation part as its own dataset
so Azure never draws a leaky random split) is written in the Kaggle layout
(``label, pixel1..pixel784``, raw 0-255 integers) as ``sign_mnist_train.csv`` in a
folder, so ``load_sign_mnist("train", <mounted folder>)`` reads it inside a job.

The SHA-256 of the images and labels is stored in the registered asset's tags
(and description). Before uploading, the latest registered version of the name
(v1) or every version (v2) is compared with it: the same content is never
uploaded twice, and the datastore folder is named after the hash as well.

* SDK v1: the folder is uploaded with ``Dataset.File.upload_directory`` (a
  FileDataset, mounted by HyperDrive trials), and a TabularDataset over its CSV
  is registered from ``TabularDatasetFactory.from_delimited_files`` (AutoML's
  ``training_data`` / ``validation_data``).
* SDK v2: the folder holds an ``MLTable`` file next to the CSV and is registered
  as an ``mltable`` Data asset (AutoML v2 requires MLTable; command trials mount
  the same folder).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from asl_recog import _azure as sdk
from asl_recog.backends._remote import AutoMLSpec
from asl_recog.data._augment import tabular_copies
from asl_recog.data._dataset import COLUMNS, SignMnistDataset

logger = logging.getLogger("asl_recog")

#: The file name inside every uploaded folder; ``load_sign_mnist("train", folder)`` finds it.
CSV_NAME = "sign_mnist_train.csv"
#: Folder on the workspace datastore (v1) under which uploads live, one sub-folder per hash.
DATASTORE_ROOT = "asl-recog"
HASH_TAG = "sha256"


def content_hash(data: SignMnistDataset) -> str:
    """SHA-256 of the images and labels (not of a CSV rendering, which could vary)."""
    digest = hashlib.sha256()
    digest.update(repr((data.images.shape, str(data.images.dtype))).encode())
    digest.update(data.images.tobytes())
    digest.update(data.labels.astype("int64").tobytes())
    return digest.hexdigest()


def write_table(data: SignMnistDataset, folder: Path, *, mltable: bool = False) -> Path:
    """Write ``folder/sign_mnist_train.csv`` (and an ``MLTable`` file) and return ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    data.to_frame().to_csv(folder / CSV_NAME, index=False)
    if mltable:
        spec = {
            "type": "mltable",
            "paths": [{"file": f"./{CSV_NAME}"}],
            "transformations": [
                {"read_delimited": {"delimiter": ",", "encoding": "utf8", "header": "all_files_same_headers"}}
            ],
        }
        (folder / "MLTable").write_text(yaml.safe_dump(spec, sort_keys=False))
    return folder


def _description(data: SignMnistDataset, digest: str, role: str) -> str:
    return f"Sign Language MNIST {role} split uploaded by asl_recog: {len(data)} images, {HASH_TAG}={digest}"


def _tags(data: SignMnistDataset, digest: str, role: str) -> dict[str, str]:
    return {HASH_TAG: digest, "rows": str(len(data)), "role": role, "source": "asl_recog"}


def automl_training_data(spec: AutoMLSpec, train: SignMnistDataset) -> SignMnistDataset:
    """AutoML's training table as uploaded: with ``augment=True``, plus the same copies the local
    route adds (:func:`~asl_recog.data._augment.tabular_copies`, same seed), so Azure trains on what
    a local search would."""
    if not spec.augment:
        return train
    images, labels = tabular_copies(train.images, train.labels, spec.seed or 0)
    logger.info(
        "AutoML on Azure: adding %d augmented copies to the %d training images before upload",
        len(images) - len(train),
        len(train),
    )
    return SignMnistDataset(images, labels, source=f"{train.source} (augmented)")


# -- SDK v1 -----------------------------------------------------------------------------------------


@dataclass
class V1Data:
    """A split on a v1 workspace: the registered TabularDataset and the FileDataset of its folder."""

    tabular: Any
    files: Any
    digest: str
    reused: bool


def _v1_registered(workspace: Any, name: str) -> Any | None:
    try:
        return sdk.aml_core.Dataset.get_by_name(workspace, name)  # the latest version
    except sdk.aml_exceptions.UserErrorException:  # not registered yet
        return None


def ensure_v1_dataset(
    workspace: Any, name: str, data: SignMnistDataset, *, role: str = "train", datastore: Any = None
) -> V1Data:
    """Register ``data`` as TabularDataset ``name`` unless its latest version already holds it.

    Args:
        workspace: an ``azureml.core.Workspace``.
        name: the dataset name, e.g. ``"sign-language-mnist-train"``.
        data: the split to upload.
        role: ``"train"`` or ``"validation"``, recorded in the tags.
        datastore: where to upload (default: the workspace's default datastore).
    """
    digest = content_hash(data)
    store = datastore or workspace.get_default_datastore()
    folder = f"{DATASTORE_ROOT}/{name}/{digest[:16]}"
    existing = _v1_registered(workspace, name)
    if existing is not None and (getattr(existing, "tags", None) or {}).get(HASH_TAG) == digest:
        logger.info(
            "Azure ML v1: reusing dataset %r version %s (same content, %s=%s...)",
            name,
            getattr(existing, "version", "?"),
            HASH_TAG,
            digest[:12],
        )
        return V1Data(
            existing, sdk.aml_core.Dataset.File.from_files(path=(store, folder), validate=False), digest, True
        )
    with tempfile.TemporaryDirectory(prefix="asl-recog-upload-") as tmp:
        write_table(data, Path(tmp))
        logger.info("Azure ML v1: uploading %d %s images to %s/%s", len(data), role, store.name, folder)
        # overwrite=False: a folder already uploaded under this hash is kept as is.
        files = sdk.aml_core.Dataset.File.upload_directory(
            src_dir=tmp, target=(store, folder), overwrite=False, show_progress=False
        )
    # Explicit integer types: reading is offline-safe and AutoML sees numbers, not strings.
    tabular = sdk.aml_data_dataset_factory.TabularDatasetFactory.from_delimited_files(
        path=[(store, f"{folder}/{CSV_NAME}")],
        validate=False,
        infer_column_types=False,
        set_column_types={column: sdk.aml_data_dataset_factory.DataType.to_long() for column in COLUMNS},
    )
    registered = tabular.register(
        workspace,
        name=name,
        description=_description(data, digest, role),
        tags=_tags(data, digest, role),
        create_new_version=True,
    )
    return V1Data(registered, files, digest, False)


# -- SDK v2 -----------------------------------------------------------------------------------------


@dataclass
class V2Data:
    """A split on a v2 workspace: the ``azureml:name:version`` id of its MLTable Data asset."""

    asset_id: str
    digest: str
    reused: bool


def ensure_v2_data(ml_client: Any, name: str, data: SignMnistDataset, *, role: str = "train") -> V2Data:
    """Register ``data`` as MLTable Data asset ``name`` unless some version already holds it."""
    digest = content_hash(data)
    try:
        versions = list(ml_client.data.list(name=name))
    except sdk.az_core_exceptions.ResourceNotFoundError:
        versions = []
    for asset in versions:
        if (asset.tags or {}).get(HASH_TAG) == digest:
            logger.info(
                "Azure ML v2: reusing data asset %s:%s (same content, %s=%s...)",
                name,
                asset.version,
                HASH_TAG,
                digest[:12],
            )
            return V2Data(f"azureml:{name}:{asset.version}", digest, True)
    numbers = [int(a.version) for a in versions if str(a.version).isdigit()]
    version = str(max(numbers, default=0) + 1)
    with tempfile.TemporaryDirectory(prefix="asl-recog-upload-") as tmp:
        write_table(data, Path(tmp), mltable=True)
        logger.info("Azure ML v2: uploading %d %s images as data asset %s:%s", len(data), role, name, version)
        asset = ml_client.data.create_or_update(
            sdk.ml_entities.Data(
                name=name,
                version=version,
                type=sdk.ml_constants.AssetTypes.MLTABLE,
                path=tmp,
                description=_description(data, digest, role),
                tags=_tags(data, digest, role),
            )
        )
    return V2Data(f"azureml:{name}:{getattr(asset, 'version', None) or version}", digest, False)


# -- the code a trial runs --------------------------------------------------------------------------

#: The script HyperDrive v1 runs (v1 sweeps append parameters to a script's arguments); it
#: runs the route's entry module exactly as ``python -m <entry module>`` would.
LAUNCHER = "train_cnn_entry.py"
_LAUNCHER_SOURCE = '''"""Written by asl_recog: run the trial entry point with this script's arguments."""
import runpy

runpy.run_module({module!r}, run_name="__main__", alter_sys=True)
'''


def stage_source(folder: Path, entry_module: str) -> Path:
    """Copy the asl_recog package (sources only) into ``folder`` with the v1 launcher; return ``folder``.

    Azure uploads this folder as the job's code snapshot; the job's working
    directory is its root, so ``python -m <entry_module>`` imports this copy.
    """
    package = Path(__file__).resolve().parents[2]  # the asl_recog folder
    target = folder / "asl_recog"
    if target.exists():
        shutil.rmtree(target)
    # The data reaches a job as mounted inputs; the bundled dataset (the test file included) stays here.
    shutil.copytree(package, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.so", "datasets"))
    (folder / LAUNCHER).write_text(_LAUNCHER_SOURCE.format(module=entry_module))
    return folder


__all__ = [
    "CSV_NAME",
    "LAUNCHER",
    "V1Data",
    "V2Data",
    "automl_training_data",
    "content_hash",
    "ensure_v1_dataset",
    "ensure_v2_data",
    "stage_source",
    "write_table",
]
