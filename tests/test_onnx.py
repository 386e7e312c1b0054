"""ONNX export and OnnxModel on real data: parity for every portfolio model and both CNN builders,
metadata round trips, Azure AutoML-style graphs, and clear errors for bad files."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import asl_recog as asl
from asl_recog.data._labels import LABELS, labels_to_indices
from asl_recog.models._export import OnnxExportError, export_onnx
from asl_recog.models._onnx import OnnxModel
from asl_recog.models._onnx_format import CHECKSUM_KEY, class_columns
from asl_recog.models._parity import PARITY_ATOL

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("skl2onnx")

# Portfolio algorithm -> settings that keep a fit on 2,400 images to a few seconds.
FAST = {
    "LogisticRegression": {"C": 0.05},
    "SGD": {"loss": "log_loss", "alpha": 1e-3},
    "LinearSVM": {"C": 0.01},
    "RandomForest": {"n_estimators": 20, "max_features": "sqrt", "max_leaf_nodes": 64},
    "ExtremeRandomTrees": {"n_estimators": 20, "max_features": "sqrt", "max_leaf_nodes": 64},
    "LightGBM": {"learning_rate": 0.3, "max_leaf_nodes": 8, "l2_regularization": 1e-3},
    "KNN": {"n_components": 30, "n_neighbors": 5, "weights": "distance"},
    "SVM": {"n_components": 30, "C": 10.0},
    "MLP": {"hidden": 64, "alpha": 1e-4, "learning_rate_init": 3e-3, "max_iter": 20},
}


def _fit_portfolio(algorithm: str, train: asl.SignMnistDataset) -> asl.SklearnModel:
    import warnings

    from threadpoolctl import threadpool_limits

    from asl_recog.routes.automl._portfolio import build_pipeline

    pipe = build_pipeline(algorithm, FAST[algorithm], seed=0)
    if algorithm == "LightGBM":
        pipe.set_params(max_iter=5, early_stopping=False)  # 5 rounds x 24 trees: enough to exercise the converter
    if algorithm == "LinearSVM":  # 24 one-vs-rest liblinear fits x 4 (calibration folds): the slowest to fit
        pipe.set_params(calibratedclassifiercv__estimator__max_iter=100)
        train = train[::4]
    with threadpool_limits(1), warnings.catch_warnings():  # one thread: the CI machine has two shared cores
        warnings.simplefilter("ignore")
        pipe.fit(train.flat, labels_to_indices(train.labels))
    return asl.SklearnModel(pipe, params=FAST[algorithm], info={"algorithm": algorithm, "validation_score": 0.5})


def _assert_parity(model: asl.Model, exported: OnnxModel, data: asl.SignMnistDataset) -> None:
    want, got = model.predict_proba(data), exported.predict_proba(data)
    assert got.shape == (len(data), 24) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=PARITY_ATOL, rtol=0)
    # Same letter everywhere, except where the model itself ties (forests and KNN vote in fractions).
    chosen = labels_to_indices(exported.predict(data))
    assert np.all(want[np.arange(len(data)), chosen] >= want.max(axis=1) - 1e-6)


# -- scikit-learn portfolio ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def logistic(small_split: Any) -> asl.SklearnModel:
    return _fit_portfolio("LogisticRegression", small_split[0])


@pytest.fixture(scope="module")
def exported_logistic(
    logistic: asl.SklearnModel, small_split: Any, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, OnnxModel]:
    path = tmp_path_factory.mktemp("onnx") / "logistic.onnx"
    return path, export_onnx(logistic, path, parity_data=small_split[1], metadata={"run": "test-1"})


def test_logistic_parity_and_metadata_round_trip(
    logistic: asl.SklearnModel, exported_logistic: Any, small_split: Any
) -> None:
    path, exported = exported_logistic
    _assert_parity(logistic, exported, small_split[1])
    loaded = asl.Model.load(path)
    assert isinstance(loaded, OnnxModel)
    meta = loaded.metadata
    assert meta["labels"] == list(LABELS) and meta["letters"] == list(asl.LETTERS)
    assert meta["input_layout"] == "flat" and meta["input_scaling"] == "unit" and meta["input_shape"] == [None, 784]
    assert meta["source_kind"] == "sklearn" and meta["algorithm"] == "LogisticRegression"
    assert meta["asl_recog_version"] == asl.__version__ and meta["run"] == "test-1"
    assert meta["params"] == {"C": 0.05} and meta["validation_score"] == 0.5
    assert loaded.params == {"C": 0.05} and loaded.info["validation_score"] == 0.5
    assert loaded.input_name == "pixels" and loaded.output_name == "probabilities"
    raw = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(raw["letters"])[0] == "A" and len(raw[CHECKSUM_KEY]) == 64


def test_every_input_layout_gives_the_same_probabilities(exported_logistic: Any, small_test: Any) -> None:
    _, model = exported_logistic
    data = small_test[:16]
    expected = model.predict_proba(data)
    for images in (
        data.images,
        data.float_images,
        data.flat,
        data.images.reshape(16, 784),
        data.images.astype(np.float64) / 255.0,
    ):
        np.testing.assert_allclose(model.predict_proba(images), expected, atol=1e-6)
    np.testing.assert_allclose(model.predict_proba(data.images[0]), expected[:1], atol=1e-6)
    letters = model.predict_letters(data.flat)
    assert set(letters) <= set(asl.LETTERS)
    np.testing.assert_array_equal(letters, model.predict_letters(data.images))
    with pytest.raises(asl.DataFormatError, match="shape"):
        model.predict_proba(np.zeros((2, 27, 28), dtype=np.uint8))
    # Large batches run in parts on several threads at once; the answers must not change.
    big = OnnxModel.load(exported_logistic[0], threads=2)
    batch = big.predict_proba(small_test[:128])
    np.testing.assert_allclose(
        batch, np.vstack([big.predict_proba(small_test[i : i + 16]) for i in range(0, 128, 16)]), atol=1e-6
    )
    assert model.predict_proba(small_test[:0]).shape == (0, 24)


def test_a_batch_over_the_rows_per_run_is_scored_in_order_on_one_and_two_threads(
    exported_logistic: Any, small_test: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, model = exported_logistic
    expected = model.predict_proba(small_test[:128])
    monkeypatch.setattr("asl_recog.models._onnx.ROWS_PER_RUN", 24)  # 11 parts of 12 rows on 2 threads
    for threads in (1, 2):
        np.testing.assert_allclose(
            OnnxModel.load(path, threads=threads).predict_proba(small_test[:128]), expected, atol=1e-6
        )


def test_save_copies_the_bytes(exported_logistic: Any, tmp_path: Path) -> None:
    path, model = exported_logistic
    copy = model.save(tmp_path / "copy")  # suffix added
    assert copy.suffix == ".onnx" and copy.read_bytes() == path.read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", [a for a in FAST if a != "LogisticRegression"])
def test_portfolio_parity(algorithm: str, small_split: Any, tmp_path: Path) -> None:
    model = _fit_portfolio(algorithm, small_split[0])
    exported = export_onnx(model, tmp_path / f"{algorithm}.onnx", parity_data=small_split[1])
    _assert_parity(model, exported, small_split[1])
    assert exported.metadata["algorithm"] == algorithm


@pytest.mark.slow
def test_soft_voting_ensemble_parity(logistic: asl.SklearnModel, small_split: Any, tmp_path: Path) -> None:
    from asl_recog.routes.automl._voting import soft_voting

    trees = _fit_portfolio("ExtremeRandomTrees", small_split[0])
    ensemble = asl.SklearnModel(soft_voting([logistic.estimator, trees.estimator], [2.0, 1.0]))
    exported = export_onnx(ensemble, tmp_path / "vote.onnx", parity_data=small_split[1])
    _assert_parity(ensemble, exported, small_split[1])


# -- Keras builders --------------------------------------------------------------------------------


def _fit_cnn(builder: str, params: dict[str, Any], train: asl.SignMnistDataset) -> asl.KerasModel:
    from asl_recog.routes.hyperdrive._builders import get_builder

    network = get_builder(builder)(params)
    network.fit(train.float_images, labels_to_indices(train.labels), epochs=1, batch_size=128, verbose=0)
    return asl.KerasModel(
        network, params=params, info={"builder": builder, "validation_score": 0.4, "training_seconds": 3.0}
    )


@pytest.mark.parametrize(
    ("builder", "params"),
    [
        ("seed", {"hidden": 64, "dropout": 0.2}),
        ("default", {"filters": 8, "hidden": 32, "dropout": 0.3, "augment": True}),  # augmentation + batch norm
    ],
)
def test_keras_parity(builder: str, params: dict[str, Any], small_split: Any, tmp_path: Path) -> None:
    model = _fit_cnn(builder, params, small_split[0])
    exported = export_onnx(model, tmp_path / f"{builder}.onnx", parity_data=small_split[1])
    _assert_parity(model, exported, small_split[1])
    meta = OnnxModel.load(tmp_path / f"{builder}.onnx").metadata
    assert meta["source_kind"] == "keras" and meta["input_layout"] == "NHWC"
    assert meta["input_shape"] == [None, 28, 28, 1] and meta["training_seconds"] == 3.0
    assert exported.output_name == "probabilities"
    graph_ops = {node.op_type for node in onnx.load(str(tmp_path / f"{builder}.onnx")).graph.node}
    assert not any("Random" in op for op in graph_ops), "augmentation must not be in the inference graph"


# -- failures ---------------------------------------------------------------------------------------


class _ShuffledModel(asl.SklearnModel):
    """A model whose predict_proba disagrees with its estimator: the graph cannot match it."""

    def predict_proba(self, images: Any) -> np.ndarray:
        return np.roll(super().predict_proba(images), 1, axis=1)


def test_parity_failure_is_loud_and_writes_nothing(
    logistic: asl.SklearnModel, small_split: Any, tmp_path: Path
) -> None:
    target = tmp_path / "bad.onnx"
    with pytest.raises(OnnxExportError, match="parity check failed.*predicted letters differ"):
        export_onnx(_ShuffledModel(logistic.estimator), target, parity_data=small_split[1][:64])
    assert list(tmp_path.iterdir()) == []


def test_unsupported_model_and_empty_parity_data(logistic: asl.SklearnModel, tmp_path: Path) -> None:
    with pytest.raises(OnnxExportError, match="cannot export"):
        export_onnx(object(), tmp_path / "x.onnx")  # type: ignore[arg-type]
    with pytest.raises(OnnxExportError, match="empty"):
        export_onnx(logistic, tmp_path / "x.onnx", parity_data=np.zeros((0, 28, 28), dtype=np.uint8))
    assert not (tmp_path / "x.onnx").exists()


def test_truncated_file(exported_logistic: Any, tmp_path: Path) -> None:
    path, _ = exported_logistic
    blob = path.read_bytes()
    for size in (len(blob) // 2, 100, 0):
        bad = tmp_path / f"cut{size}.onnx"
        bad.write_bytes(blob[:size])
        with pytest.raises(asl.ModelFileError, match=f"{bad.name}.*(truncated|readable)"):
            OnnxModel.load(bad)


def test_tampered_weights_and_metadata(exported_logistic: Any, tmp_path: Path) -> None:
    path, _ = exported_logistic
    blob = bytearray(path.read_bytes())
    proto = onnx.load(str(path))
    arrays = [onnx.numpy_helper.to_array(t) for t in proto.graph.initializer]
    arrays += [np.asarray(a.floats, dtype=np.float32) for n in proto.graph.node for a in n.attribute]
    weights = max(arrays, key=np.size)  # the coefficients (an initializer or a node attribute)
    value = next(w.tobytes() for w in weights[len(weights) // 2 :] if bytes(blob).count(w.tobytes()) == 1)
    blob[bytes(blob).index(value)] ^= 0x01  # lowest mantissa bit of one weight: still a valid ONNX file
    (tmp_path / "flip.onnx").write_bytes(bytes(blob))
    with pytest.raises(asl.ModelFileError, match="checksum mismatch.*modified"):
        OnnxModel.load(tmp_path / "flip.onnx")
    entry = next(p for p in proto.metadata_props if p.key == "input_scaling")
    entry.value = json.dumps("raw")
    onnx.save(proto, str(tmp_path / "meta.onnx"))
    with pytest.raises(asl.ModelFileError, match="checksum mismatch"):
        OnnxModel.load(tmp_path / "meta.onnx")


def test_not_onnx_and_missing(tmp_path: Path) -> None:
    (tmp_path / "text.onnx").write_text("this is not a model\n" * 20)
    with pytest.raises(asl.ModelFileError, match="text.onnx"):
        OnnxModel.load(tmp_path / "text.onnx")
    with pytest.raises(asl.ModelFileError, match="no such"):
        asl.Model.load(tmp_path / "absent.onnx")


def test_wrong_input_shape(small_split: Any, tmp_path: Path) -> None:
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    train = small_split[0][:300]
    downsampled = train.float_images[:, ::2, ::2, 0].reshape(len(train), 196)  # 14x14 images
    est = LogisticRegression(max_iter=50).fit(downsampled, labels_to_indices(train.labels))
    path = tmp_path / "small.onnx"
    path.write_bytes(to_onnx(est, downsampled[:1], options={"zipmap": False}).SerializeToString())
    with pytest.raises(asl.ModelFileError, match=r"shape \[None, 196\].*784.*28, 28, 1"):
        OnnxModel.load(path)


def test_class_columns_reads_labels_indices_and_letters() -> None:
    np.testing.assert_array_equal(class_columns(list(LABELS)), np.arange(24))
    np.testing.assert_array_equal(class_columns(list(range(24))), np.arange(24))  # has 9: indices
    np.testing.assert_array_equal(class_columns(["a", "K", "Y"]), [0, 9, 23])
    np.testing.assert_array_equal(class_columns(["10", "24"]), [9, 23])  # no 9: dataset labels
    with pytest.raises(asl.ModelFileError):
        class_columns(["dog", "cat"])


@pytest.mark.parametrize("package", ["onnxruntime", "onnx", "skl2onnx"])
def test_a_broken_onnx_dependency_says_how_to_reinstall_it(package: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from asl_recog.models._export import convert_sklearn_estimator
    from asl_recog.models._onnx_format import import_onnx, import_ort

    monkeypatch.setitem(sys.modules, package, None)  # as if the package were missing
    load = {"onnxruntime": import_ort, "onnx": import_onnx, "skl2onnx": lambda: convert_sklearn_estimator(None)}
    with pytest.raises(
        asl.MissingDependencyError, match=rf"required dependency.*pip install --force-reinstall '{package}'"
    ) as info:
        load[package]()
    assert info.value.package == package and isinstance(info.value, ImportError)
    assert "[onnx]" not in str(info.value)  # no such extra: ONNX tooling is a core dependency


# -- Azure AutoML-style graphs ------------------------------------------------------------------------
# No real AutoML ONNX file is available offline, so these graphs mimic what AutoML writes with
# enable_onnx_compatible_models=True: producer "AutoML", raw 0..255 pixel inputs (one per CSV column,
# int64, mapped by the RawColumnNameToOnnxNameMap metadata, or one tensor), outputs "output_label" and
# "output_probability" behind a ZipMap keyed by the dataset labels of the label column.


def _automl_graph(estimator: Any, per_column: bool) -> Any:
    from onnx import TensorProto, helper
    from skl2onnx import to_onnx

    proto = to_onnx(estimator, np.zeros((1, 784), dtype=np.float32), target_opset={"": 17, "ai.onnx.ml": 3})
    # skl2onnx with its ZipMap on already names the outputs as AutoML does.
    assert [o.name for o in proto.graph.output] == ["output_label", "output_probability"]
    old_input = proto.graph.input[0].name
    if per_column:
        onnx_names = [f"pixel{i}_input" for i in range(1, 785)]
        columns = [helper.make_tensor_value_info(n, TensorProto.INT64, [None, 1]) for n in onnx_names]
        nodes = [
            helper.make_node("Concat", onnx_names, ["pixels_int"], axis=1),
            helper.make_node("Cast", ["pixels_int"], [old_input], to=TensorProto.FLOAT),
        ]
        rest = list(proto.graph.node)
        del proto.graph.node[:]
        proto.graph.node.extend(nodes + rest)
        del proto.graph.input[:]
        proto.graph.input.extend(reversed(columns))  # the map, not the order, says which column is which
        mapping = {f"pixel{i}": n for i, n in enumerate(onnx_names, start=1)}
        proto.metadata_props.add(key="RawColumnNameToOnnxNameMap", value=json.dumps(mapping))
        proto.metadata_props.add(key="InputRawColumnSchema", value=json.dumps({k: "integer" for k in mapping}))
    proto.producer_name = "AutoML"
    proto.graph.name = "AutoML_ONNX_Model_sign"
    return proto


@pytest.mark.parametrize("per_column", [True, False])
def test_azure_automl_graph(per_column: bool, small_split: Any, tmp_path: Path) -> None:
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train, validation = small_split
    raw = train.flat * 255.0  # AutoML trains on the CSV's 0..255 pixels and its label column
    est = make_pipeline(
        StandardScaler(), SGDClassifier(loss="log_loss", alpha=1e-2, max_iter=15, tol=None, random_state=0)
    ).fit(raw, train.labels)
    path = tmp_path / "automl.onnx"
    path.write_bytes(_automl_graph(est, per_column).SerializeToString())
    model = OnnxModel.load(path)
    assert model.metadata["source_kind"] == "azure_automl" and model.metadata["input_scaling"] == "raw"
    assert model.metadata["input_layout"] == ("columns" if per_column else "flat")
    assert model.output_name == "output_probability"
    data = validation[:40]
    want = est.predict_proba(data.flat * 255.0)
    np.testing.assert_allclose(model.predict_proba(data), want, atol=1e-4)
    # Saturated one-vs-rest probabilities can tie at 1.0, so check the predicted letter is a top one.
    chosen = labels_to_indices(model.predict(data))
    assert np.all(want[np.arange(len(data)), chosen] >= want.max(axis=1) - 1e-4)
    # Re-exporting adds our metadata and checksum but keeps AutoML's raw scaling and input mapping.
    again = export_onnx(model, tmp_path / "again.onnx", parity_data=data, metadata={"note": "from AutoML"})
    assert again.metadata["input_scaling"] == "raw" and again.metadata["source_kind"] == "azure_automl"
    assert CHECKSUM_KEY in again.metadata and again.metadata["note"] == "from AutoML"
    np.testing.assert_allclose(again.predict_proba(data), model.predict_proba(data), atol=1e-6)
