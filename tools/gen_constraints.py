"""Write constraints.txt: the exact versions of asl-recog's dependencies in a tested environment.

Run it with the interpreter of an environment in which the test suite passes,
installed with every extra (``make test`` makes one; ``make constraints`` runs this):

    .venv/bin/python tools/gen_constraints.py > constraints.txt

It walks the dependency tree of ``asl-recog[dev,azure,azureml,postgres,mlflow]`` as installed in
that environment and pins every package in it to the installed version, so
packages that happen to sit in the environment but that nothing of ours needs
(pip, tools installed by hand) stay out. Markers are evaluated for the running
interpreter: the file holds what this Python version and platform install.
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = "asl-recog"
EXTRAS = ("dev", "azure", "azureml", "postgres", "mlflow")  # every extra: `make test` installs them all in one pip call


def _closure(root: str, extras: tuple[str, ...]) -> dict[str, str]:
    """Canonical name -> installed version of ``root[extras]`` and everything it needs."""
    found: dict[str, str] = {}
    todo: list[tuple[str, frozenset[str]]] = [(root, frozenset(extras))]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, wanted = todo.pop()
        if (name, wanted) in seen:
            continue
        seen.add((name, wanted))
        dist = metadata.distribution(name)  # raises if a needed package is missing: the env is incomplete
        found[name] = dist.version
        for line in dist.requires or []:
            req = Requirement(line)
            # A requirement counts if its marker holds without an extra (a base
            # dependency) or with one of the extras asked of this package.
            contexts = [{"extra": ""}] + [{"extra": extra} for extra in wanted]
            if req.marker is None or any(req.marker.evaluate(ctx) for ctx in contexts):
                todo.append((canonicalize_name(req.name), frozenset(req.extras)))
    return found


def main() -> None:
    pins = _closure(ROOT, EXTRAS)
    pins.pop(ROOT)  # the project itself is installed from the checkout, not pinned
    print(f"""\
# Tested versions of every package asl-recog[{",".join(EXTRAS)}] needs (a pip constraints file).
# `make demo`, `make test` and CI install with it: pip install -c constraints.txt -e '.[...]'.
# It only bounds versions; pyproject.toml still says what is required.
#
# Generated on Python {platform.python_version()} ({sys.platform}, {platform.machine()}) from an environment
# in which the test suite passes. To regenerate (e.g. to move to newer versions):
#   rm -rf .venv && make test CONSTRAINTS=/dev/null   # newest releases the floors allow; runs the suite
#   .venv/bin/python tools/gen_constraints.py > constraints.txt   # if it passed
# (`make constraints` runs the last line.)""")
    for name in sorted(pins):
        print(f"{name}=={pins[name]}")


if __name__ == "__main__":
    main()
