"""The public API is what __all__ says, every public class documents itself with an example,
and docs/api.md is the generator's current output."""

from __future__ import annotations

import importlib.util
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import asl_recog

ROOT = Path(__file__).resolve().parents[1]


def _gen_api():
    spec = importlib.util.spec_from_file_location("gen_api", ROOT / "docs" / "gen_api.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


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
        "'azure.ai.ml', 'azureml.core', 'fastapi', 'sklearn') if m in sys.modules]; print(heavy)"
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


def test_api_reference_is_up_to_date() -> None:
    generated = _gen_api().render()
    current = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    assert current == generated, "docs/api.md is out of date: run `python docs/gen_api.py` and commit the result"


def test_api_reference_covers_every_public_name_and_command() -> None:
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    for name in asl_recog.__all__:
        assert f"### `asl_recog.{name}`" in text, f"docs/api.md lacks {name}"
    for name in ("create_app", "run"):
        assert f"### `asl_recog.serving.{name}`" in text
    from asl_recog.cli._main import build_parser

    commands = next(a for a in build_parser()._actions if hasattr(a, "choices") and a.choices and a.dest == "command")
    for command in commands.choices:
        assert f"### `asl-recog {command}`" in text, f"docs/api.md lacks the {command} command"
