"""The typed plan a route hands a remote backend, as :class:`~asl_recog.backends.local.LocalPlan` is for the local one.

A remote backend (Azure ML today) runs one of two kinds of job: a **sweep** of a training
command over a sampled space (:class:`SweepSpec`), or a managed **AutoML** search
(:class:`AutoMLSpec`). A route turns a trainer into one of them (``Route.remote_spec``), so a
backend reads these fields and never a trainer's attributes by name; a new remote backend
translates the same two specs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from asl_recog.search._space import EarlyTerminationPolicy, PrimaryMetricGoal, Sampling

#: the kinds of remote job a route can become
RemoteJob = Literal["automl", "sweep"]


@dataclass(frozen=True)
class SweepSpec:
    """A sweep: run ``python -m <entry_module>`` once per sampled configuration.

    Attributes:
        builder: the named network builder the entry point trains (a function cannot run remotely).
        entry_module: the module each trial runs as ``python -m``; it takes every parameter as ``--name value``.
        sampling: the sampled space and algorithm.
        policy: the early-termination policy, or None.
        metric: the metric the entry point logs and the sweep ranks on (``"accuracy"`` or ``"loss"``).
        goal: whether ``metric`` is maximized or minimized.
        max_total_runs: how many trials in all.
        max_concurrent_runs: how many at once.
        max_duration_minutes: the sweep's time limit, or None for the service's own.
        fixed_params: the parameters every trial gets unchanged.
        seed: passed to every trial, or None.
        resume: whether a local study is to be continued (no remote backend can).
        progress: whether to stream the job's output.
        trial_params: ``params -> params``: a trial's parameters completed with the fixed ones and defaults.
        max_model_size_mb: the size budget a downloaded model must fit.
        refit: whether the selected trial is retrained on all the data afterwards.

    Example:
        >>> from asl_recog.search import GridParameterSampling, choice
        >>> spec = SweepSpec(builder="seed", entry_module="pkg.train", metric="accuracy",
        ...                  goal=PrimaryMetricGoal.MAXIMIZE, max_total_runs=4,
        ...                  max_model_size_mb=100, sampling=GridParameterSampling({"hidden": choice(16, 32)}))
        >>> spec.kind, sorted(spec.sampling.parameter_space)
        ('sweep', ['hidden'])
    """

    kind: ClassVar[RemoteJob] = "sweep"

    builder: str | Callable[..., Any]
    entry_module: str
    sampling: Sampling
    metric: str
    goal: PrimaryMetricGoal
    max_total_runs: int
    max_model_size_mb: float
    max_concurrent_runs: int = 1
    max_duration_minutes: float | None = None
    policy: EarlyTerminationPolicy | None = None
    fixed_params: Mapping[str, Any] = field(default_factory=dict)
    seed: int | None = None
    resume: bool = False
    progress: bool = False
    trial_params: Callable[[dict[str, Any]], dict[str, Any]] = dict
    refit: bool = False


@dataclass(frozen=True)
class AutoMLSpec:
    """A managed AutoML classification search over the service's own algorithms.

    Attributes:
        metric: the primary metric, in the service's terms (e.g. ``"accuracy"``).
        experiment_timeout_minutes: the search's time limit.
        iteration_timeout_minutes: one candidate's time limit.
        max_iterations: how many candidates at most, or None.
        max_concurrent_iterations: how many at once.
        early_stopping: whether the service may stop a search that stops improving.
        onnx: whether only ONNX-convertible models are tried.
        allowed_models: our names of the algorithms to try, or None for all.
        blocked_models: our names of the algorithms to skip, or None.
        names: our algorithm names -> the service's (names without a counterpart are absent).
        voting_ensemble: whether a voting ensemble is tried at the end.
        stack_ensemble: whether a stack ensemble is tried at the end.
        featurization: ``"auto"``, ``"off"``, or a featurizer object the service cannot run.
        max_latency_ms: a latency bound the service cannot measure, or None.
        resume: whether a local study is to be continued (no remote backend can).
        progress: whether to stream the job's output.
        max_model_size_mb: the size budget a downloaded model must fit.
        refit: whether a refit was asked (the service's AutoML refits its own best model).
        augment: whether the training table gets the augmented copies a local search adds.
        seed: the seed of those copies, or None.

    Example:
        >>> spec = AutoMLSpec(metric="accuracy", experiment_timeout_minutes=30, max_model_size_mb=100,
        ...                   iteration_timeout_minutes=5, allowed_models=["knn"], names={"knn": "KNN"})
        >>> spec.kind, [spec.names[n] for n in spec.allowed_models]
        ('automl', ['KNN'])
    """

    kind: ClassVar[RemoteJob] = "automl"

    metric: str
    experiment_timeout_minutes: float
    max_model_size_mb: float
    iteration_timeout_minutes: float
    max_iterations: int | None = None
    max_concurrent_iterations: int = 1
    early_stopping: bool = True
    onnx: bool = False
    allowed_models: Sequence[str] | None = None
    blocked_models: Sequence[str] | None = None
    names: Mapping[str, str] = field(default_factory=dict)
    voting_ensemble: bool = True
    stack_ensemble: bool = False
    featurization: Any = "off"
    max_latency_ms: float | None = None
    resume: bool = False
    progress: bool = False
    refit: bool = False
    augment: bool = False
    seed: int | None = None


RemoteSpec = SweepSpec | AutoMLSpec


def remote_spec(trainer: Any) -> RemoteSpec:
    """The spec of the job ``trainer``'s route makes of it (``trainer.route.remote_spec(trainer)``).

    Example:
        >>> from asl_recog import HyperDriveTrainer
        >>> spec = remote_spec(HyperDriveTrainer(builder="seed", max_total_runs=3, progress=False))
        >>> spec.kind, spec.entry_module, spec.max_total_runs
        ('sweep', 'asl_recog.routes.hyperdrive.train_cnn', 3)
    """
    spec: RemoteSpec = trainer.route.remote_spec(trainer)
    return spec


__all__ = ["AutoMLSpec", "RemoteJob", "RemoteSpec", "SweepSpec", "remote_spec"]
