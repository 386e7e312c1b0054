"""The HyperDrive vocabulary translated to Optuna (asl_recog.backends.local._engine)."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest

import asl_recog as asl
from asl_recog.backends.local._engine import (
    TrialSeededRandomSampler,
    make_sampler,
    max_trials_for,
    open_study,
    suggest,
    suggest_space,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _draws(expr: asl._space.Expression, n: int = 2000, seed: int = 0) -> np.ndarray:
    study = optuna.create_study(sampler=TrialSeededRandomSampler(seed))
    values = []
    for _ in range(n):
        trial = study.ask()
        values.append(suggest(trial, "x", expr))
        study.tell(trial, 0.0)
    return np.asarray(values)


def test_choice_and_randint_stay_in_their_sets() -> None:
    assert set(_draws(asl.choice(16, 32, 64), 200)) == {16, 32, 64}
    ints = _draws(asl.randint(5), 300)
    assert set(ints) == {0, 1, 2, 3, 4}


def test_loguniform_bounds_are_natural_logs() -> None:
    # HyperDrive: loguniform(a, b) = exp(uniform(a, b)), so log(values) is uniform on [a, b].
    values = _draws(asl.loguniform(math.log(1e-4), math.log(1e-1)))
    assert values.min() >= 1e-4 and values.max() <= 1e-1
    logs = np.log10(values)
    # each decade gets about a third of the draws
    for low in (-4, -3, -2):
        share = np.mean((logs >= low) & (logs < low + 1))
        assert 0.28 < share < 0.39


def test_q_variants_round_to_q() -> None:
    values = _draws(asl.quniform(16, 128, 16), 500)
    assert set(values) <= set(range(16, 129, 16)) and values.dtype.kind == "i"
    lr = _draws(asl.quniform(0.0, 1.0, 0.25), 300)
    assert set(np.round(lr, 9)) <= {0.0, 0.25, 0.5, 0.75, 1.0}
    qlog = _draws(asl.qloguniform(0.0, math.log(100), 5), 300)
    assert (qlog % 5 == 0).all() and qlog.max() <= 100


def test_normal_and_lognormal_have_the_documented_moments() -> None:
    values = _draws(asl.normal(10.0, 2.0), 4000)
    assert abs(values.mean() - 10.0) < 0.15 and abs(values.std() - 2.0) < 0.15
    logs = np.log(_draws(asl.lognormal(0.0, 0.5), 4000))
    assert abs(logs.mean()) < 0.05 and abs(logs.std() - 0.5) < 0.05
    q = _draws(asl.qnormal(0.0, 10.0, 2), 500)
    assert (q % 2 == 0).all()
    assert (_draws(asl.qlognormal(2.0, 0.5, 1), 200) >= 0).all()


def test_random_draws_depend_only_on_seed_and_trial_number() -> None:
    space = {"a": asl.uniform(0, 1), "b": asl.choice("x", "y", "z"), "c": asl.normal(0, 1)}
    first, second = optuna.create_study(), optuna.create_study()
    s1, s2 = TrialSeededRandomSampler(7), TrialSeededRandomSampler(7)
    first.sampler, second.sampler = s1, s2
    draws1 = [suggest_space(first.ask(), space) for _ in range(5)]
    draws2 = [suggest_space(second.ask(), space) for _ in range(5)]
    assert draws1 == draws2
    other = optuna.create_study(sampler=TrialSeededRandomSampler(8))
    assert [suggest_space(other.ask(), space) for _ in range(5)] != draws1


def test_samplings_map_to_optuna_samplers() -> None:
    grid = asl.GridParameterSampling({"a": asl.choice(1, 2), "b": asl.choice("x", "y", "z")})
    assert isinstance(make_sampler(grid, 0), optuna.samplers.GridSampler)
    assert max_trials_for(grid, 100) == 6 and max_trials_for(grid, 4) == 4
    bayes = asl.BayesianParameterSampling({"a": asl.uniform(0, 1)})
    assert isinstance(make_sampler(bayes, 0), optuna.samplers.TPESampler)
    random = asl.RandomParameterSampling({"a": asl.uniform(0, 1)}, seed=3)
    assert isinstance(make_sampler(random, 0), TrialSeededRandomSampler)


def test_grid_sampler_visits_every_combination() -> None:
    grid = asl.GridParameterSampling({"a": asl.choice(1, 2), "b": asl.choice("x", "y", "z")})
    study = optuna.create_study(sampler=make_sampler(grid, 0))
    seen = set()
    for _ in range(grid.size):
        trial = study.ask()
        seen.add(tuple(suggest_space(trial, grid.parameter_space).values()))
        study.tell(trial, 0.0)
    assert seen == {(a, b) for a in (1, 2) for b in "xyz"}


def test_study_storage_refuses_mixing_runs(tmp_path) -> None:
    with pytest.raises(asl.ConfigurationError, match="holds no search"):
        open_study(tmp_path / "none", direction="maximize", resume=True)
    open_study(tmp_path / "run", direction="maximize")
    with pytest.raises(asl.ConfigurationError, match="already holds a search"):
        open_study(tmp_path / "run", direction="maximize")
    assert open_study(tmp_path / "run", direction="maximize", resume=True).direction.name == "MAXIMIZE"


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: asl.uniform(1, 1), "less than"),
        (lambda: asl.quniform(0, 1, 0), "q must be > 0"),
        (lambda: asl.normal(0, -1), "sigma must be > 0"),
        (lambda: asl.randint(0), "upper"),
        (lambda: asl.choice(), "at least one"),
        (lambda: asl.GridParameterSampling({"a": asl.uniform(0, 1)}), "supports only choice"),
        (lambda: asl.BayesianParameterSampling({"a": asl.loguniform(0, 1)}), "supports only"),
        (lambda: asl.RandomParameterSampling({"a": 3}), "wrap values"),
        (lambda: asl.BanditPolicy(), "exactly one"),
        (lambda: asl.TruncationSelectionPolicy(truncation_percentage=100), "1-99"),
    ],
)
def test_invalid_vocabulary_is_rejected(make, message) -> None:
    with pytest.raises(asl.ConfigurationError, match=message):
        make()
