"""A model backed by an ONNX graph run with onnxruntime (ours, or one from Azure AutoML)."""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from asl_recog._errors import ModelFileError
from asl_recog.data._labels import IMAGE_SIZE, LABELS, LETTERS, NUM_CLASSES, NUM_PIXELS
from asl_recog.models._base import Model, to_model_input
from asl_recog.models._onnx_format import (
    CHECKSUM_KEY,
    LAYOUTS,
    ORT_DTYPES,
    PROBA_NAMES,
    SCALINGS,
    check_shape,
    class_columns,
    decode_props,
    graph_classes,
    import_onnx,
    import_ort,
    infer_layout,
    map_columns,
    metadata_checksum,
)
from asl_recog.models._onnx_safety import check_self_contained

#: Batches at least this large are split into parts that run at once, one per thread.
BATCH_THREADS_FROM = 64
#: Most images onnxruntime holds at once (all parts together); larger inputs are scored in chunks.
ROWS_PER_RUN = 1024


class OnnxModel(Model):
    """A fitted sign classifier stored as ONNX and run with onnxruntime.

    Loads graphs written by :func:`export_onnx` (with their metadata and a
    tamper checksum) and graphs exported by Azure AutoML
    (``enable_onnx_compatible_models``: one input per pixel column or a single
    tensor, ``output_probability`` possibly behind a ZipMap). The session is
    created once; :meth:`predict_proba` only reshapes, scales and runs.

    Attributes:
        metadata: the graph's metadata, JSON values decoded: ``labels``,
            ``letters``, ``input_layout``, ``input_scaling``, ``source_kind``,
            ``asl_recog_version``, ``params``, ``info``, ``validation_score``...
        input_name: the name of the graph's (first) input.
        source: where the model came from, for messages.

    Example:
        >>> model = OnnxModel.load("runs/best.onnx")  # here a KNN exported from scikit-learn
        >>> model.metadata["input_layout"], model.predict_letters(load_sign_mnist("test")[:3])
        ('flat', array(['H', 'R', 'W'], dtype='<U1'))
    """

    kind = "onnx"
    suffixes = (".onnx",)

    def __init__(
        self,
        model: bytes | str | os.PathLike[str] | Any,
        *,
        source: str | None = None,
        threads: int | None = None,
        verify: bool = True,
    ) -> None:
        """Open an ONNX model from bytes, a path, or an ``onnx.ModelProto``.

        Args:
            model: the serialized graph, a path to it, or a ModelProto.
            source: a name for messages (defaults to the path or ``"<bytes>"``).
            threads: threads for batches of :data:`BATCH_THREADS_FROM` images or more, each
                scoring a part of the batch; default ``min(2, cpu count)``. Smaller requests
                always run on one thread.
            verify: check the asl_recog checksum when the graph carries one.

        Raises:
            ModelFileError: unreadable, truncated, tampered, or wrong input shape.
        """
        onnx = import_onnx()
        if isinstance(model, (str, os.PathLike)):
            path = Path(model)
            if not path.is_file():
                raise ModelFileError(f"{path}: no such ONNX model file")
            source = source or str(path)
            model = path.read_bytes()
        elif not isinstance(model, (bytes, bytearray)):
            model = model.SerializeToString()
        self.source = source or "<bytes>"
        self._bytes = bytes(model)
        try:
            proto = onnx.load_from_string(self._bytes)
        except Exception as exc:  # protobuf raises DecodeError and friends
            raise ModelFileError(
                f"{self.source}: not a readable ONNX file ({exc}); it may be truncated. Re-export the model."
            ) from exc
        if not proto.graph.node:
            raise ModelFileError(f"{self.source}: the ONNX graph is empty; the file is truncated or not a model")
        check_self_contained(proto, self.source)
        props = {p.key: p.value for p in proto.metadata_props}
        if verify and CHECKSUM_KEY in props:
            expected = metadata_checksum(proto.graph.SerializeToString(deterministic=True), props)
            if expected != props[CHECKSUM_KEY]:
                raise ModelFileError(
                    f"{self.source}: checksum mismatch; the ONNX file was modified after export. "
                    "Re-export it with asl_recog.export_onnx."
                )
        self.metadata: dict[str, Any] = decode_props(props)
        self._threads = max(1, threads or min(2, os.cpu_count() or 1))
        self._session = self._make_session()
        # Large batches are split into parts scored at once on the same session (onnxruntime's
        # run is thread-safe and releases the GIL), rather than on a twin session with intra-op
        # threads: on 2 cores that reads 1,024 images 1.7x faster for the int8 CNN, 1.1x for the
        # AutoML MLP and as fast for the float CNN, whose convolutions alone split well (docs/
        # benchmarks.md, "ONNX graph rewrites and split batches"). No thread starts before the first.
        self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="asl-recog-onnx")
        self._setup_io(proto)
        params, info = self.metadata.get("params"), self.metadata.get("info")
        super().__init__(params if isinstance(params, dict) else None, info if isinstance(info, dict) else None)
        if "validation_score" in self.metadata and "validation_score" not in self.info:
            self.info["validation_score"] = self.metadata["validation_score"]
        self._check_prediction()

    def _check_prediction(self) -> None:
        """Run one blank image through the graph: a model whose output does not fit its metadata
        fails here, at load, rather than on every prediction later."""
        try:
            proba = self.predict_proba(np.zeros((1, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8))
        except ModelFileError:
            raise
        except Exception as exc:  # onnxruntime raises Fail/RuntimeException/InvalidArgument, numpy ValueError
            raise ModelFileError(
                f"{self.source}: the graph fails on a blank 28x28 image ({type(exc).__name__}: "
                f"{exc}). It is not a working sign classifier; re-export it."
            ) from exc
        if not np.isfinite(proba).all():
            raise ModelFileError(
                f"{self.source}: the graph returns NaN or infinite probabilities for a blank image; re-export it."
            )

    # -- loading -------------------------------------------------------------------------------

    def _make_session(self) -> Any:
        ort = import_ort()
        options = ort.SessionOptions()
        # One image is tiny (784 pixels): an intra-op thread pool only adds hand-off latency, so
        # every run is on the calling thread; large batches run parts on several threads at once.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        try:
            return ort.InferenceSession(self._bytes, sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises Fail/InvalidGraph/InvalidProtobuf
            raise ModelFileError(
                f"{self.source}: onnxruntime cannot load the graph ({exc}). "
                "The file may be truncated or tampered with; re-export it."
            ) from exc

    def _setup_io(self, proto: Any) -> None:
        inputs = self._session.get_inputs()
        is_automl = (
            proto.producer_name == "AutoML"
            or proto.graph.name.startswith("AutoML_ONNX_Model_")
            or "RawColumnNameToOnnxNameMap" in self.metadata
        )
        self.metadata.setdefault("source_kind", "azure_automl" if is_automl else "onnx")
        if len(inputs) == 1:
            self._column_inputs: list[tuple[str, Any]] | None = None
            layout = self.metadata.get("input_layout") or infer_layout(inputs[0].shape, self.source)
        elif len(inputs) == NUM_PIXELS:
            self._column_inputs = map_columns(inputs, self.metadata.get("RawColumnNameToOnnxNameMap"), self.source)
            layout = "columns"
        else:
            raise ModelFileError(
                f"{self.source}: the graph has {len(inputs)} inputs; expected one image tensor "
                f"or {NUM_PIXELS} pixel columns"
            )
        if layout not in LAYOUTS:
            raise ModelFileError(f"{self.source}: unknown input_layout {layout!r} in metadata; expected {LAYOUTS}")
        check_shape(inputs[0].shape, layout, self.source)
        scaling = self.metadata.get("input_scaling") or ("raw" if is_automl else "unit")
        if scaling not in SCALINGS:
            raise ModelFileError(f"{self.source}: unknown input_scaling {scaling!r} in metadata; expected {SCALINGS}")
        self.metadata.update(input_layout=layout, input_scaling=scaling)
        self.metadata.setdefault("labels", list(LABELS))
        self.metadata.setdefault("letters", list(LETTERS))
        self.input_name: str = inputs[0].name
        self._layout, self._scale = layout, 255.0 if scaling == "raw" else 1.0
        self._dtype = ORT_DTYPES.get(inputs[0].type)
        if self._dtype is None:
            raise ModelFileError(
                f"{self.source}: input {self.input_name!r} has type {inputs[0].type}; "
                "expected a float or integer tensor"
            )
        self._pick_output(proto)

    def _pick_output(self, proto: Any) -> None:
        outputs = self._session.get_outputs()
        ranked = sorted(
            outputs,
            key=lambda o: (o.name not in PROBA_NAMES, not o.type.startswith("seq(map") and o.type != "tensor(float)"),
        )
        chosen = next(
            (
                o
                for o in ranked
                if o.type.startswith("seq(map") or (o.type in ("tensor(float)", "tensor(double)") and len(o.shape) == 2)
            ),
            None,
        )
        if chosen is None:
            raise ModelFileError(f"{self.source}: no probability output among {[(o.name, o.type) for o in outputs]}")
        self.output_name: str = chosen.name
        self._output_names = [chosen.name]
        self._zipmap = chosen.type.startswith("seq(map")
        if isinstance(self.metadata.get("classes"), list):  # our exports list class indices 0-23
            self._columns: np.ndarray | None = np.asarray(self.metadata["classes"], dtype=np.int64)
        else:
            classes = graph_classes(proto.graph)
            self._columns = class_columns(classes) if classes is not None else None
        width = chosen.shape[-1] if not self._zipmap else None
        if self._columns is None and isinstance(width, int) and width != NUM_CLASSES:
            raise ModelFileError(
                f"{self.source}: output {chosen.name!r} has {width} columns and the graph names "
                f"no classes; expected {NUM_CLASSES} sign classes"
            )

    # -- inference -----------------------------------------------------------------------------

    def _feed(self, images: Any) -> dict[str, np.ndarray]:
        x = to_model_input(images)
        if self._scale != 1.0:
            x = np.rint(x * self._scale)
        if self._column_inputs is not None:
            flat = x.reshape(len(x), NUM_PIXELS)
            return {name: flat[:, i : i + 1].astype(dtype) for i, (name, dtype) in enumerate(self._column_inputs)}
        if self._layout == "flat":
            x = x.reshape(len(x), NUM_PIXELS)
        elif self._layout == "NCHW":
            x = x.reshape(len(x), 1, IMAGE_SIZE, IMAGE_SIZE)
        return {self.input_name: x if x.dtype == self._dtype else x.astype(self._dtype)}

    def graph_feed(self, images: Any) -> dict[str, np.ndarray]:
        """The graph's inputs for ``images``, reshaped and scaled as its metadata says (input name -> array)."""
        return self._feed(images)

    def predict_proba(self, images: Any) -> np.ndarray:
        """Return ``(N, 24)`` float32 class probabilities in class-index (LETTERS) order."""
        feed = self._feed(images)
        count = len(next(iter(feed.values())))
        if count == 0:  # some graphs (reshapes of a 0-length batch) reject empty input
            return np.zeros((0, NUM_CLASSES), dtype=np.float32)
        if count <= ROWS_PER_RUN and (self._threads == 1 or count < BATCH_THREADS_FROM):
            return self._place_columns(self._session.run(self._output_names, feed)[0], count)
        # Parts of at most ROWS_PER_RUN rows in flight together: chunks bound memory (a KNN graph
        # holds an (N x stored samples) distance matrix, 1.6 GB for the test file against an
        # augmented training set), and threads share the chunk.
        step = max(1, min(math.ceil(count / self._threads), ROWS_PER_RUN // self._threads))
        mapped = map if self._threads == 1 else self._pool.map
        return np.concatenate(list(mapped(lambda i: self._run(feed, i, min(count, i + step)), range(0, count, step))))

    def _run(self, feed: dict[str, np.ndarray], start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of ``feed`` through the graph, as ``(rows, 24)`` probabilities."""
        part = {k: v[start:stop] for k, v in feed.items()}
        return self._place_columns(self._session.run(self._output_names, part)[0], stop - start)

    def _place_columns(self, out: Any, count: int) -> np.ndarray:
        """The graph's output as ``(count, 24)`` float32 probabilities in class-index order."""
        if self._zipmap:  # a list of {class: probability} dicts, one per image
            classes = list(out[0].keys()) if len(out) else []
            columns = class_columns(classes) if classes else np.zeros(0, dtype=np.int64)
            values = np.asarray([[row[c] for c in classes] for row in out], dtype=np.float32)
            full = np.zeros((len(out), NUM_CLASSES), dtype=np.float32)
            if len(out):
                full[:, columns] = values
            return full
        out = np.asarray(out, dtype=np.float32)
        width = len(self._columns) if self._columns is not None else NUM_CLASSES
        if out.shape != (count, width):
            raise ModelFileError(
                f"{self.source}: output {self.output_name!r} has shape {out.shape} for {count} "
                f"image(s); its metadata and graph name {width} classes, so it should be "
                f"({count}, {width}). Re-export the model."
            )
        if self._columns is not None and not (
            len(self._columns) == NUM_CLASSES and np.array_equal(self._columns, np.arange(NUM_CLASSES))
        ):
            full = np.zeros((len(out), NUM_CLASSES), dtype=np.float32)
            full[:, self._columns] = out
            return full
        return out

    # -- files ---------------------------------------------------------------------------------

    @property
    def onnx_bytes(self) -> bytes:
        """The serialized ONNX graph, as loaded."""
        return self._bytes

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the ONNX bytes unchanged (metadata and checksum included) to ``path``."""
        path = Path(path)
        if path.suffix.lower() != ".onnx":
            path = path.with_suffix(".onnx")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self._bytes)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, threads: int | None = None) -> OnnxModel:
        """Load an ``.onnx`` file written by :func:`export_onnx` or by Azure AutoML.

        Raises:
            ModelFileError: missing, unreadable, truncated, tampered, or not a 28x28 sign classifier.
        """
        return cls(Path(path), threads=threads)

    def __repr__(self) -> str:
        return f"OnnxModel(source={self.source!r}, kind={self.metadata.get('source_kind')!r}, layout={self._layout!r})"


def require_onnx_file(path: str | os.PathLike[str], reader: str, alternative: str) -> Path:
    """``path`` when it names an ``.onnx`` file, else ModelFileError with the export command.

    The one rule of every loader that takes a model file from outside (the service, the
    deployers): ONNX graphs are data run by onnxruntime; a training format (skops, Keras) may
    hold code, so it is refused by name before anything reads it.

    Args:
        path: the file given.
        reader: who refuses it and how, for the message (``"the service loads"``, ``"deployers load"``).
        alternative: the other way to give a model there, appended to the fix.

    Example:
        >>> require_onnx_file("model.skops", "the service loads", "or export it in a session that trusts it")
        Traceback (most recent call last):
        asl_recog._errors.ModelFileError: model.skops: the service loads .onnx files only (graphs, not code). ...
    """
    path = Path(path)
    if path.suffix.lower() != ".onnx":
        raise ModelFileError(
            f"{path}: {reader} .onnx files only (graphs, not code). Fix: export it first with "
            f"'asl-recog export {path} {path.with_suffix('.onnx')}', {alternative}"
        )
    return path
