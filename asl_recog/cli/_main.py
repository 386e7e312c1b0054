"""The ``asl-recog`` command line: data, train, worker, compare, evaluate, export, serve, predict, deploy, run."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from asl_recog._console import configure_logging
from asl_recog._errors import AslRecogError, ConfigurationError
from asl_recog._version import __version__
from asl_recog.cli._config import load_config, trainer_settings
from asl_recog.cli._evaluate import EXAMPLE as EVALUATE_EXAMPLE
from asl_recog.cli._evaluate import add_evaluate_arguments, cmd_evaluate
from asl_recog.cli._fine_tune import EXAMPLE as FINE_TUNE_EXAMPLE
from asl_recog.cli._fine_tune import add_fine_tune_arguments, cmd_fine_tune
from asl_recog.cli._parser import Parser, exit_code, refuse_extras
from asl_recog.cli._pipeline import preset_label, run_pipeline
from asl_recog.cli._predict import EXAMPLE as PREDICT_EXAMPLE
from asl_recog.cli._predict import add_predict_arguments, cmd_predict
from asl_recog.cli._train import EXAMPLE, add_train_arguments
from asl_recog.cli._worker import EXAMPLE as WORKER_EXAMPLE
from asl_recog.cli._worker import add_worker_arguments, cmd_worker
from asl_recog.data._dataset import load_sign_mnist
from asl_recog.deploy import Deployer
from asl_recog.evaluation._compare import Comparator
from asl_recog.models._base import Model
from asl_recog.models._export import export_onnx
from asl_recog.serving.__main__ import add_arguments, run_from_args

EPILOG = """examples:
  asl-recog run                                   # the whole job on the bundled data (quick preset)
  asl-recog data --grid samples.png               # summary of the data and a sample grid
  asl-recog train automl --experiment-timeout-minutes 5 --out runs/automl
  asl-recog train hyperdrive --config search.yml --backend local
  asl-recog compare automl=runs/automl/best.aslskl cnn=runs/cnn/best.keras --report runs/compare
  asl-recog evaluate runs/cnn/best.onnx --corruptions  # test accuracy, and accuracy off the dataset
  asl-recog export runs/cnn/best.keras runs/cnn/best.onnx
  asl-recog serve runs/cnn/best.onnx --port 8000
  asl-recog predict --model runs/cnn/best.onnx photo1.jpg photo2.png
  asl-recog deploy runs/cnn/best.onnx --target local
  asl-recog worker --study cnn-sweep --artifacts /mnt/asl   # join a shared search ($OPTUNA_STORAGE)
"""


def _cmd_data(args: argparse.Namespace) -> int:
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


def _cmd_compare(args: argparse.Namespace) -> int:
    models = {}
    for item in args.models:
        name, _, path = item.rpartition("=")
        models[name or Path(path).stem] = path
    result = Comparator(models, primary_metric=args.metric).evaluate(load_sign_mnist("test", args.test))
    print(result.summary.to_string())
    print(result.verdict)
    if args.report:
        print(f"report: {result.report(args.report) / 'report.md'}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    parity = load_sign_mnist("train", args.parity_data)[: args.parity_rows]
    exported = export_onnx(Model.load(args.model), args.output, parity_data=parity)
    print(f"wrote {args.output}: parity checked on {len(parity)} images; metadata keys {sorted(exported.metadata)}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    return run_from_args(args)


def _cmd_deploy(args: argparse.Namespace) -> int:
    import time

    options: dict[str, Any] = {}
    if args.target == "local":
        options = {"port": args.port, "run_dir": args.run_dir}
    else:  # signs in from the workspace config, or says clearly how to provide one
        options = {"workspace_config": args.workspace_config}
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


def _cmd_run(args: argparse.Namespace) -> int:
    overrides = {}
    if args.config:
        config = load_config(args.config)
        unknown = sorted(set(config) - {"automl", "hyperdrive"})
        if unknown:
            raise ConfigurationError(f"{args.config}: unknown section(s) {unknown}; use 'automl' and 'hyperdrive'")
        overrides = {route: trainer_settings(config, route, source=args.config) for route in config}
    result = run_pipeline(args.preset, args.out, progress=not args.no_progress, overrides=overrides, config=args.config)
    from rich.console import Console
    from rich.table import Table

    label = preset_label(args.preset, args.config if overrides else None)
    table = Table(title=f"asl-recog run ({label}): both routes on the held-out test file")
    for column in ("model", "test accuracy", "95% CI", "validation", "p50 ms", "ONNX MB"):
        table.add_column(column, justify="left" if column == "model" else "right", no_wrap=True)
    for name, row in result.comparison.summary.iterrows():
        table.add_row(
            str(name),
            f"{row['accuracy']:.4f}",
            f"{row['accuracy_ci_low']:.4f}-{row['accuracy_ci_high']:.4f}",
            f"{row.get('validation_score', float('nan')):.4f}",
            f"{row.get('latency_p50_ms', float('nan')):.3f}",
            f"{row.get('size_bytes', 0) / 1e6:.1f}",
        )
    Console(width=100).print(table)  # fits a 100-column terminal, and logs; the verdict was said above
    print(f"ONNX model: {result.onnx_path}")
    print(f"report: {result.report_path / 'report.md'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``asl-recog`` argument parser."""
    # -v/-q work before or after the command name: every parser shares them, and
    # SUPPRESS keeps a sub-parser's default from overwriting what the main parser read.
    verbosity = Parser(add_help=False)
    verbosity.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="more output: -v adds debug lines and dependencies' messages",
    )
    verbosity.add_argument(
        "-q", "--quiet", action="count", default=argparse.SUPPRESS, help="less output: warnings and errors only"
    )
    parser = Parser(
        prog="asl-recog",
        description="ASL fingerspelling recognition: train, compare, export, serve.",
        epilog=EPILOG,
        parents=[verbosity],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"asl-recog {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, example: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=f"example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
            parents=[verbosity],
        )

    p = command(
        "run",
        "the main job: train both routes, compare, export, serve, query",
        "asl-recog run --preset quick --out runs/demo",
    )
    p.add_argument(
        "--preset",
        choices=["quick", "full"],
        default="quick",
        help="quick: minutes, for a first look (default); full: the budgets behind the published figures",
    )
    p.add_argument(
        "--config",
        default=None,
        help="YAML or TOML file whose automl/hyperdrive settings replace the preset's (same format as train --config)",
    )
    p.add_argument("--out", default=None, help="run folder (default runs/<timestamp>)")
    p.add_argument("--no-progress", action="store_true", help="no live progress display (log lines stay)")
    p.set_defaults(func=_cmd_run)

    p = command("data", "summarise the data and draw a sample grid", "asl-recog data --grid samples.png")
    p.add_argument("--path", default=None, help="data file or folder (default: $ASL_RECOG_DATA, then the bundled copy)")
    p.add_argument("--grid", default=None, help="write a PNG with one image per letter")
    p.set_defaults(func=_cmd_data)

    p = command("train", "train one route locally or on Azure ML", EXAMPLE)
    add_train_arguments(p, [verbosity])

    p = command("worker", "join a search shared through a database (LocalBackend(storage=...))", WORKER_EXAMPLE)
    add_worker_arguments(p)
    p.set_defaults(func=cmd_worker)

    p = command(
        "compare",
        "judge saved models on the held-out test set",
        "asl-recog compare automl=runs/a/best.aslskl cnn=runs/c/best.keras --report runs/compare",
    )
    p.add_argument("models", nargs="+", help="NAME=PATH (or PATH) of .keras, .aslskl or .onnx models")
    p.add_argument("--metric", default="accuracy", help="what the winner is chosen by (accuracy, macro_f1, ...)")
    p.add_argument("--test", default=None, help="test data (default: the bundled sign_mnist_test)")
    p.add_argument("--report", default=None, help="folder for report.md, report.html and plots")
    p.set_defaults(func=_cmd_compare)

    p = command("evaluate", "one saved model on the test file, and off it (--corruptions)", EVALUATE_EXAMPLE)
    add_evaluate_arguments(p)
    p.set_defaults(func=cmd_evaluate)

    p = command("fine-tune", "fine-tune a trained CNN on your own labelled photos", FINE_TUNE_EXAMPLE)
    add_fine_tune_arguments(p)
    p.set_defaults(func=cmd_fine_tune)

    p = command("export", "export a saved model to ONNX with a parity check", "asl-recog export best.keras best.onnx")
    p.add_argument("model", help="the saved model: .keras or .aslskl")
    p.add_argument("output", help="the ONNX file to write")
    p.add_argument("--parity-data", default=None, help="images for the parity check (default: bundled training file)")
    p.add_argument("--parity-rows", type=int, default=256, help="how many images the parity check compares")
    p.set_defaults(func=_cmd_export)

    p = command(
        "serve",
        "serve an ONNX model over HTTP (uvicorn); open the address it prints for a page to try it",
        "asl-recog serve best.onnx --port 8000",
    )
    add_arguments(p)
    p.set_defaults(func=_cmd_serve)

    p = command("predict", "predict the letters of photos (files, folders, globs)", PREDICT_EXAMPLE)
    add_predict_arguments(p)
    p.set_defaults(func=cmd_predict)

    p = command("deploy", "deploy a model as a scoring service", "asl-recog deploy best.onnx --target local")
    p.add_argument("model", help="the .onnx model to deploy")
    p.add_argument(
        "--target",
        choices=["local", "azure", "azureml"],
        default="local",
        help="local: a service on this machine; azure: Azure ML SDK v2 online endpoint; azureml: SDK v1 ACI",
    )
    p.add_argument("--name", default=None, help="the endpoint's name (default: one made from the model's)")
    p.add_argument("--port", type=int, default=None, help="local: port (default: a free one)")
    p.add_argument("--run-dir", default=None, help="local: where to keep the model, key and log")
    p.add_argument(
        "--workspace-config",
        default=None,
        help="azure/azureml: the workspace's config.json (default: found here or in a parent folder, "
        "else the AZUREML_ARM_* variables)",
    )
    p.set_defaults(func=_cmd_deploy)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``asl-recog``; returns the exit code: 0 done, 1 failed, 2 a wrong command, 130 interrupted."""
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:  # reported by the command's own parser, with the flags they may have meant
        refuse_extras(parser, args, extras)
    # -v/-q default to SUPPRESS (so a sub-parser cannot overwrite them): absent unless given.
    given = vars(args)
    configure_logging(given.get("verbose", 0) - given.get("quiet", 0))
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt as exc:
        resume = " (run the same command with --resume to continue the search)" if args.command == "train" else ""
        print(f"asl-recog {args.command}: interrupted{resume}", file=sys.stderr)
        return exit_code(exc)
    except AslRecogError as exc:
        print(f"asl-recog {args.command}: error: {exc}", file=sys.stderr)
        return exit_code(exc)


if __name__ == "__main__":
    sys.exit(main())
