"""HyperDriveTrainer: a Keras CNN whose hyperparameters are tuned, Azure HyperDrive style."""

from __future__ import annotations

import dataclasses
import difflib
import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from asl_recog._deprecation import warn_renamed
from asl_recog._errors import ConfigurationError
from asl_recog.routes._settings import DEFAULT_MAX_MODEL_SIZE_MB, reject_unknown
from asl_recog.routes._trainer import Trainer
from asl_recog.routes.hyperdrive._builders import BUILDERS, DEFAULTS, default_sampling
from asl_recog.routes.hyperdrive._route import HYPERDRIVE
from asl_recog.search._space import (
    EarlyTerminationPolicy,
    PrimaryMetricGoal,
    Sampling,
    validate_search,
)

METRICS = ("accuracy", "loss")
#: Params read by the training loop (``train_network``, ``learning_rate_schedule``) for
#: any builder, on top of those a named builder reads (its ``DEFAULTS`` keys).
TRAINING_PARAMS = ("batch_size", "epochs", "learning_rate", "lr_schedule", "warmup_fraction")


def builder_params(builder: str | Callable[[dict[str, Any]], Any]) -> tuple[str, ...] | None:
    """The params a builder and the training loop accept; None for a custom builder (unknowable).

    Example:
        >>> "filters" in builder_params("default"), "filters" in builder_params("seed")
        (True, False)
    """
    if not isinstance(builder, str):
        return None
    return tuple(sorted(set(DEFAULTS[builder]) | set(TRAINING_PARAMS)))


class HyperDriveTrainer(Trainer):
    """Tune a Keras CNN with HyperDrive semantics: sampling, early termination, limits.

    Args:
        builder: ``"default"`` (batch-normalised conv blocks with augmentation),
            ``"seed"`` (the seed project's Conv2D(28)-Dense(hidden) network), or a
            function ``params -> compiled keras.Model`` taking (28, 28, 1) inputs
            and returning 24 softmax outputs.
        hyperparameter_sampling: a parameter sampling over the builder's params (Azure's
            ``HyperDriveConfig`` name); None uses the builder's default space.
        policy: an early-termination policy, or None: Azure's ``BanditPolicy``, ``MedianStoppingPolicy``,
            ``TruncationSelectionPolicy``, ``NoTerminationPolicy``, or, locally only, the rung budgets
            ``SuccessiveHalvingPolicy`` and ``HyperbandPolicy``.
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
        tracking_uri: an MLflow tracking URI (``http://host:5000``, ``sqlite:///mlflow.db``) to log the
            search to: a parent run with a nested run per trial and one for the refit (extra ``mlflow``;
            local backend; see ``docs/tracking.md``). None (the default) tracks nothing.
        backend: where to run: None/"local", "azure", "azureml", "auto", or a backend object.
        **renamed: ``sampling``, the deprecated name of ``hyperparameter_sampling``
            (a FutureWarning; it is removed in 0.4.0). Passing both is an error.

    The names sampled by ``hyperparameter_sampling`` and those in ``fixed_params`` must
    be params of the named builder (:data:`asl_recog.routes.hyperdrive._builders.DEFAULTS`)
    or of the training loop (``batch_size``, ``epochs``, ``learning_rate``,
    ``lr_schedule``, ``warmup_fraction``): a typo such as ``{"epoch": 1}`` raises
    ConfigurationError naming the nearest valid name. A custom builder function's
    params cannot be known from its ``params -> model`` signature, so they are not checked.

    Settings are stored as given and checked at once, by ``set_params`` and again in
    ``fit``; ``get_params``, ``set_params`` and ``sklearn.base.clone`` work as for a
    scikit-learn estimator, and the repr shows the settings that differ from the defaults.

    Example:
        >>> from asl_recog import HyperDriveTrainer, RandomParameterSampling, BanditPolicy, choice, loguniform
        >>> trainer = HyperDriveTrainer(
        ...     builder="seed",
        ...     hyperparameter_sampling=RandomParameterSampling(
        ...         {"hidden": choice(16, 32), "learning_rate": loguniform(-7, -5)}
        ...     ),
        ...     policy=BanditPolicy(slack_factor=0.1, evaluation_interval=1, delay_evaluation=2),
        ...     max_total_runs=2, fixed_params={"epochs": 1, "batch_size": 64}, refit=False,
        ...     progress=False)  # tiny, to run as a doctest
        >>> result = trainer.fit(train, validation)  # fit(load_sign_mnist("train")) makes the grouped split
        >>> sorted(result.leaderboard["status"]), result.best_params["hidden"] in (16, 32)  # best first
        (['completed', 'completed'], True)
        >>> result.best_model.predict_letters(load_sign_mnist("test")[:3]).shape
        (3,)
    """

    route = HYPERDRIVE
    _settings_column = "hyperdrive"
    metrics = METRICS
    renamed_arguments = {"sampling": "hyperparameter_sampling"}

    def __init__(
        self,
        builder: str | Callable[[dict[str, Any]], Any] = "default",
        hyperparameter_sampling: Sampling | None = None,
        policy: EarlyTerminationPolicy | None = None,
        primary_metric_name: str = "accuracy",
        primary_metric_goal: PrimaryMetricGoal | str = PrimaryMetricGoal.MAXIMIZE,
        max_total_runs: int = 8,
        max_concurrent_runs: int = 1,
        max_duration_minutes: float | None = None,
        fixed_params: Mapping[str, Any] | None = None,
        max_model_size_mb: float = DEFAULT_MAX_MODEL_SIZE_MB,
        refit: bool = True,
        seed: int | None = 0,
        run_dir: str | Path | None = None,
        resume: bool = False,
        progress: bool = True,
        tracking_uri: str | None = None,
        backend: Any = None,
        **renamed: Any,
    ) -> None:
        # The deprecated alias is kept out of the signature, so get_params, clone and
        # the repr know only the current name.
        unknown = sorted(set(renamed) - set(self.renamed_arguments))
        if unknown:
            names = [
                *(p for p in inspect.signature(HyperDriveTrainer).parameters if p != "renamed"),
                *self.renamed_arguments,
            ]
            close = difflib.get_close_matches(unknown[0], names, n=1)
            raise TypeError(
                f"HyperDriveTrainer() got an unexpected keyword argument {unknown[0]!r}"
                + (f"; did you mean {close[0]!r}?" if close else "")
            )
        if "sampling" in renamed:
            if hyperparameter_sampling is not None:
                raise ConfigurationError("pass hyperparameter_sampling only: sampling is its deprecated alias")
            warn_renamed("HyperDriveTrainer(sampling=...)", "HyperDriveTrainer(hyperparameter_sampling=...)")
            hyperparameter_sampling = renamed["sampling"]
        self.builder = builder
        self.hyperparameter_sampling = hyperparameter_sampling
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
        self.tracking_uri = tracking_uri
        self.backend = backend
        self._validate()

    @property
    def goal(self) -> PrimaryMetricGoal:
        return PrimaryMetricGoal(str(getattr(self.primary_metric_goal, "value", self.primary_metric_goal)).lower())

    def resolved_sampling(self) -> Sampling:
        """The sampling to run: the given one, or the builder's default space less ``fixed_params``."""
        if self.hyperparameter_sampling is not None:
            return self.hyperparameter_sampling
        default = default_sampling(self.builder if isinstance(self.builder, str) else "default")
        # Fixing a param the default space samples (e.g. epochs) means "don't sample it".
        kept = {k: v for k, v in default.parameter_space.items() if k not in (self.fixed_params or {})}
        if not kept:
            raise ConfigurationError(
                "fixed_params fixes every parameter of the default space; "
                "pass hyperparameter_sampling= with at least one parameter to search"
            )
        return (
            dataclasses.replace(default, parameter_space=kept) if len(kept) < len(default.parameter_space) else default
        )

    def _validate(self) -> None:
        if isinstance(self.builder, str):
            if self.builder not in BUILDERS:
                raise ConfigurationError(f"builder must be one of {list(BUILDERS)} or a callable, got {self.builder!r}")
        elif not callable(self.builder):
            raise ConfigurationError(f"builder must be one of {list(BUILDERS)} or a callable, got {self.builder!r}")
        sampling = self.hyperparameter_sampling
        if sampling is not None:
            validate_search(sampling, self.policy)
        elif self.policy is not None and not isinstance(self.policy, EarlyTerminationPolicy):
            raise ConfigurationError(f"policy must be an early-termination policy or None, got {self.policy!r}")
        try:
            _ = self.goal
        except ValueError as exc:
            raise ConfigurationError(
                f"primary_metric_goal must be 'maximize' or 'minimize', got {self.primary_metric_goal!r}"
            ) from exc
        if self.fixed_params is not None and not isinstance(self.fixed_params, Mapping):
            raise ConfigurationError(f"fixed_params must be a dict, got {self.fixed_params!r}")
        if sampling is not None and self.fixed_params:
            clash = set(sampling.parameter_space) & set(self.fixed_params)
            if clash:
                raise ConfigurationError(f"parameters {sorted(clash)} are both sampled and fixed; keep one")
        self._check_common()
        self._check_backend()
        # Last: a backend names the params it reserves (e.g. the entry point's options) more precisely.
        valid = builder_params(self.builder)
        if valid is not None:
            if sampling is not None:
                reject_unknown(sampling.parameter_space, valid, "hyperparameter_sampling.parameter_space")
            reject_unknown(self.fixed_params or {}, valid, "fixed_params")
