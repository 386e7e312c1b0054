"""The ONNX parity rule: when a converted graph answers as the model it was converted from.

One rule for the export (:func:`asl_recog.models._export.export_onnx`, which refuses to write
a graph that breaks it) and for the AutoML search, which checks every candidate's graph
before it can be selected or refit (:func:`asl_recog.models._budgets.check_model`): a model
whose probabilities move with float32 rounding (an RBF kernel map with large weights after it)
is then left out during the search, not found at the end of the job.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Parity tolerance: largest absolute probability difference allowed.
PARITY_ATOL = 1e-4
_TIE = 1e-6  # reference top-2 gap below which either argmax is right
#: Real images the rule is checked on, at export and for each AutoML candidate.
PARITY_ROWS = 256


def parity_failure(want: Any, got: Any) -> str | None:
    """What differs between a model's probabilities ``want`` and its ONNX graph's ``got``, or None.

    The rule of the export's parity check: no predicted letter may differ (except where the
    model itself ties at the top), and no probability by more than :data:`PARITY_ATOL`.

    Example:
        >>> want = np.array([[0.9, 0.1], [0.3, 0.7]])
        >>> parity_failure(want, want + 1e-6) is None
        True
        >>> parity_failure(want, np.array([[0.9, 0.1], [0.6, 0.4]]))
        '1 predicted letters differ (first rows [1]), largest probability difference 3.00e-01 (allowed 0.0001)'
    """
    want, got = np.asarray(want, dtype=np.float64), np.asarray(got, dtype=np.float64)
    if got.shape != want.shape:
        return f"the graph returns shape {got.shape}, the model {want.shape}"
    worst = float(np.abs(got - want).max())
    rows = np.arange(len(want))
    # Disagreements where the model itself has a tie at the top are not errors.
    flips = np.flatnonzero((got.argmax(1) != want.argmax(1)) & (want.max(1) - want[rows, got.argmax(1)] > _TIE))
    if flips.size or worst > PARITY_ATOL:
        return (
            f"{flips.size} predicted letters differ (first rows {flips[:5].tolist()}), largest probability "
            f"difference {worst:.2e} (allowed {PARITY_ATOL:g})"
        )
    return None


def parity_sample(rows: Any, n: int = PARITY_ROWS) -> Any:
    """At most ``n`` of ``rows``, spread evenly over them (not the first ``n``: a split's
    rows may come ordered by letter or by source photo).

    Example:
        >>> parity_sample(np.arange(1000), 4).tolist()
        [0, 250, 500, 750]
    """
    return rows[:: max(1, len(rows) // n)][:n]


__all__ = ["PARITY_ATOL", "PARITY_ROWS", "parity_failure", "parity_sample"]
