"""Helpers shared by the AzureMLBackend (SDK v1) tests: their markers, and a HyperDriveTrainer on the
backend with the settings the tests start from and override."""

from __future__ import annotations

from typing import Any

import pytest

import asl_recog as asl

#: Every SDK v1 test module's ``pytestmark``.
V1_MARKS = [
    pytest.mark.azure,
    # azureml-core's conda handling calls ruamel.yaml APIs that warn of their removal; not ours to fix.
    pytest.mark.filterwarnings(r"ignore:(?s).*will be removed, use"),
]


def hd_trainer(backend: Any, **overrides: Any) -> asl.HyperDriveTrainer:
    settings: dict[str, Any] = dict(
        builder="seed",
        hyperparameter_sampling=asl.RandomParameterSampling(
            {"hidden": asl.choice(128, 256), "dropout": asl.uniform(0.1, 0.5), "batch_size": asl.quniform(32, 256, 32)}
        ),
        policy=asl.BanditPolicy(slack_factor=0.1, evaluation_interval=2, delay_evaluation=3),
        max_total_runs=6,
        max_concurrent_runs=2,
        max_duration_minutes=90,
        fixed_params={"epochs": 4},
        progress=False,
        backend=backend,
    )
    settings.update(overrides)
    return asl.HyperDriveTrainer(**settings)
