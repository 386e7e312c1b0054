"""Loading Sign Language MNIST from files, frames, Azure datasets and image folders."""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd

from asl_recog._errors import DataFormatError, DataNotFoundError

# LABEL_COLUMN and PIXEL_COLUMNS are re-exported: other modules import them from here.
from asl_recog.data._frames import COLUMNS, LABEL_COLUMN, PIXEL_COLUMNS, csv_lines, frame_to_arrays  # noqa: F401
from asl_recog.data._images import IMAGE_SUFFIXES, read_image
from asl_recog.data._labels import (
    IMAGE_SIZE,
    LETTERS,
    NUM_PIXELS,
    is_valid_label,
    labels_to_indices,
    labels_to_letters,
    letters_to_labels,
)

DATA_ENV_VAR = "ASL_RECOG_DATA"
BUNDLED_DATA_DIR = Path(__file__).resolve().parent.parent / "datasets" / "sign-language-mnist"
logger = logging.getLogger("asl_recog")
DOWNLOAD_HINT = (
    "get sign_mnist_train.csv and sign_mnist_test.csv (CC0) from "
    "https://www.kaggle.com/datasets/datamunge/sign-language-mnist and pass path=..., "
    f"or set {DATA_ENV_VAR} to the folder holding them"
)
Split = Literal["train", "test"]


class _HasPandas(Protocol):
    def to_pandas_dataframe(self) -> pd.DataFrame: ...


@dataclass(frozen=True, eq=False)
class SignMnistDataset:
    """Images and labels of Sign Language MNIST (or data in its format).

    Attributes:
        images: ``(N, 28, 28)`` uint8 grayscale images.
        labels: ``(N,)`` int64 dataset labels (0-24 without 9).
        source: where the data came from, for messages and reports.
        no_hand: ``(N,)`` bool for photos read from a folder: True where the hand was looked
            for and not found (the centre square was read), so an evaluation can refuse those
            photos as the service does; None for data that was never searched (the CSV files).

    Example:
        >>> train = load_sign_mnist("train")
        >>> len(train), train.images.shape, train.letters[:3]
        (27455, (27455, 28, 28), array(['D', 'G', 'C'], dtype='<U1'))
        >>> x = train[:100].float_images  # float32 in 0..1, with a channel axis
        >>> x.shape, x.dtype
        ((100, 28, 28, 1), dtype('float32'))
    """

    images: np.ndarray
    labels: np.ndarray
    source: str = "<memory>"
    no_hand: np.ndarray | None = None
    classes: tuple[str, ...] = field(default=LETTERS, init=False)

    def __post_init__(self) -> None:
        images = np.asarray(self.images)
        labels = np.asarray(self.labels)
        if images.ndim == 2 and images.shape[1] == NUM_PIXELS:
            images = images.reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
        if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
            raise ValueError(f"images must have shape (N, 28, 28), got {images.shape}")
        if images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 in 0..255, got dtype {images.dtype}")
        if labels.shape != (images.shape[0],):
            raise ValueError(f"labels must have shape ({images.shape[0]},), got {labels.shape}")
        labels_to_indices(labels)  # raises on J, Z or out-of-range labels
        object.__setattr__(self, "images", images)
        object.__setattr__(self, "labels", labels.astype(np.int64))
        if self.no_hand is not None:
            no_hand = np.asarray(self.no_hand)
            if no_hand.shape != labels.shape or no_hand.dtype != np.bool_:
                raise ValueError(
                    f"no_hand must be a bool array of shape {labels.shape}, got {no_hand.dtype} {no_hand.shape}"
                )
            object.__setattr__(self, "no_hand", no_hand)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, key: int | slice | Sequence[int] | np.ndarray) -> SignMnistDataset:
        if isinstance(key, (int, np.integer)):
            key = [int(key)]
        no_hand = None if self.no_hand is None else self.no_hand[key]
        return SignMnistDataset(self.images[key], self.labels[key], source=self.source, no_hand=no_hand)

    def __repr__(self) -> str:
        return f"SignMnistDataset(n={len(self)}, classes={len(np.unique(self.labels))}, source={self.source!r})"

    @property
    def letters(self) -> np.ndarray:
        """Letters of the labels, e.g. ``array(['D', 'G', ...])``."""
        return labels_to_letters(self.labels)

    @property
    def float_images(self) -> np.ndarray:
        """``(N, 28, 28, 1)`` float32 images scaled to 0..1, the layout models take."""
        return (self.images.astype(np.float32) / 255.0)[..., None]

    @property
    def flat(self) -> np.ndarray:
        """``(N, 784)`` float32 pixel rows scaled to 0..1, for scikit-learn."""
        return self.images.reshape(len(self), NUM_PIXELS).astype(np.float32) / 255.0

    def class_counts(self) -> pd.Series:
        """Number of images per letter, in class order."""
        return pd.Series(self.letters).value_counts().reindex(LETTERS, fill_value=0)

    def to_frame(self) -> pd.DataFrame:
        """The data in the Kaggle CSV layout: ``label, pixel1, ..., pixel784``."""
        table = np.column_stack([self.labels, self.images.reshape(len(self), NUM_PIXELS)])
        return pd.DataFrame(table, columns=list(COLUMNS))

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, *, source: str = "DataFrame") -> SignMnistDataset:
        """Build a dataset from a frame in the Kaggle layout, validating every cell."""
        images, labels = frame_to_arrays(frame, source=source, row_kind="row")
        return cls(images, labels, source=source)


def load_sign_mnist(
    split: Split = "train",
    path: str | os.PathLike[str] | pd.DataFrame | _HasPandas | None = None,
    *,
    find_hand: bool = True,
) -> SignMnistDataset:
    """Load Sign Language MNIST.

    Args:
        split: ``"train"`` or ``"test"``; picks the file when ``path`` is a folder or None.
        path: a ``.csv``/``.csv.gz`` file, a folder holding ``sign_mnist_<split>.csv[.gz]``,
            a folder of images in letter sub-folders (``A/``, ``B/``, ...), a pandas
            DataFrame, or any object with ``to_pandas_dataframe()`` (an Azure ML v1
            TabularDataset). None searches ``$ASL_RECOG_DATA``, then the bundled copy.
        find_hand: for a folder of images, crop each photo to the hand that MediaPipe's palm
            detector finds (see :func:`~asl_recog.image_to_array`); photos without a found hand
            take their centre square, and how many they were is logged once. False takes the
            centre square of every photo.

    Returns:
        The validated dataset.

    Raises:
        DataFormatError: a cell, column, label or file is malformed (names where and how to fix).
        DataNotFoundError: no data was found.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if isinstance(path, pd.DataFrame):
        return SignMnistDataset.from_frame(path)
    if path is not None and hasattr(path, "to_pandas_dataframe"):
        name = getattr(path, "name", None) or type(path).__name__
        return SignMnistDataset.from_frame(path.to_pandas_dataframe(), source=f"dataset {name!r}")
    if path is not None:
        return _load_path(Path(os.fspath(path)), split, find_hand)
    searched = []
    env = os.environ.get(DATA_ENV_VAR)
    candidates = [Path(env)] if env else []
    # The copy ships inside the package (package data), so one path serves an
    # editable install, a source checkout and an installed wheel alike; the
    # top-level datasets/sign-language-mnist is only a link to it for people.
    candidates += [BUNDLED_DATA_DIR, Path.cwd() / "datasets" / "sign-language-mnist"]
    for folder in candidates:
        found = _find_split_file(folder, split)
        if found is not None:
            return _read_csv(found)
        searched.append(str(folder))
    raise DataNotFoundError(f"no sign_mnist_{split}.csv[.gz] in {searched}; {DOWNLOAD_HINT}")


def _find_split_file(folder: Path, split: str) -> Path | None:
    for name in (f"sign_mnist_{split}.csv.gz", f"sign_mnist_{split}.csv", f"sign_mnist_{split}/sign_mnist_{split}.csv"):
        if (folder / name).is_file():
            return folder / name
    return None


def _load_path(path: Path, split: str, find_hand: bool = True) -> SignMnistDataset:
    if path.is_file():
        return _read_csv(path)
    if path.is_dir():
        found = _find_split_file(path, split)
        if found is not None:
            return _read_csv(found)
        if any(child.is_dir() and child.name.upper() in LETTERS for child in path.iterdir()):
            return _read_image_folder(path, find_hand)
        raise DataNotFoundError(
            f"{path}: holds neither sign_mnist_{split}.csv[.gz] nor letter sub-folders (A/, B/, ...); {DOWNLOAD_HINT}"
        )
    raise DataNotFoundError(f"{path}: no such file or folder; {DOWNLOAD_HINT}")


def _cache_file(path: Path) -> Path | None:
    """Where the parsed arrays of ``path`` are cached, keyed by a hash of its content.

    Parsing 27,455 CSV rows takes about 1.5 s; the cached arrays load in
    milliseconds. The key is the file's BLAKE2b digest (about 70 ms for the
    23 MB training file), not its size and modification time, which a rewrite
    can keep. ``ASL_RECOG_CACHE=0`` turns the cache off; set it to a folder to move it.
    """
    setting = os.environ.get("ASL_RECOG_CACHE", "")
    if setting.lower() in ("0", "off", "false", "no"):
        return None
    folder = Path(setting) if setting else Path.home() / ".cache" / "asl_recog"
    try:
        with path.open("rb") as handle:
            digest = hashlib.file_digest(handle, lambda: hashlib.blake2b(digest_size=16)).hexdigest()
    except OSError as exc:  # unreadable here means unreadable for the parser too: let it report
        logger.debug("not caching %s: %s", path, exc)
        return None
    return folder / f"{path.name}.{digest}.v2.npz"


def _read_csv(path: Path) -> SignMnistDataset:
    cache = _cache_file(path)
    if cache is not None and cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as arrays:
                return SignMnistDataset(arrays["images"], arrays["labels"], source=str(path))
        except (OSError, ValueError, KeyError) as exc:  # a damaged cache is re-parsed, not trusted
            logger.debug("ignoring unreadable cache %s: %s", cache, exc)
    dataset = _parse_csv(path)
    if cache is not None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp.npz")
            np.savez(tmp, images=dataset.images, labels=dataset.labels)
            tmp.replace(cache)  # atomic, so concurrent loaders never see half a file
        except OSError as exc:
            logger.debug("could not write cache %s: %s", cache, exc)
    return dataset


def _parse_csv(path: Path) -> SignMnistDataset:
    source = str(path)
    try:
        try:
            # Fast path: one int16 block. Any odd cell makes pandas raise; the
            # untyped re-read below then finds and names it.
            frame = pd.read_csv(path, compression="infer", dtype=np.int16)
        except (ValueError, OverflowError, TypeError) as exc:
            if isinstance(exc, pd.errors.ParserError):
                raise
            frame = pd.read_csv(path, compression="infer", low_memory=False)
    except pd.errors.EmptyDataError as exc:
        raise DataFormatError(
            "the file is empty", source=source, fix="re-download it; it should start with 'label,pixel1,...'"
        ) from exc
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DataFormatError(
            f"the gzip stream is truncated or corrupt ({exc})",
            source=source,
            fix="re-download the file and check its sha256",
        ) from exc
    except pd.errors.ParserError as exc:
        raise DataFormatError(
            f"not a well-formed CSV ({exc})",
            source=source,
            fix=f"every line must have exactly {len(COLUMNS)} comma-separated fields",
        ) from exc
    except UnicodeDecodeError as exc:
        raise DataFormatError(
            f"not a text CSV ({exc})", source=source, fix="pass a .csv or .csv.gz file in the Kaggle layout"
        ) from exc
    images, labels = frame_to_arrays(frame, source=source, row_kind="line", line_of=csv_lines(path))
    return SignMnistDataset(images, labels, source=source)


def _read_image_folder(folder: Path, find_hand: bool = True) -> SignMnistDataset:
    images: list[np.ndarray] = []
    letters: list[str] = []
    missing: list[bool] = []
    searched = missed = 0
    for child in sorted(folder.iterdir()):
        if not child.is_dir():
            continue
        try:
            letters_to_labels([child.name])
        except ValueError as exc:
            raise DataFormatError(
                f"sub-folder {child.name!r} is not a letter A-Y without J ({exc})",
                source=str(folder),
                fix="name each sub-folder after the letter it holds",
            ) from exc
        for file in sorted(child.iterdir()):
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                raise DataFormatError(
                    f"{file.name!r} is not a .png, .jpg or .jpeg file",
                    source=str(child),
                    fix="keep only images in the letter folders",
                )
            array, hand, looked = read_image(file, find_hand=find_hand)
            searched += looked
            missed += looked and hand is None
            missing.append(looked and hand is None)
            images.append(array)
            letters.append(child.name.upper())
    if not images:
        raise DataFormatError(
            "no images in the letter sub-folders",
            source=str(folder),
            fix="put PNG/JPEG images in A/, B/, ... sub-folders",
        )
    if missed:  # once per folder: a photo without a found hand is read from its centre; evaluations may refuse it
        logger.warning(
            "%s: no hand found in %d of %d photos; they were cut to their centre square "
            "(crop them to the hand, or pass find_hand=False to treat every photo alike)",
            folder,
            missed,
            searched,
        )
    elif searched:
        logger.info("%s: a hand was found in all %d photos searched", folder, searched)
    return SignMnistDataset(
        np.stack(images), letters_to_labels(letters), source=str(folder), no_hand=np.asarray(missing, dtype=bool)
    )


def as_dataset(data: Any, *, split: Split = "train") -> SignMnistDataset:
    """Coerce anything :func:`load_sign_mnist` accepts (or a dataset) into a dataset."""
    if isinstance(data, SignMnistDataset):
        return data
    return load_sign_mnist(split, data)


__all__ = ["SignMnistDataset", "load_sign_mnist", "as_dataset", "is_valid_label"]
