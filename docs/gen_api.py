"""Generate docs/api.md from the library's docstrings, signatures and CLI parser.

Run ``python docs/gen_api.py`` after changing a public name or its docstring
(``--check`` exits 1 when docs/api.md is out of date; tests/test_public_api.py
runs the same check). Every name in ``asl_recog.__all__`` is documented: names
not placed in a section below land in "Other", so nothing public goes missing.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import inspect
import re
import sys
from pathlib import Path
from typing import Any

import asl_recog

OUT = Path(__file__).with_name("api.md")

#: (title, intro, names). The intros are short and contain no API facts a docstring would own.
SECTIONS: list[tuple[str, str, list[str]]] = [
    (
        "Data",
        "Loading Sign Language MNIST and the honest (grouped) validation split. Public functions speak "
        "dataset labels (0-24 without 9) and letters; class indices 0-23 stay internal.",
        [
            "load_sign_mnist",
            "SignMnistDataset",
            "train_validation_split",
            "image_to_array",
            "LETTERS",
            "LABELS",
            "NUM_CLASSES",
            "labels_to_letters",
            "letters_to_labels",
        ],
    ),
    (
        "Training",
        "Both routes share the `Trainer` contract: settings are checked when the trainer is built, "
        "`fit` runs the search on a backend and returns a `TrainingResult`.",
        ["Trainer", "AutoMLTrainer", "HyperDriveTrainer", "TrainingResult"],
    ),
    (
        "Search space",
        "Azure ML HyperDrive's vocabulary, used by every backend: parameter expressions, "
        "samplings, early-termination policies and the metric goal.\n\n```python\nimport math\n"
        "from asl_recog import RandomParameterSampling, BanditPolicy, choice, loguniform, uniform\n\n"
        'sampling = RandomParameterSampling({\n    "filters": choice(16, 32, 64),\n'
        '    "learning_rate": loguniform(math.log(1e-4), math.log(1e-2)),  # bounds are natural logs\n'
        '    "dropout": uniform(0.1, 0.5),\n})\npolicy = BanditPolicy(slack_factor=0.1, evaluation_interval=1, '
        "delay_evaluation=2)\n```",
        [
            "choice",
            "randint",
            "uniform",
            "quniform",
            "loguniform",
            "qloguniform",
            "normal",
            "qnormal",
            "lognormal",
            "qlognormal",
            "RandomParameterSampling",
            "GridParameterSampling",
            "BayesianParameterSampling",
            "BanditPolicy",
            "MedianStoppingPolicy",
            "TruncationSelectionPolicy",
            "NoTerminationPolicy",
            "PrimaryMetricGoal",
        ],
    ),
    (
        "Backends",
        'Where a search runs. A trainer takes `backend=None`/`"local"`, `"azure"`, `"azureml"`, '
        '`"auto"` or one of these objects; the trainer\'s settings do not change.',
        ["Backend", "LocalBackend", "AzureBackend", "AzureMLBackend"],
    ),
    (
        "Models",
        "Fitted models share one interface; `Model.load` reads `.keras`, `.aslskl` and `.onnx` files.",
        ["Model", "SklearnModel", "KerasModel", "OnnxModel", "export_onnx"],
    ),
    (
        "Comparing models",
        "The `Comparator` is the only part of the library that reads the test set.",
        ["Comparator", "ComparisonResult"],
    ),
    (
        "Deployment",
        "One interface for a local subprocess, an Azure ML managed online endpoint (SDK v2) and "
        "Azure Container Instances (SDK v1); `RemoteEndpoint` calls any deployed service.",
        [
            "Deployer",
            "Endpoint",
            "LocalDeployer",
            "LocalEndpoint",
            "AzureDeployer",
            "AzureMLDeployer",
            "RemoteEndpoint",
        ],
    ),
    (
        "Errors",
        "Every error names what is wrong, where, and how to fix it; all derive from `AslRecogError`.",
        [
            "AslRecogError",
            "DataFormatError",
            "DataNotFoundError",
            "ConfigurationError",
            "MissingExtraError",
            "MissingDependencyError",
            "ModelFileError",
            "TrialFailedError",
            "OnnxExportError",
            "EndpointError",
        ],
    ),
    ("Version", "", ["__version__"]),
]
_SECTION_NAMES = ("Args", "Arguments", "Attributes", "Returns", "Raises", "Example", "Examples", "Note", "Notes")
_HEADER = re.compile(rf"^({'|'.join(_SECTION_NAMES)}):\s*$")


class _Text:
    """An object whose repr is the given text (to print annotations and defaults unquoted)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def markdown_text(text: str) -> str:
    """Sphinx roles and RST double backticks to Markdown code spans."""
    text = re.sub(r":(?:class|func|meth|data|attr|mod|exc):`~?([^`]+)`", r"`\1`", text)
    return text.replace("``", "`")


def parse_docstring(doc: str) -> tuple[str, dict[str, list[str]]]:
    """(description, {section: lines}) of a Google-style docstring."""
    description: list[str] = []
    sections: dict[str, list[str]] = {}
    current: list[str] = description
    for line in doc.splitlines():
        match = _HEADER.match(line)
        if match:
            current = sections.setdefault(match.group(1).rstrip("s") if match.group(1) != "Args" else "Args", [])
            continue
        if current is not description and line.strip() and not line[0].isspace():
            current = description  # an unindented paragraph after a section belongs to the description
        current.append(line)
    return "\n".join(description).strip(), {k: _dedent(v) for k, v in sections.items()}


def _dedent(lines: list[str]) -> list[str]:
    import textwrap

    return textwrap.dedent("\n".join(lines)).strip("\n").splitlines()


def _items(lines: list[str]) -> list[str]:
    """``name: text`` entries (continuation lines joined) as Markdown bullets."""
    items: list[str] = []
    for line in lines:
        if line and not line[0].isspace():
            items.append(line.strip())
        elif items and line.strip():
            items[-1] += " " + line.strip()
    bullets = []
    for item in items:
        name, sep, text = item.partition(":")
        bullets.append(f"- `{name.strip()}`: {text.strip()}" if sep and " " not in name.strip() else f"- {item}")
    return [markdown_text(b) for b in bullets]


def _value(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return _Text(f"{type(value).__name__}.{value.name}")
    return value


def signature(obj: Any, *, drop_first: bool = False) -> str | None:
    """The call signature with annotations and defaults printed as written; None if there is none."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    params = list(sig.parameters.values())
    if drop_first and params and params[0].name in ("self", "cls"):
        params = params[1:]
    if [p.kind for p in params] == [inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD]:
        return None  # an inherited Exception constructor says nothing useful
    cleaned = []
    for p in params:
        annotation = (
            p.annotation
            if p.annotation is inspect.Parameter.empty
            else _Text(p.annotation if isinstance(p.annotation, str) else inspect.formatannotation(p.annotation))
        )
        default = p.default if p.default is inspect.Parameter.empty else _value(p.default)
        cleaned.append(p.replace(annotation=annotation, default=default))
    returns = sig.return_annotation
    if returns is not inspect.Signature.empty:
        returns = _Text(returns if isinstance(returns, str) else inspect.formatannotation(returns))
    if returns is not inspect.Signature.empty and repr(returns) == "None":
        returns = inspect.Signature.empty
    return str(sig.replace(parameters=cleaned, return_annotation=returns))


def _code_line(name: str, sig: str, prefix: str = "") -> str:
    line = f"{prefix}{name}{sig}"
    if len(line) <= 100 or sig == "()":
        return line
    indent = " " * (len(prefix) - len(prefix.lstrip()))
    # one parameter per line, split at top-level commas only
    inner, tail = sig[1 : sig.rindex(")")], sig[sig.rindex(")") + 1 :]
    parts, depth, start, quote = [], 0, 0, ""
    for i, char in enumerate(inner):
        if quote:
            quote = "" if char == quote and inner[i - 1] != "\\" else quote
            continue
        if char in "'\"":
            quote = char
        depth += char in "([{"
        depth -= char in ")]}"
        if char == "," and depth == 0:
            parts.append(inner[start:i].strip())
            start = i + 1
    parts.append(inner[start:].strip())
    return f"{prefix}{name}(\n" + "".join(f"{indent}    {p},\n" for p in parts) + f"{indent}){tail}"


def _first_paragraph(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return markdown_text(" ".join(doc.split("\n\n")[0].split()))


def _members(cls: type) -> list[str]:
    """Bullets for the public methods and properties a class defines itself."""
    lines = []
    if issubclass(cls, enum.Enum):
        return [f"- `{cls.__name__}.{m.name}` = `{m.value!r}`" for m in cls]
    fields = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
    for name, raw in vars(cls).items():
        if name.startswith("_") or name in fields:
            continue
        if isinstance(raw, property):
            doc = _first_paragraph(raw)
            lines.append(f"- `{name}` (property)" + (f": {doc}" if doc else ""))
        elif isinstance(raw, (staticmethod, classmethod)) or inspect.isfunction(raw):
            sig = signature(getattr(cls, name), drop_first=inspect.isfunction(raw)) or "(...)"
            kind = (
                " (static)"
                if isinstance(raw, staticmethod)
                else " (classmethod)"
                if isinstance(raw, classmethod)
                else ""
            )
            doc = _first_paragraph(getattr(cls, name))
            lines.append(f"- `{name}{sig}`{kind}" + (f": {doc}" if doc else ""))
    return lines


def entry(name: str, obj: Any, qualname: str | None = None) -> list[str]:
    """The Markdown of one public name."""
    qualname = qualname or f"asl_recog.{name}"
    out = [f"### `{qualname}`", ""]
    if not (inspect.isclass(obj) or inspect.isroutine(obj)):
        out += ["```python", f"{name} = {obj!r}", "```", ""]
        return out
    sig = None if inspect.isclass(obj) and issubclass(obj, enum.Enum) else signature(obj)
    if inspect.isclass(obj):
        bases = [b.__name__ for b in obj.__bases__ if b is not object]
        header = f"class {name}" + (f"({', '.join(bases)})" if bases else "")
        init = None if sig is None else "(self" + (", " if sig != "()" else "") + sig[1:]
        code = [header] if init is None else [header + ":", _code_line("__init__", init, "    def ")]
        out += ["```python", *code, "```", ""]
    else:
        out += ["```python", _code_line(name, sig or "(...)", "def "), "```", ""]
    description, sections = parse_docstring(inspect.getdoc(obj) or "")
    if description:
        out += [markdown_text(description), ""]
    for section in ("Args", "Attribute", "Return", "Raise"):
        if section == "Return" and sections.get(section):
            out += ["**Returns**: " + markdown_text(" ".join(line.strip() for line in sections[section])), ""]
        elif sections.get(section):
            title = {"Args": "Arguments", "Attribute": "Attributes", "Raise": "Raises"}[section]
            out += [f"**{title}**", "", *_items(sections[section]), ""]
    if inspect.isclass(obj):
        members = _members(obj)
        if members:
            out += ["**Members**", "", *members, ""]
    if sections.get("Example"):
        out += ["**Example**", "", "```python", *sections["Example"], "```", ""]
    return out


def cli_section() -> list[str]:
    """The ``asl-recog`` commands, read from the argument parser."""
    from asl_recog.cli._main import build_parser

    parser = build_parser()
    out = [
        "## Command line: `asl-recog`",
        "",
        f"{parser.description} Global options: `--version`, `-v/--verbose` (debug logging). "
        "`python -m asl_recog.serving` is the same as `asl-recog serve`. Errors in the input exit with status 2 "
        "and a message that names the problem.",
        "",
    ]
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for command, subparser in sub.choices.items():
        out += command_section(f"asl-recog {command}", subparser)
    return out + config_section()


def command_section(name: str, subparser: argparse.ArgumentParser) -> list[str]:
    """One command's table of arguments; a command with sub-commands (``train ROUTE``) gets one per sub-command."""
    description = subparser.description or ""
    out = [f"### `{name}`", "", f"{description[:1].upper()}{description[1:]}.", ""]
    example = (subparser.epilog or "").replace("example:", "").strip()
    if example:
        out += ["```bash", example, "```", ""]
    out += ["| argument | meaning | default |", "|---|---|---|"]
    nested = []
    for action in subparser._actions:
        if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
            continue
        if isinstance(action, argparse._SubParsersAction):
            nested = list(action.choices.items())
        flag = ", ".join(action.option_strings) or action.dest
        meaning = action.help or ""
        if action.choices:
            meaning = (meaning + "; " if meaning else "") + "one of " + ", ".join(f"`{c}`" for c in action.choices)
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreConstAction)):
            default = "off"
        elif not action.option_strings:
            default = "required" if action.nargs in (None, "+", argparse.PARSER) else ""
        elif action.required:
            default = "required"
        else:
            default = "" if action.default in (None, argparse.SUPPRESS) else f"`{action.default}`"
        meaning = meaning.replace("|", "/").replace("<", "&lt;").replace(">", "&gt;")
        out.append(f"| `{flag}` | {meaning} | {default} |")
    out.append("")
    for command, child in nested:
        out += command_section(f"{name} {command}", child)
    return out


def config_section() -> list[str]:
    """The config-file format of ``asl-recog train --config``, from ``asl_recog.cli._config``'s docstring."""
    import textwrap

    from asl_recog.cli import _config

    doc = inspect.getdoc(_config) or ""
    prose, _, block = doc.partition("::")
    return [
        "### Config files (`asl-recog train --config`)",
        "",
        markdown_text(prose.strip()) + ":",
        "",
        "```yaml",
        textwrap.dedent(block).strip("\n"),
        "```",
        "",
        "TOML files take the same keys (`[hyperdrive]`, `[automl]` tables).",
        "",
    ]


def render() -> str:
    """The whole of docs/api.md."""
    import asl_recog.serving as serve

    placed = [n for _, _, names in SECTIONS for n in names]
    missing = sorted(set(placed) - set(asl_recog.__all__))
    if missing:
        raise SystemExit(f"gen_api.py lists names that are not public any more: {missing}")
    sections = [*SECTIONS]
    other = [n for n in asl_recog.__all__ if n not in placed]
    if other:
        sections.append(("Other", "", other))
    out = [
        "# API reference",
        "",
        f"Generated by `python docs/gen_api.py` from asl_recog {asl_recog.__version__}'s docstrings and "
        "command-line parser; do not edit by hand. Everything public is importable from the top-level "
        "package (`import asl_recog as asl`), loaded lazily; the scoring service lives in `asl_recog.serving`.",
        "",
        "Contents: "
        + ", ".join(f"[{t}](#{t.lower().replace(' ', '-')})" for t, _, _ in sections)
        + ", [Scoring service](#scoring-service-asl_recogserve), [Command line](#command-line-asl-recog).",
        "",
    ]
    for title, intro, names in sections:
        out += [f"## {title}", ""]
        if intro:
            out += [intro, ""]
        for name in names:
            out += entry(name, getattr(asl_recog, name))
    description, parts = parse_docstring(inspect.getdoc(serve) or "")
    out += ["## Scoring service: `asl_recog.serving`", "", markdown_text(description), ""]
    if parts.get("Example"):
        out += ["```python", *parts["Example"], "```", ""]
    for name in serve.__all__:
        out += entry(name, getattr(serve, name), f"asl_recog.serving.{name}")
    out += cli_section()
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--check", action="store_true", help="exit 1 if docs/api.md is out of date; write nothing")
    options = args.parse_args(argv)
    text = render()
    if options.check:
        current = OUT.read_text(encoding="utf-8") if OUT.is_file() else ""
        if current != text:
            print(f"{OUT} is out of date: run python docs/gen_api.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
