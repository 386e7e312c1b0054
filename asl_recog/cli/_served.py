"""Which file the main job serves: a network's int8 file when the Comparator finds it as good as the float one.

The main job exports each Keras network twice, as a float graph and as ONNX Runtime's static
int8 quantization of it (:func:`export_int8`), and hands both files to the Comparator beside the
other route's. The int8 file is served (:func:`choose_served`) only when, on the Comparator's own
figures, it is

- no less accurate on the test file than the float file's 95 % interval allows,
- no less robust: its mean corruption accuracy is within the float file's 95 % interval or above,
- and faster: its single-image p50 is below the float file's. The main job times the two files
  side by side for this (:func:`served_p50`: alternating rounds, the median of each file's round
  p50s), since the comparison times one file after the other, and on a 2-core machine one file's
  p50 moved by 50 % between runs a minute apart; without those figures the comparison's are used.

Otherwise the float file is served and the log says which condition failed. The winning *route*
is chosen among the float files alone, as before, so that int8 never decides between routes.
An int8 file calibrates on, and is checked against, the grouped validation split only (its
agreement with the float graph is checked at export, which refuses below 0.99); the test file is
read by the Comparator alone.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asl_recog.data._dataset import SignMnistDataset
from asl_recog.models._export import OnnxExportError, export_onnx
from asl_recog.models._onnx import OnnxModel
from asl_recog.models._record import RunRecord
from asl_recog.models._unknown import UNKNOWN_STATS_KEY, UnknownThreshold, choose_unknown_threshold
from asl_recog.results._result import TrainingResult

#: The Comparator's name for a route's int8 file: ``hyperdrive`` -> ``hyperdrive-int8``.
INT8_SUFFIX = "-int8"


def int8_name(route: str) -> str:
    """The comparison entry of ``route``'s int8 file.

    Example:
        >>> int8_name("hyperdrive")
        'hyperdrive-int8'
    """
    return route + INT8_SUFFIX


def export_int8(
    result: TrainingResult,
    path: Path,
    validation: SignMnistDataset,
    *,
    record: RunRecord,
    metadata: dict[str, Any],
    float_unknown: UnknownThreshold,
) -> OnnxModel | str:
    """Write the int8 file of a Keras route's model to ``path``; the written model, or why it was not written.

    Its "unknown" threshold is chosen on int8 outputs of a model that has not seen the validation
    images (the selected trial's own model, quantized the same way into a temporary file; the served
    model was refit on them), by the float file's rule, bounded to refuse no more of the correct
    validation answers than the float file's threshold does. Without that bound the rule's optimum,
    which is flat (the main job's CNN: correct answers kept minus out-of-distribution images kept,
    0.963 at the float threshold and 0.960 at the int8 one), moved the int8 file to a stricter
    threshold (0.61 against 0.54, refusing 3.4 % of correct answers against 2.0 %) and cost it 4 points
    of mCA, a difference of threshold, not of quantization (docs/benchmarks.md).

    Args:
        result: the route's training result (``best_model`` a Keras network).
        path: where the int8 file goes (beside the float ``model.onnx``).
        validation: the grouped validation split: calibration, agreement and the threshold.
        record: the file's run record (its ``name`` is the comparison entry).
        metadata: the float file's extra metadata, without its threshold (chosen on float outputs).
        float_unknown: the float file's threshold, as chosen on the trial model's float outputs.
    """
    parity = validation[:512]
    trial_model = result.trial_model if result.refit and result.trial_model is not None else result.best_model
    try:
        with tempfile.TemporaryDirectory(prefix="asl_recog_int8_") as tmp:
            trial = export_onnx(
                trial_model,
                Path(tmp) / "trial_int8.onnx",
                parity_data=parity,
                calibration_data=validation,
                quantize="int8",
                test_data=False,
            )
            bound = min(float_unknown.max_refused, float_unknown.refused_correct)
            unknown = choose_unknown_threshold(trial, validation, max_refused=bound).as_metadata()
        unknown[UNKNOWN_STATS_KEY] = {**unknown[UNKNOWN_STATS_KEY], "outputs": "int8"}
        return export_onnx(
            result.best_model,
            path,
            parity_data=parity,
            calibration_data=validation,
            metadata={**metadata, **unknown},
            record=record,
            quantize="int8",
        )
    except OnnxExportError as exc:  # the float file is served; say why there is no int8 one
        return str(exc)


@dataclass(frozen=True)
class ServedChoice:
    """The file the main job serves, and why.

    Attributes:
        name: its comparison entry (``"hyperdrive"``, ``"hyperdrive-int8"``, ``"automl"``).
        route: the winning route, chosen among the float files.
        reason: one sentence for the log and the summary.

    Example:
        >>> ServedChoice("hyperdrive-int8", "hyperdrive", "as accurate").int8
        True
    """

    name: str
    route: str
    reason: str

    @property
    def int8(self) -> bool:
        """Whether the served file is the int8 one."""
        return self.name.endswith(INT8_SUFFIX)


def _route_and_variant(summary: Any) -> tuple[str, str | None]:
    """The winning route (the best float row) and its int8 entry's name, or None when it has none."""
    names = [str(name) for name in summary.index]
    route = next(name for name in names if not name.endswith(INT8_SUFFIX))
    variant = int8_name(route)
    return route, variant if variant in names else None


def served_p50(comparison: Any, files: dict[str, Path], images: Any) -> dict[str, float]:
    """The winning route's float and int8 files' p50 (ms), timed side by side; empty without an int8 file.

    Args:
        comparison: the ComparisonResult whose first float row is the winning route.
        files: comparison entry name -> its ONNX file.
        images: raw uint8 images to time on (the test file's, as the comparison times them).
    """
    from asl_recog.evaluation._latency import side_by_side_p50

    route, variant = _route_and_variant(comparison.summary)
    if variant is None or route not in files or variant not in files:
        return {}
    models = {name: OnnxModel.load(files[name]) for name in (route, variant)}
    return side_by_side_p50(models, images)


def choose_served(comparison: Any, p50: dict[str, float] | None = None) -> ServedChoice:
    """The file to serve from ``comparison`` (a ComparisonResult): see the module's docstring.

    ``p50``: single-image p50 (ms) by entry name, timed side by side (:func:`served_p50`); the
    comparison's own figures stand in for a name it lacks.

    Example:
        >>> import pandas as pd
        >>> from types import SimpleNamespace
        >>> rows = {"accuracy": [0.9990, 0.9992], "accuracy_ci_low": [0.9982, 0.9985], "latency_p50_ms": [0.15, 0.10]}
        >>> summary = pd.DataFrame(rows, index=["hyperdrive", "hyperdrive-int8"])
        >>> choose_served(SimpleNamespace(summary=summary, robustness={})).name
        'hyperdrive-int8'
    """
    summary = comparison.summary
    route, variant = _route_and_variant(summary)
    if variant is None:
        return ServedChoice(route, route, "the winning route has no int8 file")
    floats, int8 = summary.loc[route], summary.loc[variant]
    if float(int8["accuracy"]) < float(floats["accuracy_ci_low"]):
        return ServedChoice(
            route,
            route,
            f"its int8 file's test accuracy {float(int8['accuracy']):.4f} is below the float file's 95% "
            f"interval (from {float(floats['accuracy_ci_low']):.4f})",
        )
    robust = getattr(comparison, "robustness", None) or {}
    if route in robust and variant in robust and robust[variant].mca < robust[route].mca_ci[0]:
        return ServedChoice(
            route,
            route,
            f"its int8 file's mCA {robust[variant].mca:.4f} is below the float file's 95% interval "
            f"(from {robust[route].mca_ci[0]:.4f})",
        )
    timed = p50 or {}
    side = " side by side" if variant in timed and route in timed else ""
    fast = float(timed.get(variant, int8["latency_p50_ms"]))
    slow = float(timed.get(route, floats["latency_p50_ms"]))
    if not fast < slow:
        return ServedChoice(
            route, route, f"its int8 file answered no faster ({fast:.3f} against {slow:.3f} ms p50{side})"
        )
    return ServedChoice(
        variant,
        route,
        f"its int8 file is as accurate and as robust as the float file, within its 95% intervals, and "
        f"faster ({fast:.3f} against {slow:.3f} ms p50{side})",
    )


__all__ = ["INT8_SUFFIX", "ServedChoice", "choose_served", "export_int8", "int8_name", "served_p50"]
