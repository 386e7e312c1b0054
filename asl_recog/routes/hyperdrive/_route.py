"""The HyperDrive route as backends see it."""

from __future__ import annotations

from asl_recog.routes._route import Route
from asl_recog.routes.hyperdrive._refit import refit_hyperdrive
from asl_recog.routes.hyperdrive._search import local_plan, trial_params

#: The module Azure runs for each trial (``python -m``); it parses the sampled values as options.
ENTRY_MODULE = "asl_recog.routes.hyperdrive.train_cnn"

HYPERDRIVE = Route(
    name="hyperdrive",
    title="HyperDrive",
    azure_job="sweep",
    local_plan=local_plan,
    refit=refit_hyperdrive,
    entry_module=ENTRY_MODULE,
    trial_params=trial_params,
)

__all__ = ["ENTRY_MODULE", "HYPERDRIVE"]
