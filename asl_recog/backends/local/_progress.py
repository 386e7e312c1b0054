"""A live table of a search's trials (rich), and log lines through ``logging.getLogger("asl_recog")``."""

from __future__ import annotations

import logging
import sys
import time
from types import TracebackType
from typing import Any

import optuna
from optuna.trial import TrialState

from asl_recog.backends.local._heartbeat import is_interrupted
from asl_recog.backends.local._reservation import was_not_run

logger = logging.getLogger("asl_recog")

_STATUS = {
    TrialState.COMPLETE: "completed",
    TrialState.PRUNED: "pruned",
    TrialState.FAIL: "failed",
    TrialState.RUNNING: "running",
    TrialState.WAITING: "queued",
}
_STYLE = {
    "completed": "green",
    "pruned": "yellow",
    "failed": "red",
    "running": "cyan",
    "queued": "dim",
    "interrupted": "magenta",
}


def trial_status(trial: optuna.trial.FrozenTrial) -> str:
    """completed / pruned / failed / interrupted / running / queued.

    Interrupted: its process died or was stopped, and its configuration was (or is, on resume) run again.
    """
    if is_interrupted(trial):
        return "interrupted"
    return _STATUS.get(trial.state, trial.state.name.lower())


def _short(params: dict[str, Any], width: int = 60) -> str:
    text = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
    return text if len(text) <= width else text[: width - 1] + "…"


class SearchProgress:
    """Shows trials as they run; with ``enabled=False`` (or no terminal) it only logs.

    Example:
        >>> import optuna
        >>> study = optuna.create_study(direction="maximize")
        >>> study.add_trial(optuna.trial.create_trial(value=0.9, params={}, distributions={}))
        >>> with SearchProgress(True, "HyperDrive", "accuracy", 8) as progress:  # a live table in a terminal
        ...     progress.update(study, {})
    """

    def __init__(self, enabled: bool, title: str, metric: str, total: int) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.title, self.metric, self.total = title, metric, total
        self._live: Any = None
        self._last = 0.0
        self._logged: set[int] = set()

    def __enter__(self) -> SearchProgress:
        if self.enabled:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(self._render([]), console=Console(stderr=True), refresh_per_second=2, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._live is not None:
            self._live.__exit__(kind, exc, tb)

    def update(self, study: optuna.Study, running: dict[int, float], *, force: bool = False) -> None:
        """Refresh the table (at most once a second, unless ``force``) and log newly finished trials."""
        now = time.monotonic()
        if now - self._last < 1.0 and not force:
            return
        self._last = now
        trials = [t for t in study.get_trials(deepcopy=False) if not was_not_run(t)]  # duplicates, over the limit
        for t in trials:
            if t.state.is_finished() and t.number not in self._logged:
                self._logged.add(t.number)
                value = (
                    t.value
                    if t.value is not None
                    else (t.intermediate_values[t.last_step] if t.last_step is not None else None)
                )
                error = t.user_attrs.get("error") if t.state == TrialState.FAIL else None
                logger.info(
                    "%s trial %d %s: %s=%s %s%s",
                    self.title,
                    t.number,
                    trial_status(t),
                    self.metric,
                    "-" if value is None else f"{value:.4f}",
                    _short(t.user_attrs.get("params", {})),
                    f" ({error})" if error else "",
                )
        if self._live is not None:
            self._live.update(self._render(trials))

    def _render(self, trials: list[optuna.trial.FrozenTrial]) -> Any:
        from rich.table import Table

        done = sum(1 for t in trials if t.state.is_finished())
        table = Table(title=f"{self.title}: {done}/{self.total} trials", expand=False)
        for column in ("trial", "status", self.metric, "steps", "seconds", "params"):
            table.add_column(column)
        for t in trials[-15:]:  # keep the table a screen high
            status = trial_status(t)
            value = (
                t.value
                if t.value is not None
                else (t.intermediate_values[t.last_step] if t.last_step is not None else None)
            )
            end = t.datetime_complete.timestamp() if t.datetime_complete else time.time()
            seconds = end - t.datetime_start.timestamp() if t.datetime_start else 0.0
            table.add_row(
                str(t.number),
                f"[{_STYLE.get(status, 'white')}]{status}",
                "-" if value is None else f"{value:.4f}",
                str(len(t.intermediate_values)),
                f"{seconds:.0f}",
                _short(t.user_attrs.get("params", {})),
            )
        return table


__all__ = ["SearchProgress", "trial_status"]
