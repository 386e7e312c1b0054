"""HyperDriveTrainer: a Keras CNN whose hyperparameters are tuned, Azure HyperDrive style."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from asl_recog._errors import ConfigurationError
from asl_recog.routes._trainer import Trainer, _check_common, _check_positive_int, _check_positive_number
from asl_recog.search._space import (
    EarlyTerminationPolicy,
    PrimaryMetricGoal,
    Sampling,
    validate_search,
)

BUILDERS = ("default", "seed")
METRICS = ("accuracy", "loss")


class HyperDriveTrainer(Trainer):
    """Tune a Keras CNN with HyperDrive semantics: sampling, early termination, limits.

    Args:
        builder: ``"default"`` (batch-normalised conv blocks with augmentation),
            ``"seed"`` (the seed project's Conv2D(28)-Dense(hidden) network), or a
            function ``params -> compiled keras.Model`` taking (28, 28, 1) inputs
            and returning 24 softmax outputs.
        sampling: a parameter sampling over the builder's params; None uses the
            builder's default space.
        policy: an early-termination policy, or None.
        primary_metric_name: ``"accuracy"`` (validation accuracy) or ``"loss"``.
        primary_metric_goal: ``PrimaryMetricGoal.MAXIMIZE`` or ``MINIMIZE``.
        max_total_runs: the most trials to run.
        max_concurrent_runs: trials run at once (separate processes locally).
        max_duration_minutes: stop starting trials after this many minutes.
        fixed_params: params passed to every trial on top of the sampled ones.
        max_model_size_mb: the model-size budget in MB (10**6 bytes), for the larger of the
            saved training-side file and the ONNX graph; a candidate over it is recorded
            as failed with the reason. 100 MB keeps the scoring service of the winner
            under 300 MiB of memory, so it fits a 1 GB container.
        refit: after the search, retrain the selected configuration on all the data
            given to ``fit`` (training part plus validation); ``best_model`` is then
            the refit model. False keeps the best trial's own model.
        seed: makes sampling and training repeatable.
        run_dir: where the study, models and logs go (default ``runs/hyperdrive-<time>``).
        resume: continue the search stored in ``run_dir``.
        progress: show a live progress table.
        backend: where to run: None/"local", "azure", "azureml", "auto", or a backend object.

    Example:
        >>> from asl_recog import HyperDriveTrainer, RandomParameterSampling, BanditPolicy, choice, loguniform
        >>> trainer = HyperDriveTrainer(
        ...     sampling=RandomParameterSampling({"filters": choice(16, 32), "learning_rate": loguniform(-7, -5)}),
        ...     policy=BanditPolicy(slack_factor=0.1, evaluation_interval=1, delay_evaluation=2),
        ...     max_total_runs=2, fixed_params={"epochs": 1}, progress=False)  # tiny, to run as a doctest
        >>> result = trainer.fit(train, validation)  # fit(load_sign_mnist("train")) makes the grouped split
        >>> result.leaderboard[["trial", "status"]]
           trial     status
        0      0  completed
        1      1  completed
        >>> result.best_model.predict_letters(load_sign_mnist("test")[:3]).shape
        (3,)
    """

    route = "hyperdrive"

    def __init__(
        self,
        builder: str | Callable[[dict[str, Any]], Any] = "default",
        sampling: Sampling | None = None,
        policy: EarlyTerminationPolicy | None = None,
        primary_metric_name: str = "accuracy",
        primary_metric_goal: PrimaryMetricGoal | str = PrimaryMetricGoal.MAXIMIZE,
        max_total_runs: int = 8,
        max_concurrent_runs: int = 1,
        max_duration_minutes: float | None = None,
        fixed_params: Mapping[str, Any] | None = None,
        max_model_size_mb: float = 100,
        refit: bool = True,
        seed: int | None = 0,
        run_dir: str | Path | None = None,
        resume: bool = False,
        progress: bool = True,
        backend: Any = None,
    ) -> None:
        self.builder = builder
        self.sampling = sampling
        self.policy = policy
        self.primary_metric_name = primary_metric_name
        self.primary_metric_goal = primary_metric_goal
        self.max_total_runs = max_total_runs
        self.max_concurrent_runs = max_concurrent_runs
        self.max_duration_minutes = max_duration_minutes
        self.fixed_params = fixed_params
        self.max_model_size_mb = max_model_size_mb
        self.refit = refit
        self.seed = seed
        self.run_dir = run_dir
        self.resume = resume
        self.progress = progress
        self.backend = backend
        self._validate()

    @property
    def goal(self) -> PrimaryMetricGoal:
        return PrimaryMetricGoal(str(getattr(self.primary_metric_goal, "value", self.primary_metric_goal)).lower())

    def resolved_sampling(self) -> Sampling:
        """The sampling to run: the given one, or the builder's default space less ``fixed_params``."""
        if self.sampling is not None:
            return self.sampling
        from asl_recog.routes.hyperdrive._builders import default_sampling

        default = default_sampling(self.builder if isinstance(self.builder, str) else "default")
        # Fixing a param the default space samples (e.g. epochs) means "don't sample it".
        kept = {k: v for k, v in default.parameter_space.items() if k not in (self.fixed_params or {})}
        if not kept:
            raise ConfigurationError(
                "fixed_params fixes every parameter of the default space; "
                "pass sampling= with at least one parameter to search"
            )
        return (
            dataclasses.replace(default, parameter_space=kept) if len(kept) < len(default.parameter_space) else default
        )

    def _validate(self) -> None:
        if isinstance(self.builder, str):
            if self.builder not in BUILDERS:
                raise ConfigurationError(f"builder must be one of {BUILDERS} or a callable, got {self.builder!r}")
        elif not callable(self.builder):
            raise ConfigurationError(f"builder must be one of {BUILDERS} or a callable, got {self.builder!r}")
        if self.sampling is not None:
            validate_search(self.sampling, self.policy)
        elif self.policy is not None and not isinstance(self.policy, EarlyTerminationPolicy):
            raise ConfigurationError(f"policy must be an early-termination policy or None, got {self.policy!r}")
        if self.primary_metric_name not in METRICS:
            raise ConfigurationError(f"primary_metric_name must be one of {METRICS}, got {self.primary_metric_name!r}")
        try:
            _ = self.goal
        except ValueError as exc:
            raise ConfigurationError(
                f"primary_metric_goal must be 'maximize' or 'minimize', got {self.primary_metric_goal!r}"
            ) from exc
        _check_positive_int("max_total_runs", self.max_total_runs)
        _check_positive_int("max_concurrent_runs", self.max_concurrent_runs)
        _check_positive_number("max_duration_minutes", self.max_duration_minutes, allow_none=True)
        if self.fixed_params is not None and not isinstance(self.fixed_params, Mapping):
            raise ConfigurationError(f"fixed_params must be a dict, got {self.fixed_params!r}")
        if self.sampling is not None and self.fixed_params:
            clash = set(self.sampling.parameter_space) & set(self.fixed_params)
            if clash:
                raise ConfigurationError(f"parameters {sorted(clash)} are both sampled and fixed; keep one")
        if self.resume and self.run_dir is None:
            raise ConfigurationError("resume=True needs the run_dir of the search to continue")
        _check_common(self)
        self._check_backend()
