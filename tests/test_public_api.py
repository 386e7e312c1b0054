"""The public API is what __all__ says, every public class documents itself with an example,
and the mkdocs API pages (docs/reference/) render every public name."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tool_modules import load_tool

import asl_recog

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", asl_recog.__all__)
def test_every_public_name_resolves(name: str) -> None:
    value = getattr(asl_recog, name)
    assert value is not None
    if inspect.isclass(value) or inspect.isfunction(value):
        assert value.__module__.startswith("asl_recog."), f"{name} is defined outside asl_recog ({value.__module__})"


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        asl_recog.not_a_name  # noqa: B018
    assert sorted(dir(asl_recog)) == sorted(asl_recog.__all__)


def test_importing_the_package_loads_no_heavy_module() -> None:
    code = (
        "import sys, asl_recog; heavy = [m for m in ('tensorflow', 'keras', 'optuna', 'onnxruntime', "
        "'azure.ai.ml', 'azureml.core', 'fastapi', 'sklearn', 'mlflow') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"import asl_recog loaded {out.stdout.strip()}"


@pytest.mark.parametrize("name", [n for n in asl_recog.__all__ if inspect.isclass(getattr(asl_recog, n))])
def test_public_classes_have_a_docstring_with_an_example(name: str) -> None:
    doc = inspect.getdoc(getattr(asl_recog, name)) or ""
    assert len(doc.split()) >= 5, f"{name} needs a docstring"
    assert "Example:" in doc or "Examples:" in doc, f"{name}'s docstring needs an 'Example:' section"


@pytest.mark.parametrize("name", [n for n in asl_recog.__all__ if callable(getattr(asl_recog, n))])
def test_public_callables_have_a_docstring(name: str) -> None:
    assert (inspect.getdoc(getattr(asl_recog, name)) or "").strip(), f"{name} needs a docstring"


def test_serve_functions_are_documented() -> None:
    import asl_recog.serving as serve

    for name in serve.__all__:
        assert (inspect.getdoc(getattr(serve, name)) or "").strip(), f"asl_recog.serving.{name} needs a docstring"


def _reference_directives() -> list[str]:
    """The objects the mkdocs API pages render (``::: asl_recog.NAME`` lines of docs/reference/*.md)."""
    names = []
    for page in sorted((ROOT / "docs" / "reference").glob("*.md")):
        names += re.findall(r"^::: (\S+)$", page.read_text(encoding="utf-8"), flags=re.MULTILINE)
    return names


def test_api_reference_pages_render_every_public_name_once() -> None:
    rendered = _reference_directives()
    public = [f"asl_recog.{name}" for name in asl_recog.__all__]
    public += [f"asl_recog.serving.{name}" for name in ("create_app", "run")]
    public += [f"asl_recog.testing.{name}" for name in ("check_trainer", "check_backend")]
    missing = sorted(set(public) - set(rendered))
    assert not missing, f"docs/reference/*.md lacks a '::: NAME' directive for {missing}"
    repeated = sorted({name for name in rendered if rendered.count(name) > 1})
    assert not repeated, f"docs/reference/*.md renders {repeated} more than once"


def test_every_reference_page_is_in_the_mkdocs_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in (ROOT / "docs" / "reference").glob("*.md"):
        assert f"reference/{page.name}" in nav, f"mkdocs.yml's nav lacks reference/{page.name}"


def test_the_cli_page_lists_every_command() -> None:
    hooks = load_tool("mkdocs_hooks")
    text = hooks.cli_page()
    from asl_recog.cli._main import build_parser

    commands = next(a for a in build_parser()._actions if hasattr(a, "choices") and a.choices and a.dest == "command")
    for command in commands.choices:
        assert f"## `asl-recog {command}`" in text, f"the command-line page lacks the {command} command"
    assert "## Config files" in text and "hyperdrive:" in text
