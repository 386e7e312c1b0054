"""The ``asl-recog`` command line: data, train, worker, compare, evaluate, export, register, serve, predict,
explain, deploy, run.

The parser is built for the one command being run: a command's flags, and the modules they
need, are loaded only when that command is named, so ``asl-recog --help`` and ``--version`` load
no scikit-learn, TensorFlow or ONNX Runtime (``build_parser()`` with no command builds them all,
for the docs and the tests).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from asl_recog._console import configure_logging
from asl_recog._errors import AslRecogError
from asl_recog._version import __version__
from asl_recog.cli._parser import Parser, exit_code, refuse_extras

EPILOG = """examples:
  asl-recog run                                   # the whole job on the bundled data (quick preset)
  asl-recog data --grid samples.png               # summary of the data and a sample grid
  asl-recog train automl --experiment-timeout-minutes 5 --out runs/automl
  asl-recog train hyperdrive --config search.yml --backend local
  asl-recog compare automl=runs/automl/best.aslskl cnn=runs/cnn/best.keras --report runs/compare
  asl-recog evaluate runs/cnn/best.onnx --corruptions  # test accuracy, and accuracy off the dataset
  asl-recog export runs/cnn/best.keras runs/cnn/best.onnx
  asl-recog register runs/cnn/best.onnx --name asl-letters --tracking-uri http://127.0.0.1:5000
  asl-recog serve runs/cnn/best.onnx --port 8000
  asl-recog predict --model runs/cnn/best.onnx photo1.jpg photo2.png
  asl-recog explain --model runs/cnn/best.onnx photo1.jpg --out heat.png
  asl-recog deploy runs/cnn/best.onnx --target local
  asl-recog info runs/cnn/best.onnx                 # its model card, from the ONNX file alone
  asl-recog check runs/cnn/best.onnx                # checker, checksum, its test data set
  asl-recog worker --study cnn-sweep --artifacts /mnt/asl   # join a shared search ($OPTUNA_STORAGE)
"""


def _lazy(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    """A command handler imported when the command runs, not when the parser is built."""

    def handler(args: argparse.Namespace) -> int:
        return int(getattr(importlib.import_module(module), name)(args) or 0)

    return handler


def _example(p: argparse.ArgumentParser, example: str) -> None:
    p.epilog = f"example:\n  {example}"


def _add_run(p: argparse.ArgumentParser, shared: list[argparse.ArgumentParser]) -> None:
    _example(p, "asl-recog run --preset quick --out runs/demo")
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
    p.add_argument(
        "--tracking-uri",
        default=None,
        help="log both searches to this MLflow tracking server (docs/tracking.md), and the test figures once compared",
    )
    p.set_defaults(func=_lazy("asl_recog.cli._commands", "cmd_run"))


def _add_data(p: argparse.ArgumentParser, shared: list[argparse.ArgumentParser]) -> None:
    _example(p, "asl-recog data --grid samples.png")
    p.add_argument("--path", default=None, help="data file or folder (default: $ASL_RECOG_DATA, then the bundled copy)")
    p.add_argument("--grid", default=None, help="write a PNG with one image per letter")
    p.set_defaults(func=_lazy("asl_recog.cli._commands", "cmd_data"))


def _add_train(p: argparse.ArgumentParser, shared: list[argparse.ArgumentParser]) -> None:
    from asl_recog.cli._train import EXAMPLE, add_train_arguments

    _example(p, EXAMPLE)
    add_train_arguments(p, shared)


def _add_worker(p: argparse.ArgumentParser, shared: list[argparse.ArgumentParser]) -> None:
    from asl_recog.cli._worker import EXAMPLE, add_worker_arguments, cmd_worker

    _example(p, EXAMPLE)
    add_worker_arguments(p)
    p.set_defaults(func=cmd_worker)


def _add_compare(p: argparse.ArgumentParser, shared: list[argparse.ArgumentParser]) -> None:
    _example(p, "asl-recog compare automl=runs/a/best.aslskl cnn=runs/c/best.keras --report runs/compare")
    p.add_argument("models", nargs="+", help="NAME=PATH (or PATH) of .keras, .aslskl or .onnx models")
    p.add_argument("--metric", default="accuracy", help="what the winner is chosen by (accuracy, macro_f1, ...)")
    p.add_argument("--test", default=None, help="test data (default: the bundled sign_mnist_test)")
    p.add_argument("--report", default=None, help="folder for report.md, report.html and plots")
    p.set_defaults(func=_lazy("asl_recog.cli._commands", "cmd_compare"))


def _add_evaluate(p: argparse.ArgumentParser, shared: list[argparse.ArgumentParser]) -> None:
    from asl_recog.cli._evaluate import EXAMPLE, add_evaluate_arguments, cmd_evaluate

    _example(p, EXAMPLE)
    add_evaluate_arguments(p)
    p.set_defaults(func=cmd_evaluate)


def _add_fine_tune(p: argparse.ArgumentParser, shared: list[argparse.ArgumentParser]) -> None:
    from asl_recog.cli._fine_tune import EXAMPLE, add_fine_tune_arguments, cmd_fine_tune

    _example(p, EXAMPLE)
    add_fine_tune_arguments(p)
    p.set_defaults(func=cmd_fine_tune)


def _add_export(p: argparse.ArgumentParser, shared: list[argparse.ArgumentParser]) -> None:
    _example(p, "asl-recog export best.keras best.onnx")
    p.add_argument("model", help="the saved model: .keras or .aslskl")
    p.add_argument("output", help="the ONNX file to write")
    p.add_argument("--parity-data", default=None, help="images for the parity check (default: bundled training file)")
    p.add_argument("--parity-rows", type=int, default=256, help="how many images the parity check compares")
    p.add_argument(
        "--quantize",
        choices=["int8"],
        default=None,
        help="int8: write ONNX Runtime's static int8 quantization (Keras networks only), calibrated on the grouped "
        "validation split of the --parity-data file; refused if it changes more than 1%% of that split's answers",
    )
    p.set_defaults(func=_lazy("asl_recog.cli._commands", "cmd_export"))


def _add_serve(p: argparse.ArgumentParser, shared: list[argparse.ArgumentParser]) -> None:
    from asl_recog.serving.__main__ import add_arguments

    _example(p, "asl-recog serve best.onnx --port 8000")
    add_arguments(p)
    p.set_defaults(func=_lazy("asl_recog.cli._commands", "cmd_serve"))


def _add_register(p: argparse.ArgumentParser, shared: list[argparse.ArgumentParser]) -> None:
    from asl_recog.cli._register import EXAMPLE, add_register_arguments, cmd_register

    _example(p, EXAMPLE)
    add_register_arguments(p)
    p.set_defaults(func=cmd_register)


def _add_predict(p: argparse.ArgumentParser, shared: list[argparse.ArgumentParser]) -> None:
    from asl_recog.cli._predict import EXAMPLE, add_predict_arguments, cmd_predict

    _example(p, EXAMPLE)
    add_predict_arguments(p)
    p.set_defaults(func=cmd_predict)


def _add_explain(p: argparse.ArgumentParser, shared: list[argparse.ArgumentParser]) -> None:
    from asl_recog.cli._explain import EXAMPLE, add_explain_arguments, cmd_explain

    _example(p, EXAMPLE)
    add_explain_arguments(p)
    p.set_defaults(func=cmd_explain)


def _add_deploy(p: argparse.ArgumentParser, shared: list[argparse.ArgumentParser]) -> None:
    _example(p, "asl-recog deploy best.onnx --target local")
    p.add_argument(
        "model",
        help="the .onnx model to deploy, or a registered ONNX model, models:/NAME/VERSION or models:/NAME@ALIAS "
        "(downloaded from --tracking-uri; azure/azureml deploy the downloaded file)",
    )
    p.add_argument(
        "--tracking-uri",
        default=None,
        help="the MLflow tracking server of a models:/ URI (default $MLFLOW_TRACKING_URI)",
    )
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
    p.set_defaults(func=_lazy("asl_recog.cli._commands", "cmd_deploy"))


def _add_info(p: argparse.ArgumentParser, shared: list[argparse.ArgumentParser]) -> None:
    from asl_recog.cli._info import EXAMPLE, add_info_arguments

    _example(p, EXAMPLE)
    add_info_arguments(p)
    p.set_defaults(func=_lazy("asl_recog.cli._info", "cmd_info"))


def _add_check(p: argparse.ArgumentParser, shared: list[argparse.ArgumentParser]) -> None:
    from asl_recog.cli._check import EXAMPLE, add_check_arguments

    _example(p, EXAMPLE)
    add_check_arguments(p)
    p.set_defaults(func=_lazy("asl_recog.cli._check", "cmd_check"))


#: Every command: its one-line help and the function that adds its flags (and imports what they need).
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser, list[argparse.ArgumentParser]], None]]] = {
    "run": ("the main job: train both routes, compare, export, serve, query", _add_run),
    "data": ("summarise the data and draw a sample grid", _add_data),
    "train": ("train one route locally or on Azure ML", _add_train),
    "worker": ("join a search shared through a database (LocalBackend(storage=...))", _add_worker),
    "compare": ("judge saved models on the held-out test set", _add_compare),
    "evaluate": ("one saved model on the test file, and off it (--corruptions)", _add_evaluate),
    "fine-tune": ("fine-tune a trained CNN on your own labelled photos", _add_fine_tune),
    "export": ("export a saved model to ONNX with a parity check", _add_export),
    "register": ("add an ONNX model to the MLflow Model Registry (serve it with models:/NAME/VERSION)", _add_register),
    "serve": ("serve an ONNX model over HTTP (uvicorn); open the address it prints for a page to try it", _add_serve),
    "predict": ("predict the letters of photos (files, folders, globs)", _add_predict),
    "explain": ("show which parts of a photo a model's answer rests on (occlusion map)", _add_explain),
    "deploy": ("deploy a model as a scoring service", _add_deploy),
    "info": ("print an ONNX model's card (its run record: data, selection, test figures)", _add_info),
    "check": ("check an ONNX file: onnx.checker, its checksum, and its test data set", _add_check),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``asl-recog`` argument parser: every command's flags, or only ``command``'s ("" for none)."""
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
    for name, (help_text, add) in COMMANDS.items():
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            parents=[verbosity],
        )
        if command is None or command == name:
            add(p, [verbosity])
    return parser


def _named_command(argv: Sequence[str]) -> str:
    """The command ``argv`` names (its first word that is one), or "" when it names none."""
    return next((word for word in argv if word in COMMANDS), "")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``asl-recog``; returns the exit code: 0 done, 1 failed, 2 a wrong command, 130 interrupted."""
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_named_command(words))
    args, extras = parser.parse_known_args(words)
    if extras:  # reported by the command's own parser, with the flags they may have meant
        refuse_extras(parser, args, extras)
    # -v/-q default to SUPPRESS (so a sub-parser cannot overwrite them): absent unless given.
    given = vars(args)
    configure_logging(given.get("verbose", 0) - given.get("quiet", 0))
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt as exc:
        hint = getattr(args, "interrupted", None)  # what the command knows of what can be resumed
        print(f"asl-recog {args.command}: interrupted" + (f" ({hint})" if hint else ""), file=sys.stderr)
        return exit_code(exc)
    except AslRecogError as exc:
        print(f"asl-recog {args.command}: error: {exc}", file=sys.stderr)
        return exit_code(exc)


if __name__ == "__main__":
    sys.exit(main())
