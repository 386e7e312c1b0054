"""The ``asl-recog`` commands that live here (data, compare, export, serve, deploy, run): imported when one runs.

:mod:`asl_recog.cli._main` builds the parser without importing this module, so ``asl-recog --help``
loads none of what these commands need (scikit-learn, TensorFlow, ONNX Runtime).
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path
from typing import Any

from asl_recog._errors import ConfigurationError
from asl_recog.cli._config import load_config, trainer_settings
from asl_recog.cli._pipeline import preset_label, run_pipeline
from asl_recog.data._dataset import load_sign_mnist
from asl_recog.data._split import train_validation_split
from asl_recog.deploy import Deployer
from asl_recog.evaluation._compare import Comparator
from asl_recog.models._base import Model
from asl_recog.models._export import export_onnx
from asl_recog.models._model_card import write_card
from asl_recog.models._quantize import QUANTIZATION_KEY
from asl_recog.models._record import RunRecord
from asl_recog.models._zoo_data import zoo_data_folder
from asl_recog.serving.__main__ import run_from_args
from asl_recog.tracking._fetch import is_models_uri, registry_tracking_uri


def cmd_data(args: argparse.Namespace) -> int:
    import numpy as np

    for split in ("train", "test"):
        data = load_sign_mnist(split, args.path)
        counts = data.class_counts()
        print(
            f"{split}: {len(data):,} images from {data.source}; {int((counts > 0).sum())} letters, "
            f"{counts.min()}-{counts.max()} images per letter; mean pixel {data.images.mean():.1f}"
        )
        if split == "train" and args.grid:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            fig, axes = plt.subplots(4, 6, figsize=(9, 6.5))
            for ax, letter in zip(axes.flat, counts.index, strict=False):
                ax.imshow(data.images[np.flatnonzero(data.letters == letter)[0]], cmap="gray")
                ax.set_title(letter)
                ax.axis("off")
            fig.tight_layout()
            fig.savefig(args.grid, dpi=100)
            plt.close(fig)
            print(f"sample grid (one image per letter): {args.grid}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    models = {}
    for item in args.models:
        name, _, path = item.rpartition("=")
        models[name or Path(path).stem] = path
    result = Comparator(models, primary_metric=args.metric).evaluate(load_sign_mnist("test", args.test))
    print_summary(result.summary, f"asl-recog compare: {len(models)} model(s) on the held-out test file")
    print(textwrap.fill(result.verdict, 100))  # as wide as the table above
    if args.report:
        print(f"report: {result.report(args.report) / 'report.md'} (every column of the summary)")
    else:
        print("every column of the summary (macro F1, throughput, validation gap, ...): add --report FOLDER")
    return 0


def print_summary(summary: Any, title: str) -> None:
    """The comparison's headline columns as a table 100 characters wide (the whole summary has ~30 columns)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    columns = ["model", "test accuracy", "95% CI", "validation", "p50 ms", "ONNX MB"]
    robust = "mca" in summary.columns
    if robust:
        columns.insert(3, "mCA")
    for column in columns:
        table.add_column(column, justify="left" if column == "model" else "right", no_wrap=True)
    for name, row in summary.iterrows():
        cells = [
            str(name),
            f"{row['accuracy']:.4f}",
            f"{row['accuracy_ci_low']:.4f}-{row['accuracy_ci_high']:.4f}",
            f"{row.get('validation_score', float('nan')):.4f}",
            f"{row.get('latency_p50_ms', float('nan')):.3f}",
            f"{row.get('size_bytes', 0) / 1e6:.1f}",
        ]
        if robust:
            cells.insert(3, f"{row['mca']:.3f}")
        table.add_row(*cells)
    Console(width=100).print(table)  # fits a 100-column terminal, and logs


def cmd_export(args: argparse.Namespace) -> int:
    images = load_sign_mnist("train", args.parity_data)
    parity = images[: args.parity_rows]
    # int8 ranges and agreement come from the grouped validation split: images like the ones a model
    # is selected on, never the test file.
    calibration = train_validation_split(images, seed=0)[1] if args.quantize else None
    exported = export_onnx(
        Model.load(args.model), args.output, parity_data=parity, quantize=args.quantize, calibration_data=calibration
    )
    path = Path(exported.source)
    card = write_card(RunRecord.from_onnx(path), path)
    print(f"wrote {args.output}: parity checked on {len(parity)} images; metadata keys {sorted(exported.metadata)}")
    if args.quantize:
        found = exported.metadata[QUANTIZATION_KEY]
        share, count = found["agreement"], found["agreement_images"]
        print(f"{args.quantize}: names the float graph's letter on {share:.4f} of {count} validation images")
    print(f"model card: {card}; test data set: {zoo_data_folder(path) / 'test_data_set_0'} (asl-recog check {path})")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    return run_from_args(args)


def cmd_deploy(args: argparse.Namespace) -> int:
    import time

    options: dict[str, Any] = {}
    if args.target == "local":
        options = {"port": args.port, "run_dir": args.run_dir}
    else:  # signs in from the workspace config, or says clearly how to provide one
        options = {"workspace_config": args.workspace_config}
    if is_models_uri(args.model):  # checked here so that the error names the flag
        options["tracking_uri"] = registry_tracking_uri(args.model, args.tracking_uri, "--tracking-uri")
    endpoint = Deployer.create(args.target, **options).deploy(args.model, name=args.name)
    print(f"scoring URI: {endpoint.scoring_uri}")
    if endpoint.keys:
        print(f"key: {endpoint.keys[0]}")
    if args.target != "local":
        return 0
    print("serving until Ctrl-C ...")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        endpoint.delete()
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    overrides = {}
    if args.config:
        config = load_config(args.config)
        unknown = sorted(set(config) - {"automl", "hyperdrive"})
        if unknown:
            raise ConfigurationError(f"{args.config}: unknown section(s) {unknown}; use 'automl' and 'hyperdrive'")
        overrides = {route: trainer_settings(config, route, source=args.config) for route in config}
    result = run_pipeline(
        args.preset,
        args.out,
        progress=not args.no_progress,
        overrides=overrides,
        config=args.config,
        tracking_uri=args.tracking_uri,
    )
    label = preset_label(args.preset, args.config if overrides else None)
    print_summary(result.comparison.summary, f"asl-recog run ({label}): both routes on the held-out test file")
    print(f"ONNX model: {result.onnx_path}")
    print(f"report: {result.report_path / 'report.md'}")
    return 0


__all__ = ["cmd_compare", "cmd_data", "cmd_deploy", "cmd_export", "cmd_run", "cmd_serve", "print_summary"]
