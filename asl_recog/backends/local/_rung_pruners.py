"""The rung policies as Optuna's own multi-fidelity pruners (no rule of ours: Optuna's code decides).

Unlike Azure's policies (``_pruners``), successive halving and Hyperband are written
exactly as Optuna implements them, so the policies map onto ``SuccessiveHalvingPruner``
and ``HyperbandPruner`` argument for argument. Three points of Optuna's behaviour matter
for our 1-based epoch steps:

* ``SuccessiveHalvingPruner`` compares a trial when it reports the step
  ``min_resource * reduction_factor**(min_early_stopping_rate + rung)``: with a report
  at every epoch, exactly at the rung epochs. It records each passed rung in the trial's
  system attributes, in the storage, so every worker of a search sees them.
* ``HyperbandPruner(max_resource="auto")`` takes ``last_step + 1`` of the first completed
  trial (its steps count from 0) and prunes nothing until then; each worker process
  estimates it on its own. So "auto" is resolved here to the trials' longest ``epochs`` when
  the search knows it (``max_epochs``), and left to Optuna only when it does not.
* ``HyperbandPruner`` assigns each trial to a bracket from the study's name and the trial's
  number, and hands the sampler only that bracket's trials (Optuna's ``_filter_study``):
  our per-trial seeded random sampler draws the same values either way; TPE learns per
  bracket (Bayesian sampling takes no policy, Azure's rule, so it does not arise here).
"""

from __future__ import annotations

import optuna

from asl_recog._errors import ConfigurationError
from asl_recog.search._rungs import HyperbandPolicy, RungPolicy, SuccessiveHalvingPolicy


def make_rung_pruner(policy: RungPolicy, max_epochs: int | None = None) -> optuna.pruners.BasePruner:
    """Optuna's pruner for a rung policy; ``max_epochs`` is the most epochs a trial of the search runs.

    Raises:
        ConfigurationError: no trial can reach the first rung (``max_epochs`` below it), so
            the policy would stop nothing.

    Example:
        >>> pruner = make_rung_pruner(HyperbandPolicy(min_resource=1, reduction_factor=3), max_epochs=12)
        >>> type(pruner).__name__, pruner._max_resource  # "auto" resolved to the trials' epochs
        ('HyperbandPruner', 12)
    """
    if max_epochs is not None and max_epochs < policy.first_rung:
        raise ConfigurationError(
            f"{policy!r}: its first rung is at {policy.first_rung} epochs, but the trials run at most "
            f"{max_epochs}, so no trial would ever be compared; lower min_resource (or "
            "min_early_stopping_rate) or raise epochs"
        )
    if isinstance(policy, SuccessiveHalvingPolicy):
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=policy.min_resource,
            reduction_factor=policy.reduction_factor,
            min_early_stopping_rate=policy.min_early_stopping_rate,
        )
    if isinstance(policy, HyperbandPolicy):
        top = policy.max_resource
        if top == "auto" and max_epochs is not None:
            top = max_epochs
        return optuna.pruners.HyperbandPruner(
            min_resource=policy.min_resource, max_resource=top, reduction_factor=policy.reduction_factor
        )
    raise ConfigurationError(f"no pruner for the rung policy {policy!r}")  # pragma: no cover


__all__ = ["make_rung_pruner"]
