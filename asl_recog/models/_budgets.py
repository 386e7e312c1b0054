"""The model-size budget: what a candidate may weigh to be served in a small container.

A model counts at the larger of its two forms: the saved training-side file and
its ONNX graph (tree ensembles can be several times larger in ONNX, where every
leaf stores one weight per class). The default budget, 100 MB, was chosen from
the serving measurements in docs/benchmarks.md: the service holding a model of
that size stays under 300 MiB of resident memory, inside a 1 GB container such
as the Azure Container Instance the seed project deployed to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from asl_recog._errors import AslRecogError
from asl_recog.models._export import OnnxExportError, convert_sklearn_estimator
from asl_recog.models._parity import parity_failure

#: Bytes in the MB of ``max_model_size_mb`` (decimal, as disk sizes are quoted).
MB = 10**6


class CandidateRejected(AslRecogError):
    """A trial's model does not meet a requirement of the search: the trial is recorded as failed with
    the reason, never enters an ensemble, and does not count as a crash (no fail-fast)."""


class BudgetExceeded(CandidateRejected):
    """A trial's model breaks a budget (size)."""


class LatencyExceeded(CandidateRejected):
    """A trial's ONNX graph scores one image slower than ``max_latency_ms`` (see ``_latency``).

    Attributes:
        latency_ms: the measured milliseconds per image (before the margin), so that a
            caller trimming an ensemble knows how much it must save; None when unknown.
    """

    def __init__(self, message: str, latency_ms: float | None = None) -> None:
        super().__init__(message)
        self.latency_ms = latency_ms


class ParityFailed(CandidateRejected):
    """A trial's ONNX graph does not answer as the model does (:mod:`asl_recog.models._parity`):
    the export would refuse to write it, so the search must not select it."""


def check_size(what: str, nbytes: int, max_model_size_mb: float) -> None:
    """Raise :class:`BudgetExceeded` when ``nbytes`` is over ``max_model_size_mb``.

    Example:
        >>> try:
        ...     check_size("the ONNX graph", 150 * MB, 100)
        ... except BudgetExceeded as exc:
        ...     print(exc)
        the ONNX graph is 150.0 MB, over max_model_size_mb=100; a smaller configuration ... fits, or raise ...
    """
    if nbytes > max_model_size_mb * MB:
        raise BudgetExceeded(
            f"{what} is {nbytes / MB:.1f} MB, over max_model_size_mb={max_model_size_mb:g}; "
            "a smaller configuration (fewer or shallower trees, fewer stored samples) fits, "
            "or raise max_model_size_mb if the serving container is larger"
        )


def sklearn_onnx_bytes(estimator: Any) -> int:
    """Size of the ONNX graph of a fitted scikit-learn pipeline, converted as :func:`export_onnx` does."""
    return int(convert_sklearn_estimator(estimator).ByteSize())


def check_model(
    saved: Path,
    estimator: Any,
    max_model_size_mb: float,
    *,
    onnx: bool = True,
    max_latency_ms: float | None = None,
    measured: dict[str, float] | None = None,
    parity_rows: np.ndarray | None = None,
) -> int | None:
    """Check a saved scikit-learn model, and its ONNX graph, against the budgets; return the ONNX bytes.

    The file is checked first: a model already over budget is never converted,
    since converting a huge tree ensemble takes many times its size in memory.

    Args:
        onnx: the search requires ONNX-convertible models (``enable_onnx_compatible_models``):
            convert, and reject a model that does not convert. False checks the file only.
        max_latency_ms: also time one image through the graph (``_latency.onnx_latency_ms``);
            None (the default) measures nothing. Needs ``onnx``.
        measured: if given, receives ``"onnx_latency_ms"`` when the latency was measured.
        parity_rows: real images as ``estimator`` takes them (flat float32 rows); if given, the
            graph must answer them as the estimator does, by the export's own rule. Without it a
            model that the export refuses (float32 rounding moving its probabilities) could win a
            search and fail only at the end of the job.

    Raises:
        BudgetExceeded: the file or the graph is over ``max_model_size_mb``.
        LatencyExceeded: the graph is over ``max_latency_ms`` (with the margin).
        ParityFailed: the graph's answers on ``parity_rows`` break the export's parity rule.
        CandidateRejected: ONNX is required and the model does not convert.
    """
    check_size(f"the saved model {saved.name}", saved.stat().st_size, max_model_size_mb)
    if not onnx:
        return None
    try:
        graph = convert_sklearn_estimator(estimator)  # once: sized here, timed below
    except OnnxExportError as exc:
        raise CandidateRejected(
            f"{exc}; ONNX-convertible models are required (enable_onnx_compatible_models=True)"
        ) from exc
    onnx_bytes = int(graph.ByteSize())
    check_size("its ONNX graph", onnx_bytes, max_model_size_mb)
    from asl_recog.models._latency import graph_session, latency_message, onnx_latency_ms

    check_parity = parity_rows is not None and len(parity_rows) > 0
    # One session serves both checks (the graph is loaded once).
    session: Any = graph_session(graph) if check_parity or max_latency_ms is not None else None
    if check_parity:
        rows = np.asarray(parity_rows, dtype=np.float32)
        got = session.run(None, {session.get_inputs()[0].name: rows})[-1]  # ZipMap off: probabilities
        failure = parity_failure(estimator.predict_proba(rows), got)
        if failure is not None:
            raise ParityFailed(
                f"its ONNX graph does not answer as the model does on {len(rows)} images: {failure}; "
                "the export would refuse it (a model whose probabilities move with float32 rounding, such "
                "as an RBF kernel map under large weights; a smaller C or another algorithm converts)"
            )
    if max_latency_ms is not None:
        latency = onnx_latency_ms(graph, session=session)
        if measured is not None:
            measured["onnx_latency_ms"] = latency
        reason = latency_message("its ONNX graph", latency, max_latency_ms)
        if reason is not None:
            raise LatencyExceeded(reason, latency)
    return onnx_bytes


__all__ = [
    "MB",
    "CandidateRejected",
    "BudgetExceeded",
    "LatencyExceeded",
    "ParityFailed",
    "check_size",
    "check_model",
    "sklearn_onnx_bytes",
]
