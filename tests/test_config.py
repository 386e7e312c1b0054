"""Trainer settings from YAML and TOML files."""

from __future__ import annotations

from pathlib import Path

import pytest

import asl_recog as asl
from asl_recog import _deprecation
from asl_recog.cli._config import load_config, parse_expression, trainer_settings

YAML = """
hyperdrive:
  builder: seed
  max_total_runs: 3
  fixed_params: {epochs: 2}
  hyperparameter_sampling:
    type: random
    seed: 4
    parameter_space:
      hidden: choice(64, 128)
      dropout: uniform(0.0, 0.3)
      learning_rate: loguniform(-7, -5)
  policy: {type: bandit, slack_factor: 0.1, delay_evaluation: 1}
automl:
  experiment_timeout_minutes: 2
  allowed_models: [KNN, LogisticRegression]
"""

TOML = """
[hyperdrive]
max_total_runs = 2
[hyperdrive.hyperparameter_sampling]
type = "grid"
[hyperdrive.hyperparameter_sampling.parameter_space]
filters = "choice(16, 32)"
[hyperdrive.policy]
type = "median"
evaluation_interval = 2
"""


def test_yaml_config_builds_real_trainers(tmp_path: Path) -> None:
    path = tmp_path / "search.yml"
    path.write_text(YAML)
    config = load_config(path)
    hd = trainer_settings(config, "hyperdrive")
    assert hd["hyperparameter_sampling"] == asl.RandomParameterSampling(
        {"hidden": asl.choice(64, 128), "dropout": asl.uniform(0.0, 0.3), "learning_rate": asl.loguniform(-7, -5)},
        seed=4,
    )
    assert hd["policy"] == asl.BanditPolicy(slack_factor=0.1, delay_evaluation=1)
    trainer = asl.HyperDriveTrainer(**hd)
    assert trainer.max_total_runs == 3 and trainer.fixed_params == {"epochs": 2}
    automl = asl.AutoMLTrainer(**trainer_settings(config, "automl"))
    assert automl.algorithms() == ["KNN", "LogisticRegression"]


def test_toml_config(tmp_path: Path) -> None:
    path = tmp_path / "search.toml"
    path.write_text(TOML)
    hd = trainer_settings(load_config(path), "hyperdrive")
    sampling = hd["hyperparameter_sampling"]
    assert isinstance(sampling, asl.GridParameterSampling) and sampling.size == 2
    assert hd["policy"] == asl.MedianStoppingPolicy(evaluation_interval=2)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("choice(16, 32)", asl.choice(16, 32)),
        ("choice(['relu', 'elu'])", asl.choice("relu", "elu")),
        ("quniform(1, 10, 1)", asl.quniform(1, 10, 1)),
        ("qlognormal(0, 1, 2)", asl.qlognormal(0, 1, 2)),
        ("randint(5)", asl.randint(5)),
        ("normal(0, 1)", asl.normal(0, 1)),
    ],
)
def test_expressions_parse(text: str, expected: object) -> None:
    assert parse_expression(text) == expected


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("gaussian(0, 1)", "is not an expression"),
        ("choice(__import__('os'))", "must be literals"),
        ("uniform(5, 1)", "min_value .5. must be less than max_value"),
        ("uniform(1)", "uniform"),
    ],
)
def test_bad_expressions(text: str, pattern: str) -> None:
    with pytest.raises(asl.ConfigurationError, match=pattern):
        parse_expression(text, where="hyperdrive.sampling.parameter_space.x")


def test_config_errors_name_the_place(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("hyperdrive:\n  sampling: [1, 2\n")
    with pytest.raises(asl.ConfigurationError, match=r"(?s)broken.yml: cannot parse config .*line 2, column 13"):
        load_config(broken)
    with pytest.raises(asl.ConfigurationError, match="config file not found"):
        load_config(tmp_path / "missing.yml")
    bad_policy = {"hyperdrive": {"policy": {"type": "wild"}}}
    with pytest.raises(asl.ConfigurationError, match=r"hyperdrive.policy.type: 'wild' is not one of"):
        trainer_settings(bad_policy, "hyperdrive")
    bayes_with_policy = {
        "hyperdrive": {
            "hyperparameter_sampling": {"type": "bayesian", "parameter_space": {"hidden": "uniform(8, 64)"}},
            "policy": {"type": "bandit", "slack_factor": 0.2},
        }
    }
    with pytest.raises(asl.ConfigurationError, match="Bayesian"):
        asl.HyperDriveTrainer(**trainer_settings(bayes_with_policy, "hyperdrive"))


def test_the_sampling_key_is_a_deprecated_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_deprecation, "_warned", set())  # each deprecation warns once per process
    config = {"hyperdrive": {"sampling": {"type": "grid", "parameter_space": {"hidden": "choice(8, 16)"}}}}
    with pytest.warns(
        FutureWarning, match=r"config key 'hyperdrive.sampling' was renamed to .*hyperparameter_sampling"
    ):
        settings = trainer_settings(config, "hyperdrive", source="search.yml")
    assert settings == {"hyperparameter_sampling": asl.GridParameterSampling({"hidden": asl.choice(8, 16)})}
    both = {"hyperdrive": {**config["hyperdrive"], "hyperparameter_sampling": config["hyperdrive"]["sampling"]}}
    with pytest.raises(asl.ConfigurationError, match="search.yml: hyperdrive: write hyperparameter_sampling only"):
        trainer_settings(both, "hyperdrive", source="search.yml")


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"hyperdrive": {"max_runs": 2}},
            r"unknown setting 'max_runs' in s.yml: hyperdrive; did you mean 'max_total_runs'",
        ),
        ({"automl": {"alowed_models": ["KNN"]}}, r"unknown setting 'alowed_models' .*did you mean 'allowed_models'"),
        ({"automl": {"builder": "seed"}}, r"unknown setting 'builder' in s.yml: automl"),
    ],
)
def test_unknown_config_keys_name_the_nearest_setting(section: dict, message: str) -> None:
    with pytest.raises(asl.ConfigurationError, match=message):
        trainer_settings(section, next(iter(section)), source="s.yml")


def test_rung_policies_are_read_from_config_files(tmp_path: Path) -> None:
    path = tmp_path / "rungs.yml"
    path.write_text(
        "hyperdrive:\n"
        "  fixed_params: {epochs: 9}\n"
        "  policy: {type: successive_halving, min_resource: 1, reduction_factor: 3, min_early_stopping_rate: 1}\n"
    )
    settings = trainer_settings(load_config(path), "hyperdrive")
    assert settings["policy"] == asl.SuccessiveHalvingPolicy(
        min_resource=1, reduction_factor=3, min_early_stopping_rate=1
    )
    assert asl.HyperDriveTrainer(**settings).policy.rungs(9) == [3, 9]
    toml = tmp_path / "rungs.toml"
    toml.write_text('[hyperdrive.policy]\ntype = "hyperband"\nmax_resource = "auto"\nreduction_factor = 2\n')
    assert trainer_settings(load_config(toml), "hyperdrive")["policy"] == asl.HyperbandPolicy(reduction_factor=2)
    # Azure's interval settings and Optuna's other arguments are no fields of theirs: refused, not ignored.
    for spec, unknown in (
        ({"type": "hyperband", "evaluation_interval": 2}, "evaluation_interval"),
        ({"type": "successive_halving", "bootstrap_count": 1}, "bootstrap_count"),
    ):
        with pytest.raises(
            asl.ConfigurationError, match=rf"hyperdrive.policy: .*unexpected keyword argument '{unknown}'"
        ):
            trainer_settings({"hyperdrive": {"policy": spec}}, "hyperdrive")
    with pytest.raises(asl.ConfigurationError, match=r"'halving' is not one of .*'successive_halving', 'hyperband'"):
        trainer_settings({"hyperdrive": {"policy": {"type": "halving"}}}, "hyperdrive")
