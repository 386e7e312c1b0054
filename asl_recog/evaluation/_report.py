"""Write a comparison as Markdown and HTML with PNG plots (matplotlib, Agg backend)."""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from asl_recog._version import __version__
from asl_recog.data._labels import LETTERS
from asl_recog.evaluation._photos import PhotoResult, photos_frame
from asl_recog.evaluation._robustness import robustness_frame


class Comparison(Protocol):
    """What the report reads of :class:`asl_recog.ComparisonResult` (which calls this module, so it
    cannot be imported here without a circle)."""

    summary: pd.DataFrame
    primary_metric: str
    per_letter_recall: pd.DataFrame
    confusion: dict[str, np.ndarray]
    n_test: int
    test_source: str
    notes: list[str]
    ci_method: str
    tie_break: str

    @property
    def verdict(self) -> str:
        """One sentence: which model wins, and whether the difference is significant."""


_TABLE_COLUMNS = [
    "rank",
    "accuracy",
    "accuracy_ci_low",
    "accuracy_ci_high",
    "photos_misread",
    "macro_f1",
    "size_bytes",
    "training_seconds",
    "validation_score",
    "test_score",
    "val_test_gap",
    "gap_flag",
    "latency_p50_ms",
    "latency_p95_ms",
    "throughput_ips",
    "latency_runtime",
]


def write_report(result: Comparison, folder: Path, about: dict[str, str] | None = None) -> Path:
    """Write ``report.md``, ``report.html`` and the plots into ``folder``; return ``folder``.

    Every report names the asl_recog version that wrote it, so a stale one can be told apart;
    ``about`` adds more of what produced it (e.g. the main job's settings and their hash).

    Example:
        >>> from asl_recog import Comparator
        >>> result = Comparator({"knn": "runs/best.onnx"}, latency_repeats=5).evaluate(test)
        >>> write_report(result, Path("reports/compare"))
        PosixPath('reports/compare')
        >>> sorted(p.name for p in Path("reports/compare").glob("report.*"))
        ['report.html', 'report.md']
    """
    folder.mkdir(parents=True, exist_ok=True)
    images = _plots(result, folder)
    table = _table(result)
    sections = _sections(result)
    robustness = getattr(result, "robustness", None) or {}
    if robustness:
        frame = robustness_frame(robustness).T  # corruptions down, models across: readable with many corruptions
        images["robustness"] = [_robustness_plot(frame, folder / "robustness.png")]
        first = next(iter(robustness.values()))
        sections.append(
            (
                "Off the dataset",
                f"Accuracy under {len(first.per_corruption)} corruptions (docs/robustness.md), each the mean over "
                f"its severities, on a fixed subsample of {first.n_images} test images (seed {first.seed}); mCA is "
                "the mean over corruptions, each weighing the same, with a 95% percentile bootstrap interval "
                "over images. An 'unknown' answer (the model's stored threshold) counts as wrong.",
            )
        )
    photos: dict[str, dict[str, PhotoResult]] = getattr(result, "photos", None) or {}
    if photos:
        images["photos"] = _photo_plots(photos, folder)
        sections.append(
            (
                "Off the dataset: real photos",
                "Photo sets read beside the test file (evaluation only, never used for training or selection). "
                "top1 counts an 'unknown' answer (the model's stored threshold) as wrong; top3 asks whether the "
                "true letter is among the three most probable; answered is the share not refused (no hand found, "
                "or below the threshold); no_hand is the share in which no hand was found.",
            )
        )
    provenance = {"asl_recog version": __version__, **(about or {})}
    sections.append(("Produced by", "; ".join(f"{k}: {v}" for k, v in provenance.items()) + "."))
    (folder / "report.md").write_text(_markdown(result, table, sections, images), encoding="utf-8")
    (folder / "report.html").write_text(_html(result, table, sections, images), encoding="utf-8")
    return folder


def _table(result: Comparison) -> pd.DataFrame:
    columns = [c for c in _TABLE_COLUMNS if c in result.summary.columns]
    if result.primary_metric not in columns:
        columns.insert(1, result.primary_metric)
    return result.summary[columns]


def _sections(result: Comparison) -> list[tuple[str, str]]:
    """(heading, plain text) paragraphs shared by both formats."""
    text = [
        ("Verdict", result.verdict),
        (
            "Method",
            f"{result.n_test} held-out test images from {result.test_source}. Accuracy intervals: 95% "
            f"{result.ci_method}, over the images and, in the verdict, over the source photos they copy "
            "(near-duplicates grouped as the validation split groups them; a photo is misread when most "
            f"of its copies are). Winner by {result.primary_metric}; {result.tie_break}. Latency: "
            "single-image predict_proba on raw uint8 images (p50/p95 over repeated calls after a "
            "warm-up) and batch throughput, through onnxruntime where the model has or gets an ONNX "
            "form (column latency_runtime). The machine may be shared, so timings are indicative.",
        ),
    ]
    flagged = result.summary.index[result.summary["gap_flag"].astype(bool)].tolist()
    if flagged:
        text.append(("Warnings", "; ".join(n for n in result.notes if n.split(":")[0] in flagged)))
    other = [n for n in result.notes if n.split(":")[0] not in flagged]
    if other:
        text.append(("Notes", "; ".join(other)))
    return text


def _fmt(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if math.isnan(number):
            return "-"
        return f"{number:,.0f}" if abs(number) >= 1000 else f"{number:.4g}"
    return str(value)


def _markdown_table(frame: pd.DataFrame, index_name: str) -> str:
    header = [index_name, *map(str, frame.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, row in frame.iterrows():
        cells = [str(name), *(_fmt(v).replace("|", "/") for v in row.tolist())]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _markdown(
    result: Comparison, table: pd.DataFrame, sections: list[tuple[str, str]], images: dict[str, list[str]]
) -> str:
    parts = ["# Model comparison on the held-out test set", ""]
    for heading, body in sections:
        parts += [f"## {heading}", "", body, ""]
    parts += ["## Summary", "", _markdown_table(table, "model"), ""]
    robustness = getattr(result, "robustness", None) or {}
    if robustness:
        parts += ["## Corruptions", "", _markdown_table(robustness_frame(robustness).T, "corruption"), ""]
        parts += [f"![{Path(p).stem}]({p})" for p in images["robustness"]] + [""]
    photos = getattr(result, "photos", None) or {}
    if photos:
        parts += ["## Real photos", "", _markdown_table(photos_frame(photos).set_index("set"), "set"), ""]
        parts += ["Top-1 per letter:", "", _markdown_table(_photo_letters(photos), "letter"), ""]
        parts += [f"![{Path(p).stem}]({p})" for p in images["photos"]] + [""]
    parts += ["## Per-letter recall", "", _markdown_table(result.per_letter_recall, "letter"), ""]
    parts += ["## Plots", ""]
    parts += [f"![{Path(p).stem}]({p})" for p in images["bars"]] + [""]
    parts += ["## Confusion matrices", ""]
    parts += [f"![{Path(p).stem}]({p})" for p in images["confusion"]] + [""]
    return "\n".join(parts)


def _html(
    result: Comparison, table: pd.DataFrame, sections: list[tuple[str, str]], images: dict[str, list[str]]
) -> str:
    formatters: dict[Hashable, Callable[[object], str]] = {c: _fmt for c in table.columns}
    body = ["<h1>Model comparison on the held-out test set</h1>"]
    for heading, text in sections:
        body.append(f"<h2>{html.escape(heading)}</h2><p>{html.escape(text)}</p>")
    body.append("<h2>Summary</h2>" + table.to_html(formatters=formatters, escape=True, border=0))
    robustness = getattr(result, "robustness", None) or {}
    if robustness:
        frame = robustness_frame(robustness).T
        body.append(
            "<h2>Corruptions</h2>"
            + frame.to_html(float_format=lambda v: f"{v:.3f}", border=0)
            + "".join(f'<img src="{html.escape(p)}" alt="{html.escape(p)}">' for p in images["robustness"])
        )
    photos = getattr(result, "photos", None) or {}
    if photos:
        body.append(
            "<h2>Real photos</h2>"
            + photos_frame(photos).to_html(float_format=lambda v: f"{v:.3f}", border=0, index=False)
            + "<p>Top-1 per letter:</p>"
            + _photo_letters(photos).to_html(float_format=lambda v: f"{v:.3f}", border=0)
            + "".join(f'<img src="{html.escape(p)}" alt="{html.escape(p)}">' for p in images["photos"])
        )
    body.append(
        "<h2>Per-letter recall</h2>" + result.per_letter_recall.to_html(float_format=lambda v: f"{v:.3f}", border=0)
    )
    body.append(
        "<h2>Plots</h2>" + "".join(f'<img src="{html.escape(p)}" alt="{html.escape(p)}">' for p in images["bars"])
    )
    body.append(
        "<h2>Confusion matrices</h2>"
        + "".join(f'<img src="{html.escape(p)}" alt="{html.escape(p)}">' for p in images["confusion"])
    )
    style = (
        "body{font-family:sans-serif;margin:2em;max-width:1200px} table{border-collapse:collapse;"
        "font-size:0.85em} td,th{padding:2px 8px;text-align:right;border-bottom:1px solid #ddd} "
        "img{max-width:48%;margin:4px}"
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>asl_recog comparison</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    )


def _plots(result: Comparison, folder: Path) -> dict[str, list[str]]:
    import matplotlib

    # Figure objects render with the Agg canvas without pyplot: no display, no global backend change.
    from matplotlib.figure import Figure

    summary = result.summary
    names = list(summary.index)
    bars = []
    with matplotlib.rc_context({"figure.dpi": 100, "font.size": 9}):
        fig = Figure(figsize=(max(4, 1.2 * len(names)), 3.5))
        ax = fig.subplots()
        acc = summary["accuracy"].to_numpy()
        err = np.vstack([acc - summary["accuracy_ci_low"].to_numpy(), summary["accuracy_ci_high"].to_numpy() - acc])
        ax.bar(names, acc, yerr=err, capsize=4, color="#4c72b0")
        ax.set_ylim(max(0.0, float(summary["accuracy_ci_low"].min()) - 0.05), 1.0)
        ax.set_ylabel("test accuracy (95% CI)")
        ax.set_title("Accuracy")
        bars.append(_save(fig, folder / "accuracy.png"))

        fig = Figure(figsize=(max(7, 2.2 * len(names)), 3.5))
        left, right = fig.subplots(1, 2)
        x = np.arange(len(names))
        left.bar(x - 0.2, summary["latency_p50_ms"].fillna(0), 0.4, label="p50", color="#55a868")
        left.bar(x + 0.2, summary["latency_p95_ms"].fillna(0), 0.4, label="p95", color="#c44e52")
        left.set_xticks(x, names)
        left.set_ylabel("single-image latency (ms)")
        left.legend()
        left.set_title("Latency")
        right.bar(names, summary["throughput_ips"].fillna(0), color="#8172b2")
        right.set_ylabel("images / s")
        right.set_title("Batch throughput")
        bars.append(_save(fig, folder / "latency.png"))

        fig = Figure(figsize=(max(4, 1.2 * len(names)), 3.5))
        ax = fig.subplots()
        ax.bar(names, summary["size_bytes"] / 1e6, color="#dd8452")
        ax.set_ylabel("size on disk (MB)")
        ax.set_title("Model size")
        bars.append(_save(fig, folder / "size.png"))

        confusion = []
        for index, name in enumerate(names):
            confusion.append(
                _confusion_plot(
                    Figure,
                    name,
                    result.confusion[name],
                    float(summary["accuracy"].astype(float)[name]),
                    folder / f"confusion_{index + 1}_{_safe(name)}.png",
                )
            )
    return {"bars": bars, "confusion": confusion}


def _confusion_plot(figure: Any, name: str, counts: np.ndarray, accuracy: float, path: Path) -> str:
    """Row-normalised heat map (each row: where that letter's images went), off-diagonal counts written in."""
    totals = counts.sum(axis=1, keepdims=True)
    rates = np.divide(counts, totals, out=np.zeros(counts.shape, dtype=float), where=totals > 0)
    fig = figure(figsize=(6.5, 5.8))
    ax = fig.subplots()
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(LETTERS)), LETTERS)
    ax.set_yticks(range(len(LETTERS)), LETTERS)
    ax.set_xlabel("predicted letter")
    ax.set_ylabel("true letter")
    ax.set_title(f"{name}: confusion matrix (accuracy {accuracy:.3f})")
    for i, j in zip(*np.nonzero(counts), strict=False):
        if i != j:
            ax.text(
                j,
                i,
                str(counts[i, j]),
                ha="center",
                va="center",
                fontsize=5,
                color="white" if rates[i, j] > 0.5 else "#b00000",
            )
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of the true letter's images")
    return _save(fig, path)


def _photo_letters(photos: dict[str, dict[str, PhotoResult]]) -> pd.DataFrame:
    """Letters down, one column per (model, photo set): top-1 of that letter's photos."""
    frame = pd.DataFrame({f"{model} / {r.name}": r.per_letter for model, sets in photos.items() for r in sets.values()})
    return frame.reindex([letter for letter in LETTERS if letter in frame.index])


def _photo_plots(photos: dict[str, dict[str, PhotoResult]], folder: Path) -> list[str]:
    """A confusion matrix per (model, photo set), titled with its top-1."""
    from matplotlib.figure import Figure

    paths = []
    for index, (model, sets) in enumerate(photos.items()):
        for r in sets.values():
            path = folder / f"photos_{_safe(r.name)}_{index + 1}_{_safe(model)}.png"
            paths.append(_confusion_plot(Figure, f"{model} on {r.name} (top-1)", r.confusion, r.top1, path))
    return paths


def _robustness_plot(frame: pd.DataFrame, path: Path) -> str:
    return _save(robustness_figure(frame), path)


def robustness_figure(frame: pd.DataFrame) -> Any:
    """Heat map, corruptions x models: each cell the accuracy (mean over severities), written in.

    Returns a ``matplotlib.figure.Figure`` (Agg canvas, no pyplot: nothing shown, no backend changed).
    """
    from matplotlib.figure import Figure

    values = frame.to_numpy(dtype=float)
    fig = Figure(figsize=(max(5.0, 1.6 * values.shape[1] + 3.0), 0.32 * values.shape[0] + 1.5))
    ax = fig.subplots()
    image = ax.imshow(values, cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(values.shape[1]), [str(c) for c in frame.columns])
    ax.set_yticks(range(values.shape[0]), [str(i) for i in frame.index])
    for (i, j), v in np.ndenumerate(values):
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7)
    ax.set_title("Accuracy off the dataset")
    fig.colorbar(image, ax=ax, fraction=0.046, label="accuracy")
    fig.tight_layout()
    return fig


def _save(fig: Any, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path.name


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "model"
