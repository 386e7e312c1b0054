"""Our search vocabulary and trainer settings, translated to Azure ML SDK v1 and v2 objects.

This is the one place where ``asl_recog.search._space`` (expressions, samplings, policies,
goal) and the trainers' limits meet the Azure SDKs. Every function imports its SDK
lazily. A setting a backend cannot express raises :class:`ConfigurationError`
naming the setting, the SDK and the fix; nothing is dropped silently.

Translation table (ours -> SDK v1 ``azureml.train.hyperdrive`` -> SDK v2 ``azure.ai.ml.sweep``):

=====================  ===============================  ================================
``choice(*v)``         ``choice(*v)``                   ``Choice(values=[...])``
``randint(n)``         ``randint(n)``                   ``Randint(upper=n)``
``uniform(a, b)``      ``uniform(a, b)``                ``Uniform(a, b)``
``quniform(a, b, q)``  ``quniform(a, b, q)`` (int q)    ``QUniform(a, b, q)``
``loguniform(a, b)``   ``loguniform(a, b)`` (ln bounds) ``LogUniform(a, b)`` (ln bounds)
``qloguniform``        ``qloguniform`` (int q)          ``QLogUniform``
``normal`` ...         ``normal``/``qnormal``/...       ``Normal``/``QNormal``/...
Random(seed=None)      ``RandomParameterSampling``      ``"random"``
Random(seed=s)         rejected: v1 has no seed         ``RandomSamplingAlgorithm(seed=s)``
Grid / Bayesian        ``Grid/BayesianParameterSampling``  ``"grid"`` / ``"bayesian"``
BanditPolicy           ``BanditPolicy`` (same fields)   ``BanditPolicy`` (same fields)
MedianStoppingPolicy   ``MedianStoppingPolicy``         ``MedianStoppingPolicy``
TruncationSelection    ``TruncationSelectionPolicy``    ``TruncationSelectionPolicy``
  exclude_finished     the policy's service field       rejected (v2 has no such field)
NoTerminationPolicy    ``NoTerminationPolicy()``        no policy (None)
SuccessiveHalving,     rejected: local only             rejected: local only
  HyperbandPolicy
=====================  ===============================  ================================
"""

from __future__ import annotations

import math
from typing import Any, Literal

from asl_recog._errors import ConfigurationError
from asl_recog._imports import LazyModule
from asl_recog.backends.azure._job import cli_name
from asl_recog.search._rungs import RungPolicy
from asl_recog.search._space import (
    BanditPolicy,
    BayesianParameterSampling,
    EarlyTerminationPolicy,
    Expression,
    GridParameterSampling,
    MedianStoppingPolicy,
    NoTerminationPolicy,
    PrimaryMetricGoal,
    RandomParameterSampling,
    Sampling,
    TruncationSelectionPolicy,
)

Sdk = Literal["v1", "v2"]
_SDK_NAMES = {"v1": "Azure ML SDK v1 (AzureMLBackend)", "v2": "Azure ML SDK v2 (AzureBackend)"}

#: The HyperDrive service caps a run at 7 days; v1's HyperDriveConfig default.
MAX_DURATION_MINUTES = 10080


_V1 = [
    LazyModule(name, package="azureml-core", extra="azureml", purpose="The Azure ML SDK v1 backend (AzureMLBackend)")
    for name in ("azureml.core", "azureml.train.hyperdrive")
]
_V2 = LazyModule(
    "azure.ai.ml", package="azure-ai-ml", extra="azure", purpose="The Azure ML SDK v2 backend (AzureBackend)"
)


def import_v1() -> None:
    """Fail with the pip command when SDK v1 is not installed (through the package's one lazy-import helper)."""
    for module in _V1:
        module.load()


def import_v2() -> None:
    """Fail with the pip command when SDK v2 is not installed."""
    _V2.load()


def reject(sdk: Sdk, what: str, fix: str) -> ConfigurationError:
    return ConfigurationError(f"{_SDK_NAMES[sdk]} cannot express {what}. Fix: {fix}")


# -- parameter expressions ------------------------------------------------------------------------


def _check_expression(sdk: Sdk, name: str, expr: Expression) -> None:
    """Rules both SDKs share (values reach the trial as command-line text) and v1's integer q."""
    if expr.kind == "choice":
        for value in expr.args:
            if value is None or isinstance(value, bool):
                raise reject(
                    sdk,
                    f"choice value {value!r} of parameter {name!r} (values reach the training "
                    "script as command-line text; the SDKs take int, float or str)",
                    "use numbers or strings, e.g. choice(0, 1) or choice('yes', 'no')",
                )
    if sdk == "v1" and expr.kind.startswith("q"):
        q = expr.args[-1]
        if not float(q).is_integer():
            raise reject(
                sdk,
                f"{expr!r} for {name!r}: HyperDrive v1 requires an integer q",
                "use an integer q, or uniform()/loguniform() without quantization",
            )


def v1_expression(name: str, expr: Expression) -> list[Any]:
    """One expression as SDK v1's ``parameter_expressions`` list, e.g. ``['choice', [[16, 32]]]``."""
    import_v1()
    from azureml.train.hyperdrive import parameter_expressions as pe

    _check_expression("v1", name, expr)
    args = list(expr.args)
    if expr.kind == "choice":
        return pe.choice(list(args))
    if expr.kind.startswith("q"):  # v1 wants an int q (its check accepts 16.0 but stores the float)
        args[-1] = int(args[-1])
    return _call_sdk("v1", name, getattr(pe, expr.kind), *args)


def v2_expression(name: str, expr: Expression) -> Any:
    """One expression as an SDK v2 ``azure.ai.ml.sweep`` distribution object."""
    import_v2()
    from azure.ai.ml import sweep

    _check_expression("v2", name, expr)
    a = expr.args
    kind = expr.kind
    if kind == "choice":
        return sweep.Choice(values=list(a))
    if kind == "randint":
        return sweep.Randint(upper=a[0])
    bounds, gaussian = ("min_value", "max_value", "q"), ("mu", "sigma", "q")
    classes = {
        "uniform": (sweep.Uniform, bounds),
        "loguniform": (sweep.LogUniform, bounds),
        "quniform": (sweep.QUniform, bounds),
        "qloguniform": (sweep.QLogUniform, bounds),
        "normal": (sweep.Normal, gaussian),
        "lognormal": (sweep.LogNormal, gaussian),
        "qnormal": (sweep.QNormal, gaussian),
        "qlognormal": (sweep.QLogNormal, gaussian),
    }
    if kind in classes:
        cls, keys = classes[kind]
        return cls(**dict(zip(keys, a, strict=False)))
    raise reject("v2", f"expression {expr!r} of {name!r}", "use one of the asl_recog expressions")


def _call_sdk(sdk: Sdk, where: str, func: Any, *args: Any, **kwargs: Any) -> Any:
    """Call an SDK constructor; its own validation errors become ConfigurationError."""
    try:
        return func(*args, **kwargs)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"{_SDK_NAMES[sdk]} rejected {where}: {exc}") from exc
    except Exception as exc:  # the SDKs raise their own exception types (HyperDriveConfigException...)
        if type(exc).__module__.startswith(("azureml", "azure")):
            raise ConfigurationError(f"{_SDK_NAMES[sdk]} rejected {where}: {exc}") from exc
        raise


def representative(expr: Expression) -> Any:
    """A typed value inside the expression's range: v2 command inputs need a default of the right type."""
    kind, a = expr.kind, expr.args
    if kind == "choice":
        return float(a[0]) if any(isinstance(v, float) for v in a) and not isinstance(a[0], str) else a[0]
    if kind == "randint":
        return 0
    if kind in ("uniform", "quniform"):
        center = (a[0] + a[1]) / 2
    elif kind in ("loguniform", "qloguniform"):
        center = math.exp((a[0] + a[1]) / 2)
    elif kind in ("lognormal", "qlognormal"):
        center = math.exp(a[0])
    else:  # normal, qnormal
        center = a[0]
    if kind.startswith("q"):
        q = a[-1]
        value = round(center / q) * q
        return int(value) if float(q).is_integer() else float(value)
    return float(center)


# -- samplings, policies, goal ----------------------------------------------------------------------


def v1_sampling(sampling: Sampling) -> Any:
    """Our sampling as an SDK v1 ``*ParameterSampling`` with ``--name`` keys (HyperDrive's convention)."""
    import_v1()
    from azureml.train import hyperdrive as hd

    space = {cli_name(name): v1_expression(name, expr) for name, expr in sampling.parameter_space.items()}
    if isinstance(sampling, RandomParameterSampling):
        if sampling.seed is not None:
            raise reject(
                "v1",
                f"RandomParameterSampling(seed={sampling.seed}): HyperDrive v1 has no sampling seed",
                "use seed=None with AzureMLBackend, or the v2 AzureBackend (RandomSamplingAlgorithm(seed=...))",
            )
        return _call_sdk("v1", "the random sampling", hd.RandomParameterSampling, space)
    if isinstance(sampling, GridParameterSampling):
        return _call_sdk("v1", "the grid sampling", hd.GridParameterSampling, space)
    if isinstance(sampling, BayesianParameterSampling):
        return _call_sdk(
            "v1", "the Bayesian sampling (v1 wants integer quniform bounds and q)", hd.BayesianParameterSampling, space
        )
    raise reject("v1", f"sampling {sampling!r}", "use Random, Grid or BayesianParameterSampling")


def v2_sampling(sampling: Sampling) -> tuple[dict[str, Any], Any]:
    """Our sampling as (search space of v2 distributions, ``sampling_algorithm`` for ``.sweep()``)."""
    import_v2()
    from azure.ai.ml.sweep import RandomSamplingAlgorithm

    space = {name: v2_expression(name, expr) for name, expr in sampling.parameter_space.items()}
    if isinstance(sampling, RandomParameterSampling):
        algorithm: Any = (
            "random" if sampling.seed is None else RandomSamplingAlgorithm(seed=sampling.seed, rule="random")
        )
        return space, algorithm
    if isinstance(sampling, GridParameterSampling):
        return space, "grid"
    if isinstance(sampling, BayesianParameterSampling):
        return space, "bayesian"
    raise reject("v2", f"sampling {sampling!r}", "use Random, Grid or BayesianParameterSampling")


def _check_policy(sdk: Sdk, policy: EarlyTerminationPolicy | None) -> None:
    if sdk == "v2" and isinstance(policy, TruncationSelectionPolicy) and policy.exclude_finished_jobs:
        raise reject(
            sdk,
            "TruncationSelectionPolicy(exclude_finished_jobs=True): the v2 policy has no such "
            "field and always ranks finished runs too",
            "use exclude_finished_jobs=False, or AzureMLBackend (v1 sends the field)",
        )
    if isinstance(policy, RungPolicy):
        # HyperDrive has no rung budgets; a policy of other semantics would silently change the search.
        raise reject(
            sdk,
            f"{type(policy).__name__}: rung budgets (successive halving, Hyperband) are local only, "
            "HyperDrive has no such early-termination policy",
            "use BanditPolicy, MedianStoppingPolicy or TruncationSelectionPolicy on Azure, "
            f"or run {type(policy).__name__} locally (backend='local')",
        )
    if policy is not None and not isinstance(
        policy, (BanditPolicy, MedianStoppingPolicy, TruncationSelectionPolicy, NoTerminationPolicy)
    ):
        raise reject(sdk, f"policy {policy!r}", "use Bandit, MedianStopping, TruncationSelection or no policy")


def v1_policy(policy: EarlyTerminationPolicy | None) -> Any:
    """Our policy as an SDK v1 policy (None: ``NoTerminationPolicy``, as HyperDriveConfig defaults)."""
    import_v1()
    from azureml.train import hyperdrive as hd

    _check_policy("v1", policy)
    if policy is None or isinstance(policy, NoTerminationPolicy):
        return hd.NoTerminationPolicy()
    common = {"evaluation_interval": policy.evaluation_interval, "delay_evaluation": policy.delay_evaluation}
    if isinstance(policy, BanditPolicy):
        return _call_sdk(
            "v1",
            "the Bandit policy",
            hd.BanditPolicy,
            slack_factor=policy.slack_factor,
            slack_amount=policy.slack_amount,
            **common,
        )
    if isinstance(policy, MedianStoppingPolicy):
        return _call_sdk("v1", "the median stopping policy", hd.MedianStoppingPolicy, **common)
    assert isinstance(policy, TruncationSelectionPolicy)
    v1 = _call_sdk(
        "v1",
        "the truncation selection policy",
        hd.TruncationSelectionPolicy,
        truncation_percentage=policy.truncation_percentage,
        **common,
    )
    if not policy.exclude_finished_jobs:
        return v1
    # v1's constructor pins the service's "exclude_finished_jobs" field to False; the public
    # base class takes the policy's name and service properties as they are sent.
    properties = {**v1.to_json()["properties"], "exclude_finished_jobs": True}
    return hd.EarlyTerminationPolicy(hd.TruncationSelectionPolicy.POLICY_NAME, properties=properties)


def v2_policy(policy: EarlyTerminationPolicy | None) -> Any:
    """Our policy as an SDK v2 ``early_termination_policy`` (None for no policy)."""
    import_v2()
    from azure.ai.ml import sweep

    _check_policy("v2", policy)
    if policy is None or isinstance(policy, NoTerminationPolicy):
        return None
    common = {"evaluation_interval": policy.evaluation_interval, "delay_evaluation": policy.delay_evaluation}
    if isinstance(policy, BanditPolicy):
        # A BanditPolicy holds exactly one of slack_factor and slack_amount (checked when made).
        if policy.slack_factor is not None:
            return sweep.BanditPolicy(slack_factor=policy.slack_factor, **common)
        return sweep.BanditPolicy(slack_amount=policy.slack_amount or 0.0, **common)
    if isinstance(policy, MedianStoppingPolicy):
        return sweep.MedianStoppingPolicy(**common)
    assert isinstance(policy, TruncationSelectionPolicy)
    return sweep.TruncationSelectionPolicy(truncation_percentage=policy.truncation_percentage, **common)


def v1_goal(goal: PrimaryMetricGoal) -> Any:
    import_v1()
    from azureml.train.hyperdrive import PrimaryMetricGoal as V1Goal

    return V1Goal.MAXIMIZE if goal is PrimaryMetricGoal.MAXIMIZE else V1Goal.MINIMIZE


def v2_goal(goal: PrimaryMetricGoal) -> str:
    return goal.value  # "maximize" / "minimize", as the v2 Objective takes them


# -- limits -----------------------------------------------------------------------------------------


def v1_duration_minutes(minutes: float | None) -> int:
    """``max_duration_minutes`` for HyperDriveConfig: whole minutes, at most the service's 7 days."""
    if minutes is None:
        return MAX_DURATION_MINUTES
    if not float(minutes).is_integer():
        raise reject(
            "v1",
            f"max_duration_minutes={minutes}: HyperDriveConfig takes whole minutes",
            f"use max_duration_minutes={math.ceil(minutes)}",
        )
    if minutes > MAX_DURATION_MINUTES:
        raise reject(
            "v1",
            f"max_duration_minutes={minutes}: the service caps a HyperDrive run at "
            f"{MAX_DURATION_MINUTES} minutes (7 days)",
            f"use at most {MAX_DURATION_MINUTES}",
        )
    return int(minutes)


def v2_timeout_seconds(minutes: float | None) -> int | None:
    """A limit in our minutes as v2's whole seconds."""
    return None if minutes is None else max(1, round(minutes * 60))


def whole_minutes(sdk: Sdk, name: str, minutes: float) -> int:
    """AutoML's per-iteration timeout is whole minutes in both SDKs."""
    if not float(minutes).is_integer():
        raise reject(sdk, f"{name}={minutes}: Azure AutoML takes whole minutes", f"use {name}={math.ceil(minutes)}")
    return int(minutes)
