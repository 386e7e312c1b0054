"""A search's progress in every front end: a live table in a terminal or a notebook, plain log lines elsewhere.

* A terminal (stderr is a TTY): rich's live table, redrawn in place.
* A notebook (Jupyter, including a notebook run by nbclient or papermill): the same table as HTML
  in one output that is updated in place (``IPython.display`` with a ``display_id``; rich's own
  Live needs ipywidgets, which a plain Jupyter install lacks, and then only warns).
* Anything else (output redirected to a file, CI, a service's log): a summary line every
  :data:`LOG_EVERY_S` seconds through ``logging.getLogger("asl_recog")``.

Every front end shows trials done / running / queued, the best score so far, the time elapsed and
the time left (from the search's deadline, else from the pace of the finished trials), and every
finished trial gets one log line.
"""

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
#: Seconds between summary log lines where no live display can be shown.
LOG_EVERY_S = 30.0

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


def _clock(seconds: float) -> str:
    """``75`` -> ``"1m15s"``, ``4000`` -> ``"1h06m"``."""
    seconds = max(0, int(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def front_end(enabled: bool) -> str:
    """``"terminal"``, ``"notebook"``, ``"log"`` (progress wanted, but nowhere to draw it) or ``"off"``."""
    if not enabled:
        return "off"
    if sys.stderr.isatty():
        return "terminal"
    shell = sys.modules.get("IPython")
    ipython = getattr(shell, "get_ipython", lambda: None)() if shell is not None else None
    if ipython is not None and type(ipython).__name__ == "ZMQInteractiveShell":  # a Jupyter kernel
        return "notebook"
    return "log"


class SearchProgress:
    """Shows a search's progress in the front end it runs in; with ``enabled=False`` it only logs trials.

    ``total`` is the trials the search expects, or None for a search bounded by time alone (the
    summary then counts the trials done without a total).

    Example:
        >>> import optuna
        >>> study = optuna.create_study(direction="maximize")
        >>> study.add_trial(optuna.trial.create_trial(value=0.9, params={}, distributions={}))
        >>> with SearchProgress(True, "HyperDrive", "accuracy", 8) as progress:  # a table, or log lines
        ...     progress.update(study, {})
        >>> progress.summary(study.get_trials())
        'HyperDrive: 1/8 trials done, 0 running, 0 queued; best accuracy 0.9000; ...'
    """

    def __init__(
        self, enabled: bool, title: str, metric: str, total: int | None, *, deadline_s: float | None = None
    ) -> None:
        self.mode = front_end(enabled)
        self.enabled = self.mode in ("terminal", "notebook")
        self.title, self.metric, self.total = title, metric, total
        self._start = time.monotonic()
        self._deadline = None if deadline_s is None else self._start + deadline_s
        self._live: Any = None
        self._handle: Any = None
        self._last = self._last_log = 0.0
        self._logged: set[int] = set()
        self._logged_state: tuple[Any, ...] | None = None  # what the last summary line said, but the clock

    def __enter__(self) -> SearchProgress:
        self._start = time.monotonic()
        self._last_log = self._start
        if self.mode == "terminal":
            from rich.console import Console
            from rich.live import Live

            self._live = Live(self._render([]), console=Console(stderr=True), refresh_per_second=2, transient=False)
            self._live.__enter__()
        elif self.mode == "notebook":
            from IPython.display import HTML, display

            self._handle = display(HTML(self._html([])), display_id=True)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._live is not None:
            self._live.__exit__(kind, exc, tb)

    def summary(self, trials: list[optuna.trial.FrozenTrial]) -> str:
        """One line: trials done / running / queued, the best so far, elapsed and left."""
        return self._line(self._state(trials))

    def _line(self, state: tuple[int, int, int, str]) -> str:
        """The summary line of a :meth:`_state`, with the clock read now."""
        done, running, queued, best = state
        elapsed = time.monotonic() - self._start
        if self._deadline is not None and time.monotonic() > self._deadline:
            left = "past the time limit, finishing"  # a first trial in its grace, or the last kills
        elif self._deadline is not None:
            left = f"at most {_clock(self._deadline - time.monotonic())} left"
        elif done and self.total is not None and self.total > done:
            left = f"about {_clock(elapsed / done * (self.total - done))} left"
        else:
            left = "time left unknown" if not done else "finishing"
        # A time-bounded search has no trial count to show; a trial added after the search (AutoML's
        # voting ensemble) raises the count rather than reading "5/4".
        count = f"{done}" if self.total is None else f"{done}/{max(self.total, done + running + queued)}"
        return (
            f"{self.title}: {count} trials done, {running} running, "
            f"{queued} queued; {best}; {_clock(elapsed)} elapsed, {left}"
        )

    def _state(self, trials: list[optuna.trial.FrozenTrial]) -> tuple[int, int, int, str]:
        """Trials done, running and queued, and the best score so far, as the summary words it."""
        states = [trial_status(t) for t in trials]
        done = sum(t.state.is_finished() for t in trials)
        values = [t.value for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
        best = f"best {self.metric} {max(values):.4f}" if values else f"no {self.metric} yet"
        return done, states.count("running"), states.count("queued"), best

    def update(self, study: optuna.Study, running: dict[int, float], *, force: bool = False) -> None:
        """Refresh the display (at most once a second, unless ``force``) and log newly finished trials."""
        now = time.monotonic()
        if now - self._last < 1.0 and not force:
            return
        self._last = now
        trials = [t for t in study.get_trials(deepcopy=False) if not was_not_run(t)]  # duplicates, over the limit
        for t in trials:
            if t.state.is_finished() and t.number not in self._logged:
                self._logged.add(t.number)
                error = t.user_attrs.get("error") if t.state == TrialState.FAIL else None
                value = _value(t)
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
        elif self._handle is not None:
            from IPython.display import HTML

            self._handle.update(HTML(self._html(trials)))
        elif self.mode == "log" and (now - self._last_log >= LOG_EVERY_S or force):
            state = self._state(trials)
            if force and state == self._logged_state:
                return  # the search's end repeats the line just logged: nothing changed but the clock
            self._last_log, self._logged_state = now, state
            logger.info("%s", self._line(state))

    def _html(self, trials: list[optuna.trial.FrozenTrial]) -> str:
        """The table as self-contained HTML (inline styles): what a notebook output shows."""
        import io

        from rich.console import Console

        console = Console(record=True, file=io.StringIO(), width=110, force_jupyter=False)
        console.print(self._render(trials))
        return console.export_html(inline_styles=True, code_format="<pre style='font-size:12px'>{code}</pre>")

    def _render(self, trials: list[optuna.trial.FrozenTrial]) -> Any:
        from rich.table import Table

        table = Table(title=self.summary(trials), expand=False)
        for column in ("trial", "status", self.metric, "steps", "seconds", "params"):
            table.add_column(column)
        for t in trials[-15:]:  # keep the table a screen high
            status = trial_status(t)
            value = _value(t)
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


def _value(t: optuna.trial.FrozenTrial) -> float | None:
    """The final value, else the last reported one (a running or pruned trial)."""
    if t.value is not None:
        return float(t.value)
    return t.intermediate_values[t.last_step] if t.last_step is not None else None


__all__ = ["LOG_EVERY_S", "SearchProgress", "front_end", "trial_status"]
