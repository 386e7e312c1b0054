"""How a :class:`~asl_recog.TrainingResult` looks in a notebook: an HTML summary and a history plot.

Figures are built as ``matplotlib.figure.Figure`` objects, without pyplot: nothing is shown or
saved behind the caller's back and no global backend is changed; a notebook displays a returned
figure by itself, and ``fig.savefig(...)`` writes one.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

#: Cells of the leaderboard's long columns (``params``, ``history``) are cut to this many characters in HTML.
CELL_CHARS = 60
#: Rows of the leaderboard shown in the HTML view.
HEAD_ROWS = 10


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


def leaderboard_head(board: pd.DataFrame, rows: int = HEAD_ROWS) -> pd.DataFrame:
    """The first ``rows`` of ``board`` with ``params`` and ``history`` shortened to readable text.

    Example:
        >>> board = pd.DataFrame({"trial": [0], "params": [{"k": 1}], "history": [[0.1 * i for i in range(40)]]})
        >>> len(leaderboard_head(board).loc[0, "history"]) <= CELL_CHARS
        True
    """
    head = board.head(rows).copy()
    for column in ("params", "history", "error"):
        if column in head:
            head[column] = [_short(v) if v is not None else "" for v in head[column]]
    return head


def result_html(result: Any) -> str:
    """An HTML summary of a training result: the headline facts, then the leaderboard's head."""
    facts = [
        ("best score", f"{result.best_score:.4f} ({result.primary_metric})"),
        ("best trial", result.best_trial),
        ("best params", _short(result.best_params) if len(str(result.best_params)) > 200 else result.best_params),
        ("backend", result.backend),
        ("trials", len(result.leaderboard)),
        ("duration", f"{result.duration_s:.1f} s"),
        ("refit", f"yes ({result.refit_seconds:.1f} s)" if result.refit else "no"),
        ("run folder", result.run_dir),
    ]
    left = "style='text-align:left'"
    rows = "".join(f"<tr><th {left}>{html.escape(k)}</th><td {left}>{html.escape(str(v))}</td></tr>" for k, v in facts)
    board = leaderboard_head(result.leaderboard)
    more = len(result.leaderboard) - len(board)
    tail = f"<p>… and {more} more trial(s): <code>result.leaderboard</code></p>" if more > 0 else ""
    return (
        "<div><strong>TrainingResult</strong>"
        f"<table>{rows}</table>"
        f"<details open><summary>leaderboard</summary>{board.to_html(index=False, float_format=_float)}{tail}</details>"
        "</div>"
    )


def _float(value: float) -> str:
    return f"{value:.4g}"


def history_figure(result: Any) -> Any:
    """Per-epoch validation curves, one per trial; trial scores in trial order where no trial has a history.

    Returns:
        A ``matplotlib.figure.Figure``.
    """
    from matplotlib.figure import Figure

    board = result.leaderboard
    metric = result.primary_metric
    fig = Figure(figsize=(6.5, 4.0))
    ax = fig.subplots()
    histories = [
        (trial, list(history))
        for trial, history in zip(board["trial"], board.get("history", []), strict=False)
        if isinstance(history, list) and len(history) > 1
    ]
    if histories:
        for trial, history in histories:
            best = trial == result.best_trial
            ax.plot(
                range(1, len(history) + 1),
                history,
                marker="." if len(history) < 30 else None,
                linewidth=2.2 if best else 1.0,
                alpha=1.0 if best else 0.5,
                label=f"trial {trial} (selected)" if best else None,
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"validation {metric}")
        ax.set_title(f"Validation {metric} per epoch ({len(histories)} trial(s))")
        if result.best_trial is not None:
            ax.legend(loc="lower right")
    else:  # AutoML trials have one score each: the search's progress instead of training curves
        ordered = board.sort_values("trial")
        scores = pd.to_numeric(ordered[metric], errors="coerce")
        ax.plot(ordered["trial"], scores, "o", alpha=0.7, label="trial")
        ax.plot(ordered["trial"], scores.cummax(), "-", label="best so far")
        ax.set_xlabel("trial")
        ax.set_ylabel(f"validation {metric}")
        ax.set_title(f"Validation {metric} per trial")
        ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


__all__ = ["CELL_CHARS", "HEAD_ROWS", "history_figure", "leaderboard_head", "result_html"]
