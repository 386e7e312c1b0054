"""Helpers shared by the AzureBackend (SDK v2) tests: a HyperDriveTrainer on the backend, with the
settings the tests start from and override."""

from __future__ import annotations

from typing import Any

import asl_recog as asl


def hd_trainer(backend: Any, **overrides: Any) -> asl.HyperDriveTrainer:
    settings: dict[str, Any] = dict(
        builder="seed",
        hyperparameter_sampling=asl.RandomParameterSampling(
            {"hidden": asl.choice(128, 256), "dropout": asl.uniform(0.1, 0.5), "learning_rate": asl.loguniform(-8, -5)},
            seed=11,
        ),
        policy=asl.BanditPolicy(slack_amount=0.05, evaluation_interval=2, delay_evaluation=3),
        max_total_runs=6,
        max_concurrent_runs=2,
        max_duration_minutes=45,
        fixed_params={"epochs": 4},
        progress=False,
        backend=backend,
    )
    settings.update(overrides)
    return asl.HyperDriveTrainer(**settings)
