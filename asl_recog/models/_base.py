"""The fitted-model interface and its scikit-learn and Keras implementations."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from asl_recog._console import import_keras
from asl_recog._errors import DataFormatError, ModelFileError
from asl_recog.data._dataset import SignMnistDataset
from asl_recog.data._inputs import photos_to_pixels
from asl_recog.data._labels import IMAGE_SIZE, NUM_CLASSES, NUM_PIXELS, indices_to_labels, labels_to_letters
from asl_recog.models._ensemble_refs import after_loading, for_saving

SKLEARN_SUFFIX = ".aslskl"
#: The first Keras whose ``safe_mode`` holds against the published bypasses (CVE-2025-1550, CVE-2025-8747 and
#: later fixes); older versions are refused rather than trusted to refuse code.
MIN_SAFE_KERAS = (3, 11)
#: v2 files hold a skops.io payload; v1 files held a pickle and are refused.
_SKLEARN_MAGIC = b"ASL-RECOG-SKLEARN\x00v2\n"
_LEGACY_MAGIC = b"ASL-RECOG-SKLEARN\x00v1\n"
#: Types rebuilt from ``.aslskl`` files besides those skops trusts by default (public
#: scikit-learn estimators, numpy, builtins): the private helpers inside the fitted
#: estimators of the AutoML portfolio. Each is plain data plus scikit-learn's own code.
TRUSTED_TYPES: tuple[str, ...] = (
    "asl_recog.models._hog.HogFeaturizer",  # parameters only; its transform is this library's code
    "asl_recog.models._prototypes.PrototypeKNeighborsClassifier",  # parameters and a fitted KNN (data)
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.tree._tree.Tree",
    "sklearn.utils._bunch.Bunch",
)


def to_model_input(images: Any) -> np.ndarray:
    """Coerce images to the ``(N, 28, 28, 1)`` float32 0..1 layout every model takes.

    Accepts a :class:`SignMnistDataset`, integer images in 0..255 (``(N, 28, 28)``,
    ``(N, 28, 28, 1)``, ``(28, 28)`` or flat ``(N, 784)``), float images already
    scaled to 0..1 in the same shapes, or photos: a path, PNG/JPEG bytes, a PIL image,
    a uint8 ``(H, W, 3)`` photo array, or a list of them, read as the scoring service
    reads an upload (:func:`~asl_recog.data._inputs.photos_to_pixels`).

    Raises:
        DataFormatError: wrong shape, NaN, or values out of range.
    """
    if isinstance(images, SignMnistDataset):
        return images.float_images
    photos = photos_to_pixels(images)
    arr = np.asarray(images) if photos is None else photos
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise DataFormatError(
            f"images must be numeric, got dtype {arr.dtype}",
            source="images",
            fix="pass a numeric array of 28x28 images, or photos as a path, a PIL image or a list of them",
        )
    if arr.shape == (IMAGE_SIZE, IMAGE_SIZE) or arr.shape == (NUM_PIXELS,):
        arr = arr[None]
    if arr.ndim == 2 and arr.shape[1] == NUM_PIXELS:
        arr = arr.reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
    if arr.ndim == 4 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 3 or arr.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise DataFormatError(
            f"images have shape {np.asarray(images).shape}",
            source="images",
            fix="pass (N, 28, 28), (N, 28, 28, 1) or flat (N, 784) images",
        )
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise DataFormatError(
                "images contain NaN or infinite values", source="images", fix="replace missing pixels before predicting"
            )
        if arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
            raise DataFormatError(
                f"float images must be scaled to 0..1, got values in {arr.min():g}..{arr.max():g}",
                source="images",
                fix="divide 0..255 pixels by 255, or pass them as uint8",
            )
        return arr.astype(np.float32)[..., None]
    # uint8 cannot leave 0..255; skipping the scan matters on the service's per-request path.
    if arr.dtype != np.uint8 and arr.size and (arr.min() < 0 or arr.max() > 255):
        raise DataFormatError(
            f"integer pixels must be in 0..255, got {arr.min()}..{arr.max()}",
            source="images",
            fix="pass 8-bit grayscale pixels",
        )
    return (arr.astype(np.float32) / 255.0)[..., None]


def _version_tuple(version: str) -> tuple[int, ...]:
    """``"3.11.2rc1"`` -> ``(3, 11, 2)``: the leading numeric parts of a version string."""
    parts = []
    for part in version.split(".")[:3]:
        digits = "".join(itertools.takewhile(str.isdigit, part))
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


class Model(ABC):
    """A fitted classifier of 28x28 hand-sign images.

    Subclasses implement :meth:`predict_proba` and :meth:`save`; labels and
    letters follow from the probabilities.

    Attributes:
        params: the hyperparameters the model was trained with.
        info: free-form facts recorded by the trainer, e.g. ``validation_score``,
            ``training_seconds``, ``primary_metric``, ``algorithm``.

    Example:
        >>> model = Model.load("runs/best.keras")  # here a tiny network trained on 300 images
        >>> model.predict_letters(load_sign_mnist("test")[:5])
        array(['C', 'C', 'S', 'C', 'O'], dtype='<U1')
    """

    kind: ClassVar[str] = "model"
    #: the file suffixes this class loads (set by each format's subclass)
    suffixes: ClassVar[tuple[str, ...]] = ()
    # suffix -> the class that loads it. Subclasses register themselves (see __init_subclass__),
    # so this base module needs no import of the formats defined elsewhere (ONNX), which import it.
    _formats: ClassVar[dict[str, type[Model]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for suffix in cls.__dict__.get("suffixes", ()):
            Model._formats[suffix] = cls

    def __init__(self, params: dict[str, Any] | None = None, info: dict[str, Any] | None = None) -> None:
        self.params: dict[str, Any] = dict(params or {})
        self.info: dict[str, Any] = dict(info or {})

    @abstractmethod
    def predict_proba(self, images: Any) -> np.ndarray:
        """Return ``(N, 24)`` class probabilities, columns in :data:`LETTERS` order."""

    def predict(self, images: Any) -> np.ndarray:
        """Return dataset labels (0-24 without 9) of the images."""
        return indices_to_labels(np.argmax(self.predict_proba(images), axis=1))

    def predict_letters(self, images: Any) -> np.ndarray:
        """Return the letters of the images, e.g. ``array(['A', 'Y'])``."""
        return labels_to_letters(self.predict(images))

    def score(self, data: SignMnistDataset) -> float:
        """Accuracy on a labelled dataset."""
        return float(np.mean(self.predict(data) == data.labels))

    @abstractmethod
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model to ``path`` and return the path written."""

    @staticmethod
    def load(path: str | os.PathLike[str]) -> Model:
        """Load a model saved by asl_recog: ``.keras``, ``.aslskl`` or ``.onnx``.

        No format runs code from the file: ``.aslskl`` rebuilds only trusted
        scikit-learn types (skops), ``.keras`` loads in Keras' safe mode, and
        ``.onnx`` refuses external data and custom operators.
        """
        path = Path(path)
        if not path.is_file():
            raise ModelFileError(f"{path}: no such model file")
        suffix = path.suffix.lower()
        fmt = Model._formats.get(suffix)
        if fmt is None:
            known = ", ".join(sorted(Model._formats))
            raise ModelFileError(f"{path}: unknown model format {suffix!r}; expected one of {known}")
        return fmt.load(path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(params={self.params!r})"


class SklearnModel(Model):
    """A fitted scikit-learn estimator over flat 0..1 pixel rows, predicting class indices 0-23.

    Example:
        >>> from sklearn.neighbors import KNeighborsClassifier
        >>> from asl_recog.data._labels import labels_to_indices
        >>> train = load_sign_mnist("train")[:300]
        >>> est = KNeighborsClassifier(3).fit(train.flat, labels_to_indices(train.labels))
        >>> model = SklearnModel(est)
        >>> model.save("knn.aslskl")
        PosixPath('knn.aslskl')
        >>> SklearnModel.load("knn.aslskl").predict_letters(test[:3])
        array(['H', 'R', 'W'], dtype='<U1')
    """

    kind = "sklearn"
    suffixes = (SKLEARN_SUFFIX,)

    def __init__(
        self, estimator: Any, params: dict[str, Any] | None = None, info: dict[str, Any] | None = None
    ) -> None:
        super().__init__(params, info)
        self.estimator = estimator

    def predict_proba(self, images: Any) -> np.ndarray:
        x = to_model_input(images).reshape(-1, NUM_PIXELS)
        proba = self.estimator.predict_proba(x)
        classes = np.asarray(getattr(self.estimator, "classes_", np.arange(NUM_CLASSES)))
        if proba.shape[1] == NUM_CLASSES and np.array_equal(classes, np.arange(NUM_CLASSES)):
            return proba.astype(np.float32)
        # A model fitted on a subset of classes: place its columns, zeros elsewhere.
        full = np.zeros((proba.shape[0], NUM_CLASSES), dtype=np.float32)
        full[:, classes.astype(int)] = proba
        return full

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write a checksummed file: magic line, JSON header, then the ``skops.io`` payload.

        skops stores the estimator as data (arrays and parameters), not as
        pickled code, so :meth:`load` can refuse any type it does not trust.
        """
        import skops.io

        path = Path(path)
        if path.suffix != SKLEARN_SUFFIX:
            path = path.with_suffix(SKLEARN_SUFFIX)
        payload = skops.io.dumps(for_saving(self.estimator))  # each ensemble member once
        header = json.dumps(
            {
                "sha256": hashlib.sha256(payload).hexdigest(),
                "format": "skops",
                "params": self.params,
                "info": self.info,
            },
            default=str,
        ).encode()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_SKLEARN_MAGIC + len(header).to_bytes(8, "big") + header + payload)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, trusted: Sequence[str] = ()) -> SklearnModel:
        """Read a file written by :meth:`save` without running code from it.

        Only the types skops trusts by default (scikit-learn estimators, numpy,
        builtins) and :data:`TRUSTED_TYPES` are rebuilt; any other type in the
        file is refused before anything is constructed.

        Args:
            path: the ``.aslskl`` file.
            trusted: further fully qualified type names to allow, e.g.
                ``["mypackage.MyTransformer"]``, for an estimator of your own whose
                file you wrote yourself.

        Raises:
            ModelFileError: not our format, truncated, modified, the old pickle
                format, or a type that is not trusted.
        """
        import skops.io
        from skops.io.exceptions import UntrustedTypesFoundException

        path = Path(path)
        blob = path.read_bytes()
        if blob.startswith(_LEGACY_MAGIC):
            raise ModelFileError(
                f"{path}: written by asl_recog 0.1 as a pickle, which runs code when loaded, so it is refused. "
                "Fix: retrain, or if you made this file yourself, load its estimator with joblib in a trusted "
                "session and save it again with SklearnModel(estimator).save(path)"
            )
        if not blob.startswith(_SKLEARN_MAGIC):
            raise ModelFileError(f"{path}: not a scikit-learn model file written by asl_recog (bad magic bytes)")
        start = len(_SKLEARN_MAGIC)
        size = int.from_bytes(blob[start : start + 8], "big")
        try:
            header = json.loads(blob[start + 8 : start + 8 + size])
        except (ValueError, UnicodeDecodeError) as exc:
            raise ModelFileError(f"{path}: corrupt header ({exc})") from exc
        if not isinstance(header, dict):
            raise ModelFileError(f"{path}: corrupt header (not a JSON object)")
        payload = blob[start + 8 + size :]
        if hashlib.sha256(payload).hexdigest() != header.get("sha256"):
            raise ModelFileError(f"{path}: checksum mismatch; the file was truncated or modified. Re-export it.")
        try:
            estimator = skops.io.loads(payload, trusted=[*TRUSTED_TYPES, *trusted])
        except UntrustedTypesFoundException as exc:
            raise ModelFileError(
                f"{path}: holds types asl_recog does not trust ({exc}); they could run code when rebuilt. "
                "Fix: if you wrote this file with your own estimator classes, pass their names: "
                "SklearnModel.load(path, trusted=[...])"
            ) from exc
        except Exception as exc:  # skops raises many types for a damaged archive
            raise ModelFileError(
                f"{path}: the skops payload is unreadable ({type(exc).__name__}: {exc}). Re-export the model."
            ) from exc
        params, info = header.get("params"), header.get("info")
        estimator = after_loading(estimator)
        return cls(estimator, params if isinstance(params, dict) else None, info if isinstance(info, dict) else None)


def network_proba(network: Any, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """A Keras network's float32 outputs for ``x``, called on one batch of ``batch_size`` rows at a time.

    Why not ``network.predict``: it makes a ``tf.function`` per network, traced again for the
    last, shorter batch, and TensorFlow counts those traces across networks: scoring a few loaded
    models one after another printed its "triggered tf.function retracing" warning, which a user
    cannot act on. Calling the network directly traces nothing, gives the same numbers, takes
    as long on 1,024-row batches (7,172 images: 1.1-1.8 s either way on 2 cores) and skips
    ``predict``'s per-call setup (~40 ms) on small inputs.

    Example:
        >>> network = KerasModel.load("runs/best.keras").network
        >>> network_proba(network, test.float_images, batch_size=32).shape  # two calls: 32 rows, then 18
        (50, 24)
    """
    parts = [np.asarray(network(x[i : i + batch_size], training=False)) for i in range(0, len(x), batch_size)]
    if not parts:
        return np.asarray(network(x, training=False), dtype=np.float32)
    return np.concatenate(parts).astype(np.float32, copy=False)


class KerasModel(Model):
    """A fitted Keras model taking ``(N, 28, 28, 1)`` float images, softmax over 24 classes.

    Example:
        >>> keras_model = Model.load("runs/best.keras").network  # any Keras network: 28x28x1 in, 24 softmax out
        >>> model = KerasModel(keras_model, params={"hidden": 300})
        >>> model.save("cnn.keras")
        PosixPath('cnn.keras')
        >>> KerasModel.load("cnn.keras").predict_letters(test[:3])
        array(['C', 'C', 'S'], dtype='<U1')
    """

    kind = "keras"
    suffixes = (".keras",)

    def __init__(self, network: Any, params: dict[str, Any] | None = None, info: dict[str, Any] | None = None) -> None:
        super().__init__(params, info)
        self.network = network

    def predict_proba(self, images: Any, batch_size: int = 1024) -> np.ndarray:
        return network_proba(self.network, to_model_input(images), batch_size)

    def save(self, path: str | os.PathLike[str]) -> Path:
        path = Path(path)
        if path.suffix != ".keras":
            path = path.with_suffix(".keras")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.network.save(path)
        path.with_name(path.name + ".json").write_text(
            json.dumps({"params": self.params, "info": self.info}, default=str, indent=2)
        )
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> KerasModel:
        """Read a ``.keras`` archive with ``safe_mode=True``: no Lambda layers or other code from the file.

        Raises:
            ModelFileError: not a loadable archive, one that needs unsafe code, or a
                Keras older than :data:`MIN_SAFE_KERAS`, whose safe mode had known bypasses.
        """
        keras = import_keras()
        path = Path(path)
        if _version_tuple(keras.__version__) < MIN_SAFE_KERAS:
            wanted = ".".join(map(str, MIN_SAFE_KERAS))
            raise ModelFileError(
                f"{path}: Keras {keras.__version__} cannot load .keras files safely (its safe_mode "
                f"had bypasses fixed in {wanted}). Fix: pip install 'keras>={wanted}'"
            )
        try:
            # compile=False: a loaded network predicts and exports; its training set-up
            # (loss, optimizer state) is not needed, and not restoring it is faster.
            network = keras.saving.load_model(path, safe_mode=True, compile=False)
        except Exception as exc:  # Keras raises many types for a bad archive
            raise ModelFileError(f"{path}: not a loadable .keras model ({exc})") from exc
        sidecar = path.with_name(path.name + ".json")
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.is_file() else {}
        except (OSError, ValueError) as exc:
            raise ModelFileError(
                f"{sidecar}: unreadable metadata beside the model ({exc}). Fix: delete it or save the model again"
            ) from exc
        meta = meta if isinstance(meta, dict) else {}
        params, info = meta.get("params"), meta.get("info")
        return cls(network, params if isinstance(params, dict) else None, info if isinstance(info, dict) else None)
