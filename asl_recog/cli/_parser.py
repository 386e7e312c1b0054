"""argparse, with the conventions people expect of a command line: no abbreviations, suggestions, exit codes.

* ``allow_abbrev=False`` on every parser: ``--exp 5`` is refused rather than read as
  ``--experiment-timeout-minutes 5``, so a flag added later cannot change what an old command means.
* A misspelt flag gets the command's own usage and the closest flags (difflib), not the top-level
  usage: argparse reports sub-command extras through the top-level parser.
* Exit codes: 0 done, 1 the work failed, 2 the command was wrong (usage, bad input, a missing
  file), 130 interrupted (Ctrl-C), as shells and Click do.
"""

from __future__ import annotations

import argparse
import difflib
from typing import Any, NoReturn

from asl_recog._errors import (
    AslRecogError,
    ConfigurationError,
    DataFormatError,
    DataNotFoundError,
    MissingDependencyError,
    MissingExtraError,
    ModelFileError,
)

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
#: Errors that mean the command itself must change (a flag, a path, a file, an install): exit 2.
USAGE_ERRORS: tuple[type[AslRecogError], ...] = (
    ConfigurationError,
    DataFormatError,
    DataNotFoundError,
    ModelFileError,
    MissingDependencyError,
    MissingExtraError,
)


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` without abbreviations whose sub-parsers are of the same kind.

    Example:
        >>> parser = Parser(prog="demo")
        >>> _ = parser.add_argument("--experiment-timeout-minutes", type=int)
        >>> parser.parse_args(["--experiment-timeout-minutes", "5"]).experiment_timeout_minutes
        5
        >>> suggest(parser, "--experiment-timeout-minute")
        ['--experiment-timeout-minutes']
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)


def option_strings(parser: argparse.ArgumentParser) -> list[str]:
    """Every flag ``parser`` takes (``--out``, ``-v``, ...)."""
    return [flag for action in parser._actions for flag in action.option_strings]


def suggest(parser: argparse.ArgumentParser, flag: str) -> list[str]:
    """The flags of ``parser`` closest to a misspelt ``flag`` (at most three), best first."""
    name = flag.split("=", 1)[0]
    return difflib.get_close_matches(name, option_strings(parser), n=3, cutoff=0.6)


def command_parser(parser: argparse.ArgumentParser, name: str | None) -> argparse.ArgumentParser:
    """The sub-parser of command ``name`` (the parser itself when there is none)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and name in action.choices:
            return action.choices[name]
    return parser


def chosen_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The innermost sub-parser that ``args`` went through (``train`` -> ``automl``)."""
    while True:
        action = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        name = getattr(args, action.dest, None) if action is not None and action.dest else None
        if action is None or name not in action.choices:
            return parser
        parser = action.choices[name]


def refuse_extras(parser: argparse.ArgumentParser, args: argparse.Namespace, extras: list[str]) -> NoReturn:
    """Exit 2 with the command's usage, naming the unknown arguments and what they may have meant."""
    target = chosen_parser(parser, args)
    hints = []
    for extra in extras:
        if extra.startswith("-"):
            close = suggest(target, extra)
            if close:
                hints.append(f"{extra}: did you mean {' or '.join(close)}?")
    message = f"unrecognized arguments: {' '.join(extras)}"
    target.error(message + ("\n  " + "\n  ".join(hints) if hints else ""))


def exit_code(error: BaseException) -> int:
    """2 for an error the user fixes in the command, 130 for Ctrl-C, else 1.

    Example:
        >>> exit_code(ConfigurationError("x")), exit_code(KeyboardInterrupt()), exit_code(RuntimeError())
        (2, 130, 1)
    """
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    return EXIT_USAGE if isinstance(error, USAGE_ERRORS) else EXIT_FAILED


__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "Parser",
    "chosen_parser",
    "command_parser",
    "exit_code",
    "refuse_extras",
    "suggest",
]
