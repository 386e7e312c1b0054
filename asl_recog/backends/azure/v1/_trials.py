"""SDK v1 child runs read back as Trial records."""

from __future__ import annotations

import logging
from typing import Any

from asl_recog.backends.azure import _results as results
from asl_recog.results import TrialStatus

logger = logging.getLogger("asl_recog")


# -- child runs -> trials ---------------------------------------------------------------------------


def _duration(run: Any) -> float | None:
    import datetime as dt

    try:
        details = run.get_details()
        start, end = details.get("startTimeUtc"), details.get("endTimeUtc")
        if not start or not end:
            return None
        parse = dt.datetime.fromisoformat
        return (parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))).total_seconds()
    except Exception:  # durations are informative only
        return None


def automl_trials(parent: Any, metric: str) -> list[results.Trial]:
    """AutoML iterations (children with a ``run_algorithm`` property; setup runs are skipped)."""
    trials = []
    for child in parent.get_children():
        props = dict(child.get_properties() or {})
        algorithm = props.get("run_algorithm")
        if not algorithm:
            continue
        history = results.as_history(child.get_metrics().get(metric)) or results.as_history(props.get("score"))
        params = {"algorithm": algorithm}
        if props.get("run_preprocessor"):
            params["preprocessor"] = props["run_preprocessor"]
        trials.append(
            results.Trial(
                child.id,
                TrialStatus.from_azure(child.get_status()),
                params,
                history,
                model=algorithm,
                duration_s=_duration(child),
                handle=child,
            )
        )
    return trials


def hyperdrive_trials(parent: Any, metric: str, builder: str) -> list[results.Trial]:
    """HyperDrive children with their sampled params and per-epoch metric history."""
    params = parent.get_hyperparameters()
    trials = []
    for child in parent.get_children():
        history = results.as_history(child.get_metrics(name=metric).get(metric))
        trials.append(
            results.Trial(
                child.id,
                TrialStatus.from_azure(child.get_status()),
                results.parse_params(params.get(child.id)),
                history,
                model=builder,
                duration_s=_duration(child),
                handle=child,
            )
        )
    return trials


__all__ = ["automl_trials", "hyperdrive_trials"]
