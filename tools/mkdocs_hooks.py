"""mkdocs hooks (mkdocs.yml ``hooks:``): pages made from the sources, so they cannot go stale.

- ``index.md`` is the README, its ``docs/...`` links rewritten to be relative to the site.
- ``cli.md`` is the ``asl-recog`` command reference, read from the argument parser, and the
  config-file format, read from ``asl_recog.cli._config``'s docstring.

Both are generated into the build only (mkdocs 1.6 ``File.generated``); nothing is written to docs/.
"""

from __future__ import annotations

import argparse
import inspect
import re
import textwrap
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]


def readme_page() -> str:
    """The README with its links into docs/ made relative to the docs folder."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.sub(r"\]\(docs/", "](", text)


def _cell(text: str) -> str:
    return text.replace("|", "/").replace("<", "&lt;").replace(">", "&gt;")


def _default(action: argparse.Action) -> str:
    if isinstance(action, argparse._StoreTrueAction):
        return "off"
    if not action.option_strings:
        return "required" if action.nargs in (None, "+") else ""
    if action.required:
        return "required"
    if action.default is None or action.default == argparse.SUPPRESS:
        return ""
    return f"`{action.default}`"


def cli_page() -> str:
    """The ``asl-recog`` commands, one table of arguments each, from the parser itself."""
    from asl_recog.cli import _config
    from asl_recog.cli._main import build_parser

    parser = build_parser()
    out = [
        "# Command line: `asl-recog`",
        "",
        f"{parser.description} Global options: `--version`, `-v/--verbose` (debug logging). "
        "`python -m asl_recog.serving` is the same as `asl-recog serve`. Errors in the input exit with "
        "status 2 and a message that names the problem. `asl-recog COMMAND --help` prints the same tables.",
        "",
    ]
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for command, subparser in sub.choices.items():
        description = subparser.description or ""
        out += [f"## `asl-recog {command}`", "", f"{description[:1].upper()}{description[1:]}.", ""]
        example = (subparser.epilog or "").replace("example:", "").strip()
        if example:
            out += ["```bash", example, "```", ""]
        out += ["| argument | meaning | default |", "|---|---|---|"]
        for action in subparser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            flag = ", ".join(action.option_strings) or action.dest
            meaning = action.help or ""
            if action.choices:
                meaning = (meaning + "; " if meaning else "") + "one of " + ", ".join(f"`{c}`" for c in action.choices)
            out.append(f"| `{flag}` | {_cell(meaning)} | {_default(action)} |")
        out.append("")
    prose, _, block = (inspect.getdoc(_config) or "").partition("::")
    prose = re.sub(r":(?:class|func|meth|mod):`~?([^`]+)`", r"`\1`", prose).replace("``", "`")
    out += [
        "## Config files (`asl-recog train --config`)",
        "",
        prose.strip() + ":",
        "",
        "```yaml",
        textwrap.dedent(block).strip("\n"),
        "```",
        "",
        "TOML files take the same keys (`[hyperdrive]`, `[automl]` tables).",
        "",
    ]
    return "\n".join(out)


def on_files(files: Files, config: MkDocsConfig, **kwargs: Any) -> Files:
    """Add the generated pages to the build."""
    files.append(File.generated(config, "index.md", content=readme_page()))
    files.append(File.generated(config, "cli.md", content=cli_page()))
    return files
