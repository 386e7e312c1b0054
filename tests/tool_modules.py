"""The project's scripts in ``tools/``, imported by path for the tests that check what they make.

``tools/`` is not a package (its scripts run as ``python tools/NAME.py``), so a test loads one
the way ``runpy`` would, but keeps the module to call its functions and read its constants.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

TOOLS = Path(__file__).resolve().parents[1] / "tools"


def load_tool(name: str) -> ModuleType:
    """``tools/NAME.py`` as a module, its ``if __name__ == "__main__"`` part not run."""
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    assert spec is not None and spec.loader is not None, f"no tools/{name}.py"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
