"""``asl-recog train ROUTE``: one sub-command per route, with a flag per setting of that route.

Each route's flags carry its trainer's (Azure's) argument names. A flag of the other
route is refused with the flag to use instead, never dropped: ``train hyperdrive
--timeout-minutes 1`` stops with "use --max-duration-minutes", since the two routes
name their budget differently (:data:`~asl_recog.routes._settings.COMMON_SETTINGS`).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from asl_recog._errors import ConfigurationError
from asl_recog.cli._config import POLICIES, SAMPLINGS, load_config, trainer_settings
from asl_recog.data._dataset import load_sign_mnist
from asl_recog.results._persist import write_leaderboard
from asl_recog.results._run_dir import run_dir_of
from asl_recog.routes._settings import COMMON_SETTINGS
from asl_recog.routes.automl._trainer import ALGORITHMS, AutoMLTrainer
from asl_recog.routes.automl._trainer import METRICS as AUTOML_METRICS
from asl_recog.routes.hyperdrive._builders import BUILDERS, default_sampling
from asl_recog.routes.hyperdrive._trainer import METRICS as HYPERDRIVE_METRICS
from asl_recog.routes.hyperdrive._trainer import HyperDriveTrainer

EXAMPLE = "asl-recog train hyperdrive --max-total-runs 4 --epochs 4"


def _algorithm(text: str) -> str:
    """An algorithm's name in any case (``knn``, ``Knn``) as the portfolio spells it (``KNN``)."""
    return {name.lower(): name for name in ALGORITHMS}.get(text.lower(), text)  # unknown: argparse's choices say so


@dataclass(frozen=True)
class Flag:
    """One command-line flag and the trainer argument it sets.

    Attributes:
        options: the option strings, the first one canonical (e.g. ``("--max-total-runs", "--max-runs")``).
        setting: the trainer's constructor argument; ``"epochs"`` on hyperdrive goes into ``fixed_params``.
        argparse: keyword arguments of ``add_argument`` (type, choices, nargs, help, ...).
    """

    options: tuple[str, ...]
    setting: str
    argparse: dict[str, Any] = field(default_factory=dict)


def _off(help_text: str) -> dict[str, Any]:
    """A ``--no-x`` switch: False when given, else not set (the trainer's default or the config's value)."""
    return {"action": "store_const", "const": False, "help": help_text}


#: Flags every route has, under the same argument name.
SHARED_FLAGS = (
    Flag(("--seed",), "seed", {"type": int, "help": "makes the search repeatable"}),
    Flag(("--max-model-size-mb",), "max_model_size_mb", {"type": float, "help": "the model-size budget in MB"}),
    Flag(("--resume",), "resume", {"action": "store_const", "const": True, "help": "continue the search in --out"}),
    Flag(("--no-refit",), "refit", _off("keep the best trial's model instead of retraining it on all the data")),
    Flag(("--no-progress",), "progress", _off("no live progress table")),
    Flag(("--backend",), "backend", {"help": "local (default), azure, azureml or auto"}),
    Flag(
        ("--tracking-uri",),
        "tracking_uri",
        {"help": "log the search to this MLflow tracking server: a parent run, a nested run per trial"},
    ),
)
#: Flags of one route each, named after the trainer's arguments.
ROUTE_FLAGS: dict[str, tuple[Flag, ...]] = {
    "automl": (
        Flag(("--experiment-timeout-minutes", "--timeout-minutes"), "experiment_timeout_minutes", {"type": float}),
        Flag(("--iteration-timeout-minutes",), "iteration_timeout_minutes", {"type": float}),
        Flag(("--max-iterations",), "max_iterations", {"type": int}),
        Flag(
            ("--max-concurrent-iterations", "--concurrent"),
            "max_concurrent_iterations",
            {"type": int, "help": "trials run at once (processes)"},
        ),
        Flag(("--primary-metric",), "primary_metric", {"choices": AUTOML_METRICS}),
        Flag(
            ("--allowed-models",),
            "allowed_models",
            {"nargs": "+", "type": _algorithm, "choices": ALGORITHMS, "metavar": "ALGORITHM"},
        ),
        Flag(
            ("--blocked-models",),
            "blocked_models",
            {"nargs": "+", "type": _algorithm, "choices": ALGORITHMS, "metavar": "ALGORITHM"},
        ),
        Flag(("--no-early-stopping",), "enable_early_stopping", _off("search until the budget is spent")),
        Flag(("--no-voting-ensemble",), "enable_voting_ensemble", _off("no soft-voting ensemble at the end")),
        Flag(("--no-onnx-compatible-models",), "enable_onnx_compatible_models", _off("also models without ONNX")),
        Flag(("--no-augment",), "augment", _off("no shifted/rotated copies of the training images")),
        Flag(
            ("--featurization",),
            "featurization",
            {"choices": ("auto", "off"), "help": "auto: HOG features or raw pixels, chosen per pipeline; off: pixels"},
        ),
        Flag(
            ("--enable-stack-ensemble",),
            "enable_stack_ensemble",
            {"action": "store_const", "const": True, "help": "also try a stacked ensemble of the best models"},
        ),
        Flag(
            ("--max-latency-ms",),
            "max_latency_ms",
            {"type": float, "help": "refuse candidates slower than this per image when served (ONNX, p50)"},
        ),
    ),
    "hyperdrive": (
        Flag(("--builder",), "builder", {"choices": list(BUILDERS)}),
        Flag(("--max-total-runs", "--max-runs"), "max_total_runs", {"type": int}),
        Flag(
            ("--max-concurrent-runs", "--concurrent"),
            "max_concurrent_runs",
            {"type": int, "help": "trials run at once (processes)"},
        ),
        Flag(("--max-duration-minutes",), "max_duration_minutes", {"type": float}),
        Flag(("--primary-metric-name",), "primary_metric_name", {"choices": HYPERDRIVE_METRICS}),
        Flag(("--primary-metric-goal",), "primary_metric_goal", {"choices": ("maximize", "minimize")}),
        Flag(("--epochs",), "epochs", {"type": int, "help": "fix the number of epochs: fixed_params['epochs']"}),
        Flag(("--batch-size",), "batch_size", {"type": int, "help": "fix the batch size: fixed_params['batch_size']"}),
        Flag(
            ("--sampling",),
            "hyperparameter_sampling",
            {"choices": tuple(SAMPLINGS), "help": "how the builder's search space (or the config's) is sampled"},
        ),
        Flag(
            ("--policy",),
            "policy",
            {"choices": tuple(POLICIES), "help": "early termination; bandit takes --slack-factor (default 0.1)"},
        ),
        Flag(("--slack-factor",), "slack_factor", {"type": float, "help": "the bandit policy's slack factor"}),
    ),
}


def _refusal(flag: Flag, option: str, owner: str, route: str) -> str:
    """Why ``option`` (a flag of ``owner``) does not apply to ``route``, and what to use instead."""
    concept = next((row for row in COMMON_SETTINGS.values() if row.name(owner) == flag.setting), None)
    if concept is not None:
        name = concept.name(route)
        instead = next(f.options[0] for f in ROUTE_FLAGS[route] + SHARED_FLAGS if f.setting == name)
        return (
            f"{option} sets {owner}'s {flag.setting}; {route} calls that setting {name}: use {instead} "
            f"(or `asl-recog train {owner} {option} ...`)"
        )
    return f"{option} ({flag.setting}) applies to `asl-recog train {owner}` only; {route} has no such setting"


def _refuse(message: str) -> type[argparse.Action]:
    class Refuse(argparse.Action):
        def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> NoReturn:
            parser.error(message)

    return Refuse


def add_train_arguments(parser: argparse.ArgumentParser, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Give ``asl-recog train`` a sub-command per route, each with its own flags."""
    routes = parser.add_subparsers(dest="route", required=True, metavar="ROUTE")
    for route, flags in ROUTE_FLAGS.items():
        p = routes.add_parser(
            route,
            help=f"train the {route} route",
            description=f"train the {route} route: a flag per trainer setting; the other route's flags are refused",
            parents=list(parents),
        )
        p.add_argument(
            "--config",
            default=None,
            help="YAML or TOML file with an 'automl' or 'hyperdrive' section of trainer settings "
            "(format: the command-line page of the docs, generated as cli.md)",
        )
        p.add_argument("--data", default=None, help="training data file or folder (default: the bundled copy)")
        p.add_argument(
            "--out",
            default=None,
            help="run folder: model, leaderboard, study (default: the config's run_dir, else a new runs/ROUTE-TIME)",
        )
        own: set[str] = set()
        for flag in (*SHARED_FLAGS, *flags):
            kwargs = {"help": f"the trainer's {flag.setting}", **flag.argparse}
            p.add_argument(*flag.options, dest=flag.setting, default=None, **kwargs)
            own.update(flag.options)
        # The other route's flags are refused with the right one, never silently dropped.
        for owner, others in ROUTE_FLAGS.items():
            for flag in others:
                for option in flag.options:
                    if option not in own:
                        own.add(option)
                        message = _refusal(flag, option, owner, route)
                        p.add_argument(
                            option,
                            nargs="*",
                            action=_refuse(message),
                            default=argparse.SUPPRESS,
                            help=argparse.SUPPRESS,
                        )
        p.set_defaults(func=run_train)


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The trainer's arguments: the config file's section, then the route's flags that were given."""
    settings: dict[str, Any] = {}
    if args.config:
        config = load_config(args.config)
        if args.route not in config:  # else the whole default search would start, unasked
            raise ConfigurationError(
                f"{args.config} has no {args.route!r} section (it has {sorted(config)}); add one, or train "
                f"the route it configures (asl-recog train {sorted(config)[0] if config else 'ROUTE'} ...)"
            )
        settings = trainer_settings(config, args.route, source=args.config)
    given = vars(args)
    for flag in (*SHARED_FLAGS, *ROUTE_FLAGS[args.route]):
        value = given[flag.setting]
        if value is None:
            continue
        if args.route == "hyperdrive" and flag.setting in FIXED_PARAM_FLAGS:
            settings["fixed_params"] = {**(settings.get("fixed_params") or {}), flag.setting: value}
        elif flag.setting == "hyperparameter_sampling":
            settings[flag.setting] = _sampling_of(value, settings)
        elif flag.setting == "policy":
            settings[flag.setting] = _policy_of(value, given.get("slack_factor"))
        elif flag.setting == "slack_factor":
            if given.get("policy") not in (None, "bandit"):
                raise ConfigurationError(f"--slack-factor is the bandit policy's; --policy is {given['policy']!r}")
        else:
            settings[flag.setting] = value
    if args.out or settings.get("run_dir"):  # else the trainer's own default: a new runs/<route>-<time>
        settings["run_dir"] = Path(args.out or settings["run_dir"])
    return settings


#: HyperDrive flags that fix one hyperparameter (``fixed_params``) rather than set a trainer argument.
FIXED_PARAM_FLAGS = ("epochs", "batch_size")


def _sampling_of(kind: str, settings: dict[str, Any]) -> Any:
    """``--sampling KIND`` over the config's space, else the builder's default space."""
    given = settings.get("hyperparameter_sampling")
    fixed = settings.get("fixed_params") or {}
    if given is not None:
        space = given.parameter_space
    else:  # the builder's default space, less what --epochs/--batch-size fix (as the trainer's default does)
        default = default_sampling(settings.get("builder", "default")).parameter_space
        space = {name: value for name, value in default.items() if name not in fixed}
    try:
        return SAMPLINGS[kind](space)
    except ConfigurationError as exc:  # e.g. grid over a uniform(): say which flag asked for it
        raise ConfigurationError(f"--sampling {kind}: {exc}; write the space in --config, or choose another") from exc


def _policy_of(kind: str, slack_factor: float | None) -> Any:
    """``--policy KIND``: Azure's policy with its defaults (bandit: ``--slack-factor``, 0.1 when not given)."""
    if kind == "bandit":
        return POLICIES[kind](slack_factor=0.1 if slack_factor is None else slack_factor)
    return POLICIES[kind]()


def in_flag_terms(message: str, args: argparse.Namespace) -> str:
    """``message`` with each setting that came from a flag on this command line named as that flag.

    Example:
        >>> args = argparse.Namespace(route="hyperdrive", max_total_runs=0)
        >>> in_flag_terms("max_total_runs must be an integer >= 1, got 0", args)
        '--max-total-runs (max_total_runs) must be an integer >= 1, got 0'
    """
    given = vars(args)
    for flag in (*SHARED_FLAGS, *ROUTE_FLAGS[args.route]):
        if given.get(flag.setting) is not None and flag.setting in message:
            message = re.sub(
                rf"(?<![\w-]){re.escape(flag.setting)}\b", f"{flag.options[0]} ({flag.setting})", message, count=1
            )
    return message


def run_train(args: argparse.Namespace) -> int:
    """``asl-recog train ROUTE``: search, then save the best model and the leaderboard under ``--out``."""
    trainer_class = {"automl": AutoMLTrainer, "hyperdrive": HyperDriveTrainer}[args.route]
    settings = settings_from_args(args)
    try:
        trainer = trainer_class(**settings)
    except ConfigurationError as exc:  # name the flag that was typed, not only the Python setting behind it
        raise ConfigurationError(in_flag_terms(str(exc), args)) from exc
    out = run_dir_of(trainer)
    trainer.set_params(run_dir=out)  # the default folder is named once, so the model lands beside the study
    try:
        result = trainer.fit(load_sign_mnist("train", args.data))
    except KeyboardInterrupt:
        from asl_recog.backends.local._engine import STORAGE_FILE  # here: --help stays free of Optuna

        # Before its study exists (loading, checks, AutoML's timing probes) a search has nothing to resume.
        started = (out / STORAGE_FILE).is_file()
        args.interrupted = (
            f"run the same command with --out {out} --resume to continue the search"
            if started
            else "before the search started, so there is nothing to resume: run the same command again"
        )
        raise
    model_path = result.best_model.save(out / "best")
    write_leaderboard(result.leaderboard, out / "leaderboard.csv")  # Azure runs too: their run folder is here
    print(result.leaderboard.head(10).to_string())
    print(f"best validation {result.primary_metric}: {result.best_score:.4f} with {result.best_params}")
    print(f"model: {model_path}")
    return 0


__all__ = [
    "Flag",
    "ROUTE_FLAGS",
    "SHARED_FLAGS",
    "add_train_arguments",
    "in_flag_terms",
    "run_train",
    "settings_from_args",
]
