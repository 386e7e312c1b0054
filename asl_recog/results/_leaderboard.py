"""One leaderboard schema, one status vocabulary and one best-trial rule for every backend.

Before this module the local backend said ``"completed"`` where the Azure
backends said ``"complete"``, and the two picked a trial's score differently
(last epoch locally, best logged value on Azure). Now every backend describes its
trials as rows and this module ranks them.

The score rule: a trial's score is its **last** reported value, because that is
the value of the model the trial saved (a CNN trial keeps its final network, not
its best epoch's). The best epoch of the curve is used only to decide how long
the refit trains (:func:`best_epoch`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd


class TrialStatus(StrEnum):
    """The status of a trial on a leaderboard, whatever ran it.

    Example:
        >>> TrialStatus("completed") is TrialStatus.COMPLETED
        True
        >>> TrialStatus.from_azure("Completed"), TrialStatus.from_azure("CancelRequested")
        (<TrialStatus.COMPLETED: 'completed'>, <TrialStatus.CANCELED: 'canceled'>)
    """

    COMPLETED = "completed"  #: finished and scored; may be selected
    PRUNED = "pruned"  #: stopped early by the early-termination policy
    CANCELED = "canceled"  #: stopped by a person or by the experiment's deadline
    INTERRUPTED = "interrupted"  #: its process died (the run can be resumed)
    FAILED = "failed"  #: raised an error, ran out of time or broke a budget
    RUNNING = "running"
    QUEUED = "queued"

    @classmethod
    def from_azure(cls, status: Any) -> TrialStatus:
        """Map an Azure ML run or job status (either SDK's spelling) onto this vocabulary."""
        text = str(getattr(status, "value", status) or "").replace(" ", "").replace("_", "").lower()
        return _AZURE.get(text, cls.FAILED if text in ("notresponding", "paused") else cls.QUEUED)


_AZURE: dict[str, TrialStatus] = {
    "completed": TrialStatus.COMPLETED,
    "complete": TrialStatus.COMPLETED,
    "finished": TrialStatus.COMPLETED,
    "failed": TrialStatus.FAILED,
    "canceled": TrialStatus.CANCELED,
    "cancelrequested": TrialStatus.CANCELED,
    "running": TrialStatus.RUNNING,
    "finalizing": TrialStatus.RUNNING,
    "notstarted": TrialStatus.QUEUED,
    "queued": TrialStatus.QUEUED,
    "preparing": TrialStatus.QUEUED,
    "starting": TrialStatus.QUEUED,
    "provisioning": TrialStatus.QUEUED,
}

#: Leaderboard order: selectable trials first, then the ones that ran but were stopped, then the rest.
_ORDER = list(TrialStatus)

#: The columns every leaderboard has, in order; the primary metric's name takes the place of ``"{metric}"``.
LEADERBOARD_COLUMNS = ("trial", "model", "params", "status", "{metric}", "history", "duration_s", "error")


def final_value(history: Sequence[float | None]) -> float:
    """A trial's score: its last finite reported value (NaN when it reported none)."""
    for value in reversed(list(history)):
        if value is not None and math.isfinite(float(value)):
            return float(value)
    return math.nan


def best_epoch(history: Sequence[float], maximize: bool = True) -> int:
    """The 1-based epoch with the best value; the latest of equal values (more training, lower rate).

    Every backend's refit trains this many epochs on all the data.

    Example:
        >>> best_epoch([0.90, 0.95, 0.95, 0.93])
        3
    """
    if not len(history):
        raise ValueError("the trial has no per-epoch history")
    values = np.asarray(history, dtype=float)
    best = np.nanmax(values) if maximize else np.nanmin(values)
    return int(np.flatnonzero(values == best)[-1]) + 1


def make_leaderboard(rows: Iterable[Mapping[str, Any]], metric: str, maximize: bool) -> pd.DataFrame:
    """The leaderboard of a search: one row per trial, in one order for every backend.

    Completed trials come first, best score first; then pruned, canceled,
    interrupted and failed ones; trials without a score sink within their group;
    ties go to the earlier trial.

    Args:
        rows: one mapping per trial with the keys of :data:`LEADERBOARD_COLUMNS`
            (``"value"`` in place of the metric's name); ``status`` is a
            :class:`TrialStatus` or its value; an optional ``host`` (the machine
            that ran the trial) adds a ``host`` column.
        metric: the primary metric's name, used as the score column's name.
        maximize: whether a larger score is better.

    Example:
        >>> board = make_leaderboard([
        ...     {"trial": 0, "model": "cnn", "params": {}, "status": "pruned", "value": 0.5, "history": [0.5]},
        ...     {"trial": 1, "model": "cnn", "params": {}, "status": "completed", "value": 0.9, "history": [0.8, 0.9]},
        ... ], "accuracy", maximize=True)
        >>> board[["trial", "status", "accuracy"]].values.tolist()
        [[1, 'completed', 0.9], [0, 'pruned', 0.5]]
    """
    columns = [metric if c == "{metric}" else c for c in LEADERBOARD_COLUMNS]
    records = []
    for row in rows:
        status = TrialStatus(row["status"])
        value = row.get("value")
        records.append(
            {
                "trial": row["trial"],
                "model": row.get("model", ""),
                "params": dict(row.get("params") or {}),
                "status": status.value,
                metric: math.nan if value is None else float(value),
                "history": [float(v) for v in row.get("history") or []],
                "duration_s": math.nan if row.get("duration_s") is None else float(row["duration_s"]),
                "error": row.get("error"),
                **({"host": row.get("host")} if "host" in row else {}),
            }
        )
    if any("host" in record for record in records):
        columns.append("host")  # a search shared between hosts: which host ran each trial
    frame = pd.DataFrame(records, columns=columns)
    if frame.empty:
        return frame
    scores = pd.to_numeric(frame[metric], errors="coerce")
    key = (-scores if maximize else scores).fillna(np.inf).to_numpy()
    rank = frame["status"].map(lambda s: _ORDER.index(TrialStatus(s))).to_numpy()
    position = np.arange(len(frame))  # the backend's own order (trial creation) breaks ties
    order = np.lexsort((position, key, scores.isna().to_numpy(), rank))
    return frame.iloc[order].reset_index(drop=True)


__all__ = ["LEADERBOARD_COLUMNS", "TrialStatus", "best_epoch", "final_value", "make_leaderboard"]
