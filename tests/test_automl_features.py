"""Issue 14: HOG featurization, the StackEnsemble, refit, guardrails and budget-aware ordering of the AutoML route."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.base import clone

import asl_recog as asl
from asl_recog._errors import ConfigurationError, DataFormatError
from asl_recog.data._labels import labels_to_indices
from asl_recog.models._base import SklearnModel
from asl_recog.models._export import export_onnx
from asl_recog.models._featurization import FeaturizationConfig
from asl_recog.models._hog import HogFeaturizer
from asl_recog.routes.automl._guardrails import class_balance, features, memory_and_size, validation_split
from asl_recog.routes.automl._ordering import order_by_budget, scale_seconds
from asl_recog.routes.automl._portfolio import ALGORITHMS, build_pipeline
from asl_recog.routes.automl._stacking import fit_meta_learner, stack_ensemble
from asl_recog.routes.automl._voting import soft_voting

# Small but real settings for each algorithm, so the parity tests stay in CI's budget.
_SMALL = {
    "MLP": {"hidden": 32, "max_iter": 10},
    "KNN": {"n_components": 30},
    "SVM": {"n_components": 40},
    "ExtremeRandomTrees": {"n_estimators": 10, "max_leaf_nodes": 64},
    "RandomForest": {"n_estimators": 10, "max_leaf_nodes": 64},
    "LightGBM": {"max_leaf_nodes": 15, "learning_rate": 0.3},
}


@pytest.fixture(scope="module")
def xy(small_split):
    train, validation = small_split
    few = train[np.concatenate([np.flatnonzero(train.labels == label)[:15] for label in np.unique(train.labels)])]
    return few.flat, labels_to_indices(few.labels), validation


# -- the featurizer ---------------------------------------------------------------------------------


def test_hog_is_a_cloneable_stateless_transformer(small_split) -> None:
    hog = HogFeaturizer(orientations=12, pixels_per_cell=7, cells_per_block=1)
    copy = clone(hog)
    assert copy.get_params() == {"orientations": 12, "pixels_per_cell": 7, "cells_per_block": 1}
    features_ = copy.fit_transform(small_split[0].flat[:5])
    assert features_.shape == (5, 4 * 4 * 12) and features_.dtype == np.float32
    np.testing.assert_array_equal(features_, hog.transform(small_split[0].flat[:5]))


def test_hog_of_a_vertical_edge_is_a_horizontal_gradient() -> None:
    image = np.zeros((28, 28), np.float32)
    image[:, 14:] = 1.0  # a vertical edge: the gradient points along the columns (0 degrees)
    cells = HogFeaturizer(cells_per_block=1).transform(image.reshape(1, -1)).reshape(9, 7, 7)
    edge = cells[:, 3, 3]  # the cell holding columns 12-15
    # 0 degrees lies between the first bin (centre 10) and the last (centre 170): shared equally, nothing else
    assert edge[0] == pytest.approx(edge[8]) and edge[0] > 0.5
    assert np.allclose(edge[1:8], 0.0)
    assert np.allclose(cells[:, 0, 0], 0.0)  # a flat patch has no gradient at all


@pytest.mark.parametrize(
    ("settings", "match"),
    [({"pixels_per_cell": 5}, "do not split"), ({"orientations": 0}, "positive"), ({"cells_per_block": 9}, "only 7")],
)
def test_bad_hog_settings_name_the_setting(settings, match) -> None:
    with pytest.raises(ConfigurationError, match=match):
        HogFeaturizer(**settings).fit(np.zeros((1, 784)))


def test_hog_in_chunks_equals_hog_image_by_image(train_data, monkeypatch) -> None:
    # transform works through big inputs a chunk at a time (memory); the chunk edges change nothing
    import asl_recog.models._hog as hog_module

    monkeypatch.setattr(hog_module, "CHUNK", 7)
    rows = train_data.flat[:30]
    chunked = HogFeaturizer().transform(rows)
    one_by_one = np.concatenate([HogFeaturizer().transform(rows[i : i + 1]) for i in range(len(rows))])
    assert chunked.dtype == np.float32 and chunked.shape == (30, 1296)
    np.testing.assert_array_equal(chunked, one_by_one)


def test_hog_refuses_images_of_the_wrong_width() -> None:
    with pytest.raises(DataFormatError, match="784"):
        HogFeaturizer().transform(np.zeros((2, 28, 28)))


def test_hog_is_close_to_scikit_image(small_split) -> None:
    import skimage.feature as skimage_feature  # a core dependency (its photos are the corruption backgrounds)

    images = small_split[0].images[:20].astype(np.float32) / 255.0
    ours = HogFeaturizer().transform(images.reshape(20, -1))
    theirs = np.stack(
        [
            skimage_feature.hog(i, orientations=9, pixels_per_cell=(4, 4), cells_per_block=(2, 2), block_norm="L2-Hys")
            for i in images
        ]
    )
    # same geometry and normalisation; only hard vs projected orientation binning differs
    assert ours.shape == theirs.shape
    assert np.corrcoef(np.sort(ours.ravel()), np.sort(theirs.ravel()))[0, 1] > 0.95


# -- ONNX parity: every featurized pipeline, both ensembles -----------------------------------------


@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
def test_every_hog_pipeline_exports_with_parity(algorithm, xy, small_test, tmp_path) -> None:
    x, y, _ = xy
    small_test = small_test[::4]  # 120 real test images, 5 per letter
    pipeline = build_pipeline(algorithm, {**_SMALL.get(algorithm, {}), "featurizer": "hog"}, seed=0).fit(x, y)
    assert pipeline.steps[0][0] == "hog"
    # export_onnx raises (and writes nothing) on any argmax flip or a probability off by > 1e-4;
    # it prints no dependency's deprecation notice either (skl2onnx probes SVC's deprecated probA_).
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        onnx_model = export_onnx(SklearnModel(pipeline), tmp_path / "m.onnx", parity_data=small_test)
    got = onnx_model.predict_proba(small_test)
    want = pipeline.predict_proba(small_test.flat)
    assert (got.argmax(1) == want.argmax(1)).all() and np.abs(got - want).max() <= 1e-4


@pytest.fixture(scope="module")
def members(xy):
    x, y, validation = xy
    return [
        build_pipeline("LogisticRegression", {"featurizer": "hog"}).fit(x, y),
        build_pipeline("KNN", {"n_components": 30, "featurizer": "hog"}).fit(x, y),
        build_pipeline("SVM", {"n_components": 40}).fit(x, y),  # raw pixels beside HOG
    ]


def test_voting_ensemble_of_featurized_pipelines_exports_with_parity(members, small_test, tmp_path) -> None:
    voting = soft_voting(members, [2, 1, 1])
    export_onnx(SklearnModel(voting), tmp_path / "vote.onnx", parity_data=small_test)


def test_stack_ensemble_exports_with_parity_and_loads_safely(members, xy, small_test, tmp_path) -> None:
    _, _, validation = xy
    targets = labels_to_indices(validation.labels)
    probas = [m.predict_proba(validation.flat) for m in members]
    meta, oof = fit_meta_learner(probas, targets, np.arange(len(targets)) // 3)
    assert oof.shape == (len(targets), 24) and np.allclose(oof.sum(1), 1.0)
    stack = stack_ensemble(members, meta)
    saved = SklearnModel(stack, {"algorithm": "StackEnsemble"}).save(tmp_path / "stack.aslskl")
    loaded = SklearnModel.load(saved)  # the safe format: HOG, stacking and calibration types rebuilt as data
    np.testing.assert_allclose(loaded.predict_proba(small_test), stack.predict_proba(small_test.flat))
    export_onnx(loaded, tmp_path / "stack.onnx", parity_data=small_test)


def test_the_stack_is_scored_out_of_fold() -> None:
    # Members that are pure noise: in-sample the meta-learner would memorise them; out of fold it cannot.
    rng = np.random.default_rng(0)
    targets = np.arange(240) % 24
    probas = [rng.dirichlet(np.ones(24), 240) for _ in range(3)]
    _, oof = fit_meta_learner(probas, targets, np.arange(240) // 4)
    assert (oof.argmax(1) == targets).mean() < 0.2


# -- featurization settings -------------------------------------------------------------------------


def test_featurization_settings_are_checked() -> None:
    assert asl.AutoMLTrainer(featurization="off").featurization == "off"
    with pytest.raises(ConfigurationError, match="'auto', 'off' or a FeaturizationConfig"):
        asl.AutoMLTrainer(featurization="hog")
    with pytest.raises(ConfigurationError, match="orientations"):
        FeaturizationConfig(["hog"], {"hog": {"orientations": 1}})


def test_a_featurization_config_reaches_the_pipeline() -> None:
    config = FeaturizationConfig(["hog"], {"hog": {"orientations": 6}})
    pipeline = build_pipeline("LogisticRegression", {"featurizer": "hog"}, featurization=config)
    assert pipeline.steps[0][1].get_params()["orientations"] == 6


# -- guardrails on crafted data ---------------------------------------------------------------------


def test_guardrails_alert_on_imbalance_and_a_random_split_of_near_duplicates(small_split) -> None:
    train, validation = small_split
    assert class_balance(train).status == "passed"
    rare = np.flatnonzero(train.labels == train.labels[0])[:5]
    others = np.flatnonzero(train.labels != train.labels[0])
    imbalanced = class_balance(train[np.sort(np.concatenate([rare, others]))])
    assert imbalanced.status == "alerted" and "rare letters" in imbalanced.description
    assert validation_split(train, validation).status == "passed"  # the grouped split
    leaky = validation_split(train, train[::4])  # validation images that are also training images
    assert leaky.status == "alerted" and "grouped split" in leaky.description


def test_guardrails_on_constant_pixels_and_memory(small_split) -> None:
    train = small_split[0]
    assert features(train).status == "passed"
    images = train.images.copy()
    images[:, 0, :] = 7  # a constant top row
    crafted = asl.SignMnistDataset(images, train.labels)
    check = features(crafted)
    assert check.status == "done" and "28 of 784 pixels are constant" in check.description
    assert memory_and_size(1000, 1, 100, available_bytes=2**34).status == "done"
    assert memory_and_size(10**6, 4, 100, available_bytes=2**30).status == "alerted"


# -- budget-aware ordering --------------------------------------------------------------------------


def test_ordering_skips_what_cannot_finish_and_defers_what_fits_only_last() -> None:
    estimates = {"SVM": 100.0, "KNN": 500.0, "MLP": 60.0, "SGD": 5.0}
    plan = order_by_budget(["SVM", "KNN", "MLP", "SGD"], estimates, budget_s=150.0, trial_timeout_s=300.0)
    assert plan.order == ["SVM", "SGD", "MLP"] and plan.deferred == ["MLP"]
    assert plan.skipped == {"KNN": "estimated 500 s to fit, over 2x the 150 s trial budget"}
    assert scale_seconds(1.0, 16.0, 2400) == pytest.approx(64.0)  # exponent clipped to 2


def test_ordering_skips_what_cannot_end_with_the_experiment_and_defers_a_near_miss() -> None:
    # Two workers leave 260 worker-seconds, but one trial runs on one worker: 130 s of wall time.
    estimates = {"SVM": 300.0, "RandomForest": 145.0, "MLP": 40.0}
    plan = order_by_budget(["SVM", "RandomForest", "MLP"], estimates, 260.0, 480.0, remaining_s=130.0)
    assert plan.skipped == {"SVM": "estimated 300 s to fit, over 2x the 130 s left in the experiment"}
    # estimates are rough (a 44 s MLP was once estimated at 91 s): a near miss is tried last, not lost
    assert plan.order == ["MLP", "RandomForest"] and plan.deferred == ["RandomForest"]


def test_probe_skips_the_larger_fit_once_the_small_one_proves_the_limit(small_split, monkeypatch) -> None:
    from asl_recog.routes.automl import _ordering

    train, _ = small_split  # 2,400 real images: both probe sizes (300 and 1,200 rows) apply
    fitted_rows: list[int] = []

    class Counting:
        def __init__(self, pipeline):
            self.pipeline = pipeline

        def fit(self, x, y):
            fitted_rows.append(len(x))
            return self.pipeline.fit(x, y)

    def counting_build(*args, **kwargs):
        return Counting(build_pipeline(*args, **kwargs))

    monkeypatch.setattr(_ordering, "build_pipeline", counting_build)
    defaults = {"KNN": {"featurizer": "pixels"}}  # quick to fit: the test is about which fits run
    x, y = train.flat, labels_to_indices(train.labels)
    free = _ordering.probe(["KNN"], defaults, x, y, budget_s=1e6)
    assert fitted_rows == [300, 1200] and free["KNN"] > 0
    fitted_rows.clear()
    bound = _ordering.probe(["KNN"], defaults, x, y, budget_s=1e6, limit_s=1e-6)
    assert fitted_rows == [300]  # already over a 1 µs limit: the larger fit would only confirm it
    assert bound["KNN"] > 1e-6  # and the estimate still says so, so the search skips it


# -- the whole route --------------------------------------------------------------------------------


def test_search_reports_guardrails_ordering_and_a_refit_stack(small_split, tmp_path) -> None:
    train, validation = small_split
    trainer = asl.AutoMLTrainer(
        allowed_models=["LogisticRegression", "KNN", "SGD"],
        max_iterations=3,
        enable_voting_ensemble=False,
        enable_stack_ensemble=True,
        augment=False,
        experiment_timeout_minutes=20,  # generous: a busy machine inflates the measured fit times
        iteration_timeout_minutes=10,
        run_dir=tmp_path / "run",
        progress=False,
    )
    result = trainer.fit(train, validation)
    board = result.leaderboard
    assert "StackEnsemble" in set(board["model"])
    searched = [p for p in board["params"] if p["algorithm"] != "StackEnsemble"]
    assert all(p.get("featurizer") in ("hog", "pixels") for p in searched)  # chosen by the search
    assert any(p.get("featurizer") == "hog" for p in searched)  # every default starts with HOG
    assert [g["status"] for g in result.extras["guardrails"]] == ["passed", "passed", "passed", "done"]
    # A seed, max_iterations and one worker: the repeatable mode's static cheap-first order, no probes.
    ordering = result.extras["ordering"]
    assert ordering["first_trials"] == ["KNN", "SGD", "LogisticRegression"] and ordering["estimated_fit_seconds"] == {}
    assert result.best_model.info["guardrails"] == result.extras["guardrails"]
    assert result.refit and result.refit_seconds > 0
    stack_row = board[board["model"] == "StackEnsemble"].iloc[0]
    # The refit of a selected stack: force the selection to the stack and refit again.
    from asl_recog.routes.automl._refit import refit_automl

    stack_file = sorted((tmp_path / "run" / "models").glob("stack_*.aslskl"))[0]
    stack_model = SklearnModel.load(stack_file)
    result.best_model, result.best_params, result.best_trial = stack_model, stack_model.params, stack_row["trial"]
    refit = refit_automl(trainer, result, train, validation, tmp_path / "run")
    assert type(refit.best_model.estimator).__name__ == "StackingClassifier"
    assert refit.best_model.info["refit_images"] == len(train) + len(validation)
    export_onnx(refit.best_model, tmp_path / "refit_stack.onnx", parity_data=validation)


def test_azure_refuses_a_featurizer_it_cannot_run_and_passes_its_own_modes() -> None:
    from asl_recog.backends import remote_spec
    from asl_recog.backends.azure._checks import automl_settings, check_automl

    hog = asl.AutoMLTrainer(experiment_timeout_minutes=15, featurization=FeaturizationConfig(["hog"]))
    for sdk in ("v1", "v2"):
        with pytest.raises(ConfigurationError, match="HOG featurizer") as info:
            check_automl(remote_spec(hog), sdk)
        assert "featurization='auto'" in str(info.value)  # the fix is named
        auto = asl.AutoMLTrainer(experiment_timeout_minutes=15, enable_stack_ensemble=True)
        settings = automl_settings(remote_spec(auto), sdk)
        assert settings["featurization"] == "auto" and settings["enable_stack_ensemble"] is True
