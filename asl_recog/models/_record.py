"""One record of a trained model: what it learnt from, how it was chosen, how it scored.

Three views are written from one :class:`RunRecord` and must agree: the exported ONNX file's
metadata (:mod:`asl_recog.models._record_onnx`), the model card ``MODEL_CARD.md`` beside it
(:mod:`asl_recog.models._model_card`, read back with
:func:`~asl_recog.models._model_card.read_card_record`) and the MLflow model's metadata
(:meth:`RunRecord.mlflow_metadata`). The record holds plain values only: this layer sits below
``results`` and ``evaluation``, which fill in the selection and the test figures
(:func:`asl_recog.results._record.result_record`,
:func:`asl_recog.evaluation._record_figures.with_test_figures`). A fact not known for a model
is None, never a guess.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from asl_recog._errors import ModelFileError
from asl_recog._pins import environment_pins
from asl_recog._version import __version__
from asl_recog.data._dataset import BUNDLED_DATA_DIR, SignMnistDataset
from asl_recog.data._digest import arrays_sha256
from asl_recog.models._onnx_format import QUANTIZATION_KEY, decode_props, import_onnx
from asl_recog.models._onnx_props import label_map, preprocessing, read_props

#: metadata_props key (ONNX) and metadata key (MLflow) holding the record as JSON.
RECORD_KEY = "asl_recog.record"
#: The licence of the data every model here learns from: Sign Language MNIST is CC0 1.0.
DATA_LICENSE = "CC0-1.0"
#: Where the bundled data comes from.
DATASET_ID = "datamunge/sign-language-mnist"

# The JSON types each field may hold: a record read from a file is checked against them, as data.
_STR, _INT, _FLOAT, _BOOL, _DICT, _PAIR = (str,), (int,), (int, float), (bool,), (dict,), (list,)


@dataclass(frozen=True)
class RunRecord:
    """What is known of one trained model; None where a fact is not known.

    Attributes:
        name: the model's name, e.g. the route (``"automl"``) or the file's stem.
        model_version: the ONNX ``model_version`` (an integer; 1 for a first export).
        model_kind: ``"sklearn"``, ``"keras"`` or ``"onnx"`` (filled at export).
        algorithm: the selected algorithm or network builder.
        asl_recog_version: the version of asl_recog that wrote the record.
        packages_sha256: SHA-256 of the sorted ``name==version`` pins of the installed closure
            of ``asl-recog[every extra]`` (:func:`asl_recog._pins.environment_pins`): equal to
            ``constraints_sha256(constraints.txt)`` in an environment installed from it.
        packages_count: how many packages those pins name.
        license: the licence of the training data (CC0 1.0; asl_recog's code is MIT).
        data_source: where the training data came from.
        train_rows, validation_rows: rows the model was fitted on and selected on.
        train_sha256, validation_sha256: SHA-256 of those arrays (dtype, shape and bytes of the
            images, then of the labels).
        split: how the validation rows were split off, in words.
        settings: the trainer's settings; ``params`` the selected hyperparameters.
        primary_metric, validation_score, trial: what the selection ranked by, the selected
            trial's validation score on it, and that trial.
        refit: True when the selected configuration was retrained on all rows, False when it
            was not; ``refit_note`` says why not (or what was refit), ``refit_epochs`` and
            ``refit_rows`` how long and on how many rows.
        test_source, test_rows: the held-out test file the figures below are on.
        test_accuracy, test_accuracy_ci: accuracy on it and its 95% interval ``[low, high]``.
        test_macro_f1: macro-averaged F1 on it.
        mca, mca_ci: mean accuracy under the corruption suite, refusals counted wrong, and its interval.
        weakest_corruptions: the three corruptions it reads worst, with their accuracy.
        photos_top1: photo set -> top-1 accuracy on real photos (refusals counted wrong).
        latency_p50_ms: median single-image latency on ONNX Runtime, milliseconds.
        size_mb: the ONNX graph's size in MB (operators and weights, without metadata).
        weights: ``"float32"``, or ``"int8"`` for ONNX Runtime's static int8 quantization of the
            graph (filled at export).
        label_map: class index (as text) -> letter, the order of the output's columns.
        preprocessing: what the graph's input expects (layout, scaling, shape).

    Example:
        >>> record = RunRecord.from_model(Model.load("runs/best.onnx"), name="knn", train=train)
        >>> record.train_rows, record.license, record.test_accuracy is None
        (300, 'CC0-1.0', True)
        >>> RunRecord.from_dict(record.to_dict()) == record
        True
    """

    name: str | None = None
    model_version: int = 1
    model_kind: str | None = None
    algorithm: str | None = None
    asl_recog_version: str = __version__
    packages_sha256: str | None = None
    packages_count: int | None = None
    license: str = DATA_LICENSE
    data_source: str | None = None
    train_rows: int | None = None
    validation_rows: int | None = None
    train_sha256: str | None = None
    validation_sha256: str | None = None
    split: str | None = None
    settings: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    primary_metric: str | None = None
    validation_score: float | None = None
    trial: int | str | None = None
    refit: bool | None = None
    refit_note: str | None = None
    refit_epochs: int | None = None
    refit_rows: int | None = None
    test_source: str | None = None
    test_rows: int | None = None
    test_accuracy: float | None = None
    test_accuracy_ci: list[float] | None = None
    test_macro_f1: float | None = None
    mca: float | None = None
    mca_ci: list[float] | None = None
    weakest_corruptions: dict[str, float] | None = None
    photos_top1: dict[str, float] | None = None
    latency_p50_ms: float | None = None
    size_mb: float | None = None
    weights: str | None = None
    label_map: dict[str, str] | None = None
    preprocessing: dict[str, Any] | None = None

    @classmethod
    def from_model(
        cls,
        model: Any,
        *,
        name: str | None = None,
        train: SignMnistDataset | None = None,
        validation: SignMnistDataset | None = None,
        split: str | None = None,
        settings: dict[str, Any] | None = None,
    ) -> RunRecord:
        """The record of a fitted :class:`~asl_recog.models.Model`: what its ``info`` and ``params`` say,
        plus the data it was fitted on (``train``) and selected on (``validation``) when given.

        A model loaded from an ONNX file that carries a record starts from that record, so a
        re-export keeps what the first export knew (the package versions included); otherwise
        the package versions are this environment's.
        """
        embedded = (getattr(model, "metadata", None) or {}).get(RECORD_KEY)
        base = cls.from_dict(embedded, where=str(getattr(model, "source", "the model"))) if embedded else cls()
        info: dict[str, Any] = dict(getattr(model, "info", {}) or {})
        found: dict[str, Any] = {
            "name": name,
            "algorithm": info.get("algorithm"),
            "params": jsonable(getattr(model, "params", None)) or None,
            "primary_metric": info.get("primary_metric"),
            "validation_score": finite(info.get("validation_score")),
            "trial": info.get("selected_trial", info.get("trial")),
            "refit": info["refit"] if isinstance(info.get("refit"), bool) else None,
            "refit_epochs": info.get("refit_epochs"),
            "refit_rows": info.get("refit_images"),
            "settings": jsonable(settings),
            "split": split,
        }
        for part, data in (("train", train), ("validation", validation)):
            if data is not None:
                found[f"{part}_rows"], found[f"{part}_sha256"] = len(data), dataset_sha256(data)
                found["data_source"] = found.get("data_source") or data_source(data)
        # As JSON values (a numpy integer in info would otherwise be written as text, and refused on reading).
        found = {key: jsonable(value) for key, value in found.items()}
        if found["trial"] is not None and not isinstance(found["trial"], (int, str)):
            found["trial"] = str(found["trial"])
        record = dataclasses.replace(base, **{k: v for k, v in found.items() if v is not None})
        if embedded:  # the versions of the environment that trained it, not of this one
            return record
        pins = environment_pins()
        return dataclasses.replace(
            record,
            asl_recog_version=__version__,
            packages_sha256=pins[0] if pins else None,
            packages_count=pins[1] if pins else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-able plain values, every field present (None where not known)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, values: Any, *, where: str = "the record") -> RunRecord:
        """Read a record from plain values (parsed JSON or YAML), checking every field's type.

        Keys this version does not know (a newer asl_recog's fields) are left out.

        Raises:
            ModelFileError: not a mapping, or a field of the wrong type (named, with ``where``).
        """
        if not isinstance(values, dict):
            raise ModelFileError(f"{where}: the run record is a {type(values).__name__}, not a mapping; re-export it")
        known = {f.name: f for f in dataclasses.fields(cls)}
        out: dict[str, Any] = {}
        for key, value in values.items():
            if key not in known or value is None:
                continue
            kinds = _KINDS[key]
            ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
            if ok and kinds is _PAIR:
                ok = len(value) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
            if not ok:
                raise ModelFileError(
                    f"{where}: run record field {key!r} is {value!r:.80}, expected "
                    f"{' or '.join(k.__name__ for k in kinds)}; the file was edited or is damaged: re-export it"
                )
            out[key] = [float(v) for v in value] if kinds is _PAIR else value
        return cls(**out)

    def for_graph(self, values: dict[str, Any], graph_bytes: int) -> RunRecord:
        """This record with what an export knows: the model kind, the graph's size and weights, label map,
        preprocessing.

        Args:
            values: the export's metadata values (``source_kind``, ``algorithm``, ``input_layout``,
                ``input_scaling``, ``input_shape``, ``classes``, and ``asl_recog.quantization`` for int8).
            graph_bytes: the serialized graph's size, metadata left out.
        """
        classes = values.get("classes")
        return dataclasses.replace(
            self,
            model_kind=str(values.get("source_kind")),
            algorithm=self.algorithm or (str(values["algorithm"]) if values.get("algorithm") else None),
            size_mb=round(graph_bytes / 1e6, 3),
            weights="int8" if values.get(QUANTIZATION_KEY) else "float32",
            label_map=label_map(classes if isinstance(classes, list) else None),
            preprocessing=preprocessing(
                str(values["input_layout"]), str(values["input_scaling"]), values.get("input_shape")
            ),
        )

    @classmethod
    def from_onnx(cls, source: str | os.PathLike[str] | Any) -> RunRecord:
        """The record an exported ONNX file (or a loaded :class:`~asl_recog.models.OnnxModel`) carries,
        its checksum verified; for a graph without one (an older export, another tool's) what its
        metadata says, the rest None.

        Raises:
            ModelFileError: missing, unreadable or tampered file, or a record of the wrong shape.

        Example:
            >>> record = RunRecord.from_onnx("runs/best.onnx")
            >>> record.model_kind, record.label_map["0"], record.preprocessing["layout"]
            ('sklearn', 'A', 'flat')
            >>> RunRecord.from_onnx(OnnxModel.load("runs/best.onnx")) == record
            True
        """
        from asl_recog.models._onnx import OnnxModel

        model: Any = source
        if isinstance(source, OnnxModel):  # loaded, so its checksum was verified then
            where = source.source
            graph_bytes = len(import_onnx().load_from_string(source.onnx_bytes).graph.SerializeToString())
            embedded = model.metadata.get(RECORD_KEY)
        else:
            proto, props = read_props(source)
            where, graph_bytes = str(source), len(proto.graph.SerializeToString())
            embedded = decode_props({RECORD_KEY: props[RECORD_KEY]})[RECORD_KEY] if RECORD_KEY in props else None
            # Without a record: what the graph and its metadata say (loading also checks that it runs).
            model = None if embedded is not None else OnnxModel(source)
        if embedded is not None:
            return cls.from_dict(embedded, where=where)
        meta = model.metadata
        values = {"source_kind": meta.get("source_kind", "onnx"), **meta}
        record = cls.from_model(model, name=Path(where).stem).for_graph(values, graph_bytes)
        # Not this environment's versions: those of whatever wrote the file, which it does not say.
        version = meta.get("asl_recog_version")
        return dataclasses.replace(
            record, asl_recog_version=str(version or "unknown"), packages_sha256=None, packages_count=None
        )

    def mlflow_metadata(self) -> dict[str, Any]:
        """The dict to pass as ``metadata=`` to ``mlflow.onnx.log_model``: the same record, as JSON values.

        ``RECORD_KEY`` holds :meth:`to_dict`; the label map, preprocessing, licence and versions
        are repeated at the top, where the MLflow UI and a client read them without parsing the
        record. :meth:`from_mlflow_metadata` reads it back.

        Example:
            >>> meta = RunRecord(name="cnn", label_map={"0": "A"}).mlflow_metadata()
            >>> meta["label_map"], meta["model_version"], RunRecord.from_mlflow_metadata(meta).name
            ({'0': 'A'}, 1, 'cnn')
        """
        values = self.to_dict()
        return {
            RECORD_KEY: values,
            "model_version": self.model_version,
            "asl_recog_version": self.asl_recog_version,
            "license": self.license,
            "label_map": self.label_map,
            "preprocessing": self.preprocessing,
        }

    @classmethod
    def from_mlflow_metadata(cls, metadata: Any) -> RunRecord:
        """The record in an MLflow model's metadata (as :meth:`mlflow_metadata` wrote it)."""
        if not isinstance(metadata, dict) or RECORD_KEY not in metadata:
            raise ModelFileError(
                f"the MLflow model's metadata has no {RECORD_KEY!r}; log it with record.mlflow_metadata()"
            )
        return cls.from_dict(metadata[RECORD_KEY], where="the MLflow model's metadata")


_KINDS: dict[str, tuple[type, ...]] = {
    **{k: _STR for k in ("name", "model_kind", "algorithm", "asl_recog_version", "packages_sha256", "license")},
    **{k: _STR for k in ("data_source", "train_sha256", "validation_sha256", "split", "primary_metric")},
    **{k: _STR for k in ("refit_note", "test_source", "weights")},
    **{k: _INT for k in ("model_version", "packages_count", "train_rows", "validation_rows")},
    **{k: _INT for k in ("refit_epochs", "refit_rows", "test_rows")},
    **{k: _FLOAT for k in ("validation_score", "test_accuracy", "test_macro_f1", "mca", "latency_p50_ms", "size_mb")},
    **{k: _DICT for k in ("settings", "params", "weakest_corruptions", "photos_top1", "label_map", "preprocessing")},
    **{k: _PAIR for k in ("test_accuracy_ci", "mca_ci")},
    "refit": _BOOL,
    "trial": (int, str),
}


def finite(value: Any) -> float | None:
    """``value`` as a float, or None when it is missing, not a number, NaN or infinite.

    Example:
        >>> finite("0.5"), finite(float("nan")), finite(None)
        (0.5, None, None)
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def jsonable(value: Any) -> Any:
    """``value`` as JSON values: what is not JSON becomes its text, NaN and infinities None.

    Example:
        >>> jsonable({"layers": (32, 64), "builder": len, "decay": float("nan")})
        {'layers': [32, 64], 'builder': '<built-in function len>', 'decay': None}
    """
    return json.loads(json.dumps(_finite_only(value), default=str, allow_nan=False))


def _finite_only(value: Any) -> Any:
    # json.dumps would write NaN as a bare NaN, which is not JSON (nor what YAML reads back).
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite_only(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_only(v) for v in value]
    if isinstance(value, np.generic):
        return _finite_only(value.item())
    return value


def data_source(data: SignMnistDataset | str) -> str:
    """Where a dataset (or a dataset's ``source``) came from, as a record says it: the bundled copy by
    its file name (not this machine's path to it), any other source as the dataset names it.

    Example:
        >>> data_source(load_sign_mnist("train"))
        'the bundled copy of Sign Language MNIST (sign_mnist_train.csv.gz)'
    """
    source = data if isinstance(data, str) else data.source
    path = Path(source)
    if path.parent.resolve() == BUNDLED_DATA_DIR.resolve():
        return f"the bundled copy of Sign Language MNIST ({path.name})"
    return source


def dataset_sha256(data: SignMnistDataset) -> str:
    """SHA-256 of a dataset's arrays: dtype, shape and bytes of the images, then of the labels.

    The same digest names the data in a shared search's artifact store and in MLflow's tags.

    Example:
        >>> dataset_sha256(train) == dataset_sha256(train[:])
        True
    """
    return arrays_sha256(data.images, data.labels)


__all__ = [
    "DATASET_ID",
    "DATA_LICENSE",
    "RECORD_KEY",
    "RunRecord",
    "data_source",
    "dataset_sha256",
    "finite",
    "jsonable",
]
