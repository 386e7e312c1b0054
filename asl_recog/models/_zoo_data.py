"""The test data set written beside each exported model, as the ONNX Model Zoo ships one.

``best.onnx`` gets ``best_test_data/test_data_set_0/input_0.pb`` (the graph's input, one
serialized ``onnx.TensorProto`` per graph input) and ``output_0.pb`` (one per graph output, in
the graph's order): a few real training or validation images and the graph's answers on them,
so any ONNX runtime can check the file. The Zoo puts ``test_data_set_0`` straight beside a
model; here it sits in a folder named after the model, so two models exported into one folder
do not overwrite each other's. The rows never come from the test file.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from asl_recog.data._dataset import SignMnistDataset, load_sign_mnist
from asl_recog.models._onnx_format import import_onnx, quiet_session
from asl_recog.models._parity import PARITY_ATOL, parity_failure, parity_sample

logger = logging.getLogger("asl_recog")

#: Images in each written test data set.
ZOO_DATA_ROWS = 8
#: The Zoo's name of the first (here the only) data set.
DATA_SET = "test_data_set_0"


def zoo_data_folder(model_path: str | os.PathLike[str]) -> Path:
    """Where the test data sets of ``model_path`` live: ``<stem>_test_data`` beside it.

    Example:
        >>> zoo_data_folder("runs/best.onnx")
        PosixPath('runs/best_test_data')
    """
    path = Path(model_path)
    return path.with_name(f"{path.stem}_test_data")


def zoo_data_rows(parity_data: Any, parity_images: np.ndarray) -> np.ndarray:
    """The rows a test data set is taken from: the export's parity images, unless they are the test file.

    Args:
        parity_data: what the caller passed as parity data (None: the bundled training file).
        parity_images: those images as the export read them.

    Example:
        >>> zoo_data_rows(None, train.images).shape
        (8, 28, 28)
    """
    source = parity_data.source if isinstance(parity_data, SignMnistDataset) else ""
    if Path(source).name.startswith("sign_mnist_test"):
        # The test file is read only by the Comparator: the shipped rows come from the training file.
        parity_images = load_sign_mnist("train").images
    return np.asarray(parity_sample(parity_images, ZOO_DATA_ROWS))


def write_zoo_data(model: Any, images: np.ndarray, model_path: str | os.PathLike[str]) -> Path | None:
    """Run ``images`` through ``model``'s graph and write its inputs and outputs as the Zoo's ``.pb`` files.

    Args:
        model: the exported :class:`~asl_recog.models.OnnxModel`.
        images: the real images to ship (see :func:`zoo_data_rows`).
        model_path: the exported file; the data set goes to :func:`zoo_data_folder` of it.

    Returns:
        The data set's folder, or None when a graph output is not a tensor (a ZipMap's
        list of dicts has no TensorProto form), which the log says.

    Example:
        >>> model = Model.load("runs/best.onnx")
        >>> folder = write_zoo_data(model, train.images[:2], "runs/best.onnx")
        >>> sorted(p.name for p in folder.iterdir())
        ['input_0.pb', 'output_0.pb', 'output_1.pb']
    """
    from onnx import numpy_helper

    session = quiet_session(model.onnx_bytes)
    feed = model.graph_feed(images)
    names = [i.name for i in session.get_inputs()]
    outputs = session.run(None, {name: feed[name] for name in names})
    if not all(isinstance(out, np.ndarray) for out in outputs):
        logger.warning("%s: a graph output is not a tensor; no test data set written", model_path)
        return None
    target = zoo_data_folder(model_path)
    target.mkdir(parents=True, exist_ok=True)
    # Written beside, then renamed: a failed write never leaves half a data set.
    staging = Path(tempfile.mkdtemp(dir=target, prefix=f".{DATA_SET}."))
    try:
        for prefix, arrays, tensor_names in (
            ("input", [feed[n] for n in names], names),
            ("output", outputs, [o.name for o in session.get_outputs()]),
        ):
            for index, (array, name) in enumerate(zip(arrays, tensor_names, strict=True)):
                tensor = numpy_helper.from_array(np.asarray(array), name)
                (staging / f"{prefix}_{index}.pb").write_bytes(tensor.SerializeToString())
        final = target / DATA_SET
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return final


def read_tensors(folder: Path, prefix: str) -> list[np.ndarray]:
    """``<prefix>_0.pb``, ``<prefix>_1.pb``... of a data set folder as arrays, in order (parsed as data)."""
    onnx = import_onnx()
    from onnx import numpy_helper

    arrays: list[np.ndarray] = []
    while (folder / f"{prefix}_{len(arrays)}.pb").is_file():
        tensor = onnx.TensorProto()
        tensor.ParseFromString((folder / f"{prefix}_{len(arrays)}.pb").read_bytes())
        arrays.append(numpy_helper.to_array(tensor))
    return arrays


def check_zoo_data(model_bytes: bytes, model_path: str | os.PathLike[str]) -> tuple[list[str], str]:
    """Run every test data set of a model through onnxruntime and compare with its outputs.

    The probability output (float, two dimensions) is held to the export's parity rule
    (:func:`~asl_recog.models._parity.parity_failure`); other float outputs to its tolerance,
    integer ones (predicted classes) must be equal.

    Returns:
        (what differs, one per line; empty when all agree), and a summary of what was checked.
    """
    folder = zoo_data_folder(model_path)
    sets = sorted(p for p in folder.glob("test_data_set_*") if p.is_dir()) if folder.is_dir() else []
    if not sets:
        return [f"no test data set: expected {folder / DATA_SET}; re-export the model to write one"], ""
    session = quiet_session(model_bytes)
    inputs, outputs = session.get_inputs(), session.get_outputs()
    problems: list[str] = []
    rows = 0
    for data_set in sets:
        given, want = read_tensors(data_set, "input"), read_tensors(data_set, "output")
        if len(given) != len(inputs) or len(want) != len(outputs):
            problems.append(
                f"{data_set}: {len(given)} inputs and {len(want)} outputs, the graph has {len(inputs)} and "
                f"{len(outputs)}; the data set belongs to another model"
            )
            continue
        try:
            got = session.run(None, {i.name: array for i, array in zip(inputs, given, strict=True)})
        except Exception as exc:  # onnxruntime's InvalidArgument/Fail: wrong shapes or types
            problems.append(f"{data_set}: the graph does not run on input_*.pb ({type(exc).__name__}: {exc})")
            continue
        rows += len(given[0])
        for index, (output, expected, actual) in enumerate(zip(outputs, want, got, strict=True)):
            where = f"{data_set.name}/output_{index}.pb ({output.name})"
            problem = _differs(np.asarray(expected), np.asarray(actual))
            if problem:
                problems.append(f"{where}: {problem}")
    return problems, f"{len(sets)} test data set(s), {rows} images, agree within the parity rule"


def _differs(want: np.ndarray, got: np.ndarray) -> str | None:
    if want.shape != got.shape:
        return f"the graph returns shape {got.shape}, the file holds {want.shape}"
    if np.issubdtype(want.dtype, np.floating):
        if want.ndim == 2:
            return parity_failure(want, got)
        worst = float(np.abs(want.astype(np.float64) - got).max()) if want.size else 0.0
        return None if worst <= PARITY_ATOL else f"values differ by up to {worst:.2e} (allowed {PARITY_ATOL:g})"
    if not np.array_equal(want, got):
        return f"{int(np.sum(want != got))} of {want.size} values differ"
    return None


__all__ = [
    "DATA_SET",
    "ZOO_DATA_ROWS",
    "check_zoo_data",
    "read_tensors",
    "zoo_data_folder",
    "zoo_data_rows",
    "write_zoo_data",
]
