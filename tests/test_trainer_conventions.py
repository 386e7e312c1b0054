"""The trainers follow scikit-learn's estimator conventions and Azure's argument names (no training here)."""

from __future__ import annotations

import inspect

import pytest
from sklearn.base import clone

import asl_recog as asl
from asl_recog import _deprecation
from asl_recog.routes._settings import COMMON_SETTINGS, common_names
from asl_recog.routes.hyperdrive._trainer import builder_params


@pytest.fixture
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each deprecation warns once per process: forget earlier ones so this test sees its own."""
    monkeypatch.setattr(_deprecation, "_warned", set())


def _hyperdrive() -> asl.HyperDriveTrainer:
    return asl.HyperDriveTrainer(
        builder="seed",
        hyperparameter_sampling=asl.RandomParameterSampling({"hidden": asl.choice(8, 16)}, seed=3),
        policy=asl.BanditPolicy(slack_factor=0.1),
        max_total_runs=3,
        fixed_params={"epochs": 1},
        progress=False,
    )


def _automl() -> asl.AutoMLTrainer:
    return asl.AutoMLTrainer(allowed_models=["KNN", "SVM"], experiment_timeout_minutes=2, max_iterations=4)


TRAINERS = [_hyperdrive, _automl]


@pytest.mark.parametrize("make", TRAINERS)
def test_clone_gives_an_unfitted_copy_with_the_same_settings(make) -> None:
    trainer = make()
    copy = clone(trainer)
    assert type(copy) is type(trainer) and copy is not trainer
    assert copy.get_params(deep=True) == trainer.get_params(deep=True)
    assert repr(copy) == repr(trainer)


@pytest.mark.parametrize("make", TRAINERS)
def test_get_params_names_every_constructor_argument_and_set_params_round_trips(make) -> None:
    trainer = make()
    params = trainer.get_params(deep=True)
    arguments = {p.name for p in inspect.signature(type(trainer)).parameters.values() if p.kind is not p.VAR_KEYWORD}
    assert set(params) == arguments
    other = type(trainer)()
    assert other.set_params(**params) is other
    assert other.get_params() == params
    assert type(trainer)(**params).get_params() == params


@pytest.mark.parametrize("make", TRAINERS)
def test_set_params_rejects_an_unknown_name_with_the_nearest_one(make) -> None:
    trainer = make()
    with pytest.raises(asl.ConfigurationError, match="unknown setting 'sed' .*did you mean 'seed'"):
        trainer.set_params(sed=1)


def test_set_params_checks_values_and_leaves_the_trainer_unchanged_when_invalid() -> None:
    trainer = _automl()
    before = trainer.get_params()
    with pytest.raises(asl.ConfigurationError, match="max_iterations must be an integer >= 1"):
        trainer.set_params(seed=5, max_iterations=0)
    assert trainer.get_params() == before
    with pytest.raises(asl.ConfigurationError, match="needs the run_dir"):
        trainer.set_params(resume=True)
    assert trainer.set_params(resume=True, run_dir="runs/x").resume is True


def test_repr_shows_only_the_settings_that_differ_from_the_defaults() -> None:
    assert repr(asl.AutoMLTrainer()) == "AutoMLTrainer()"
    assert repr(asl.HyperDriveTrainer(max_total_runs=2, builder="seed")) == (
        "HyperDriveTrainer(builder='seed', max_total_runs=2)"
    )
    text = repr(_automl())
    assert text.startswith("AutoMLTrainer(") and "allowed_models=['KNN', 'SVM']" in text
    assert "seed" not in text and "0x" not in text


def test_sampling_is_a_deprecated_alias_of_hyperparameter_sampling(fresh_warnings: None) -> None:
    sampling = asl.RandomParameterSampling({"hidden": asl.choice(8, 16)})
    with pytest.warns(FutureWarning, match=r"sampling=\.\.\.\) was renamed to .*hyperparameter_sampling"):
        trainer = asl.HyperDriveTrainer(builder="seed", sampling=sampling)
    assert trainer.hyperparameter_sampling is sampling
    assert "sampling" not in trainer.get_params()  # clone and repr know the new name only
    assert clone(trainer).hyperparameter_sampling == sampling
    with pytest.warns(FutureWarning, match="set_params"):
        assert trainer.set_params(sampling=None).hyperparameter_sampling is None


def test_sampling_and_hyperparameter_sampling_together_are_an_error() -> None:
    sampling = asl.RandomParameterSampling({"hidden": asl.choice(8, 16)})
    with pytest.raises(asl.ConfigurationError, match="pass hyperparameter_sampling only"):
        asl.HyperDriveTrainer(hyperparameter_sampling=sampling, sampling=sampling)
    with pytest.raises(asl.ConfigurationError, match="pass hyperparameter_sampling only"):
        asl.HyperDriveTrainer().set_params(hyperparameter_sampling=sampling, sampling=sampling)
    with pytest.raises(TypeError, match="unexpected keyword argument 'samplin'; did you mean 'sampling'"):
        asl.HyperDriveTrainer(samplin=sampling)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"fixed_params": {"epoch": 1}}, r"unknown parameter 'epoch' in fixed_params; did you mean 'epochs'\?"),
        (
            {"hyperparameter_sampling": asl.RandomParameterSampling({"filtres": asl.choice(16, 32)})},
            r"unknown parameter 'filtres' in hyperparameter_sampling.parameter_space; did you mean 'filters'\?",
        ),
        # The seed builder has no filters: a param only another builder reads is refused too.
        ({"builder": "seed", "fixed_params": {"filters": 16}}, "unknown parameter 'filters' in fixed_params"),
        ({"fixed_params": {"zzz": 1}}, "unknown parameter 'zzz' in fixed_params; valid names: augment, batch_size"),
    ],
)
def test_unknown_params_are_rejected_at_construction(settings: dict, message: str) -> None:
    with pytest.raises(asl.ConfigurationError, match=message):
        asl.HyperDriveTrainer(**settings)


def test_training_loop_params_are_valid_for_every_builder_and_custom_builders_are_not_checked() -> None:
    for builder in ("seed", "default"):
        asl.HyperDriveTrainer(builder=builder, fixed_params={"epochs": 1, "batch_size": 64, "lr_schedule": "cosine"})
    assert builder_params(lambda params: None) is None
    trainer = asl.HyperDriveTrainer(
        builder=lambda params: None,
        hyperparameter_sampling=asl.RandomParameterSampling({"units": asl.choice(8, 16)}),
        fixed_params={"depth": 2},
    )
    assert trainer.fixed_params == {"depth": 2}


def test_unknown_algorithms_name_the_nearest_one() -> None:
    with pytest.raises(asl.ConfigurationError, match=r"unknown algorithm 'RandomForests' in allowed_models; did"):
        asl.AutoMLTrainer(allowed_models=["RandomForests"])
    with pytest.raises(asl.ConfigurationError, match=r"unknown algorithm 'knn' in blocked_models; did you mean 'KNN'"):
        asl.AutoMLTrainer(blocked_models=["knn"])


def test_common_settings_table_names_real_arguments_of_both_trainers() -> None:
    for route, trainer in (("automl", _automl()), ("hyperdrive", _hyperdrive())):
        names = common_names(route)
        assert set(names) == set(COMMON_SETTINGS)
        assert set(names.values()) <= set(trainer.get_params())
        settings = trainer.common_settings()
        assert settings == {concept: trainer.get_params()[name] for concept, name in names.items()}
    assert _automl().common_settings()["budget_minutes"] == 2
    assert _hyperdrive().common_settings()["max_trials"] == 3
    assert COMMON_SETTINGS["concurrency"].name("hyperdrive") == "max_concurrent_runs"
    assert COMMON_SETTINGS["metric"].name("automl") == "primary_metric"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: asl.AutoMLTrainer(max_concurrent_iterations=0), "max_concurrent_iterations must be an integer >= 1"),
        (lambda: asl.HyperDriveTrainer(max_concurrent_runs=1.5), "max_concurrent_runs must be an integer >= 1"),
        (lambda: asl.AutoMLTrainer(max_model_size_mb=0), "max_model_size_mb must be a number > 0"),
        (lambda: asl.HyperDriveTrainer(refit="yes"), "refit must be True or False"),
        (lambda: asl.AutoMLTrainer(progress=None), "progress must be True or False"),
        (lambda: asl.HyperDriveTrainer(seed=1.5), "seed must be an integer or None"),
        (lambda: asl.AutoMLTrainer(run_dir=3), "run_dir must be a folder path"),
        (lambda: asl.AutoMLTrainer(resume=True), "needs the run_dir"),
        (lambda: asl.AutoMLTrainer(experiment_timeout_minutes=None), "experiment_timeout_minutes must be a number"),
    ],
)
def test_one_check_of_the_common_settings_names_each_routes_argument(make, message: str) -> None:
    with pytest.raises(asl.ConfigurationError, match=message):
        make()


def test_a_clone_runs_in_the_same_place_as_its_trainer() -> None:
    # sklearn.base.clone deep-copies settings that are not estimators; a backend is a place
    # (a workspace client, a storage), so the clone shares it rather than copying a connection.

    backend = asl.LocalBackend()
    trainer = asl.AutoMLTrainer(allowed_models=["KNN"], backend=backend)
    assert clone(trainer).backend is backend


def test_each_trainer_has_every_setting_its_routes_search_and_refit_read() -> None:
    """The routes' hooks are typed with a view of the settings (not the trainer class, which would
    make an import circle); scikit-learn's estimators are untyped, so the type checker cannot hold
    the trainers to those views: this does, member by member."""
    from asl_recog.routes.automl._settings import AutoMLSettings
    from asl_recog.routes.hyperdrive._settings import HyperDriveSettings

    for trainer, view in ((asl.AutoMLTrainer(), AutoMLSettings), (asl.HyperDriveTrainer(), HyperDriveSettings)):
        members = [*view.__annotations__, *(n for n in vars(view) if not n.startswith("_"))]
        missing = [name for name in members if not hasattr(trainer, name)]
        assert missing == [] and isinstance(trainer, view), (type(trainer).__name__, missing)
