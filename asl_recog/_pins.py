"""The installed versions of asl-recog's dependency closure, and one SHA-256 naming them.

``tools/gen_constraints.py`` writes ``constraints.txt`` from :func:`installed_pins`; a model's
run record (:class:`~asl_recog.models.RunRecord`) carries :func:`pins_sha256` of the same
lines, so a record says which environment trained it, and in an environment installed from
``constraints.txt`` with every extra the two hashes are equal (:func:`constraints_sha256`).
"""

from __future__ import annotations

import functools
import hashlib
from importlib import metadata

ROOT = "asl-recog"
#: Every extra: `make test` installs them all in one pip call, and constraints.txt pins them all.
EXTRAS = ("dev", "azure", "azureml", "postgres", "mlflow")


def installed_pins(root: str = ROOT, extras: tuple[str, ...] = EXTRAS, *, strict: bool = False) -> dict[str, str]:
    """Canonical name -> installed version of ``root[extras]`` and everything it needs, ``root`` left out.

    Args:
        root: the distribution whose closure is walked.
        extras: the extras of ``root`` that count.
        strict: raise when a needed package is not installed (``tools/gen_constraints.py``:
            the environment is incomplete); by default such packages are left out, as an
            install without the extras lacks them.

    Raises:
        importlib.metadata.PackageNotFoundError: ``root`` is not installed, or ``strict``
            and a package it needs is missing.

    Example:
        >>> pins = installed_pins()
        >>> "numpy" in pins and "asl-recog" not in pins
        True
    """
    # packaging is not a declared dependency of asl-recog, but matplotlib, scikit-image and
    # TensorFlow all need it, so every install has it; imported here, only when a record is made.
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    found: dict[str, str] = {}
    todo: list[tuple[str, frozenset[str]]] = [(root, frozenset(extras))]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, wanted = todo.pop()
        if (name, wanted) in seen:
            continue
        seen.add((name, wanted))
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            if strict or name == root:
                raise
            continue
        found[name] = dist.version
        for line in dist.requires or []:
            req = Requirement(line)
            # A requirement counts if its marker holds without an extra (a base
            # dependency) or with one of the extras asked of this package.
            contexts = [{"extra": ""}] + [{"extra": extra} for extra in wanted]
            if req.marker is None or any(req.marker.evaluate(ctx) for ctx in contexts):
                todo.append((canonicalize_name(req.name), frozenset(req.extras)))
    found.pop(root)  # the project itself is installed from the checkout, not pinned
    return found


def pin_lines(pins: dict[str, str]) -> list[str]:
    """``name==version`` lines, sorted by name: the body of ``constraints.txt``.

    Example:
        >>> pin_lines({"numpy": "2.3.5", "keras": "3.12.0"})
        ['keras==3.12.0', 'numpy==2.3.5']
    """
    return [f"{name}=={pins[name]}" for name in sorted(pins)]


def pins_sha256(lines: list[str]) -> str:
    """SHA-256 of pin lines, each ended by a newline (comments and blank lines are not pins).

    Example:
        >>> pins_sha256(["keras==3.12.0", "numpy==2.3.5"])[:12]
        '1291d326a434'
    """
    return hashlib.sha256("".join(f"{line}\n" for line in lines).encode()).hexdigest()


def constraints_sha256(text: str) -> str:
    """:func:`pins_sha256` of a constraints file's pins (its comment and blank lines skipped).

    Example:
        >>> constraints_sha256("# tested versions\\nkeras==3.12.0\\n\\nnumpy==2.3.5\\n") == pins_sha256(
        ...     ["keras==3.12.0", "numpy==2.3.5"])
        True
    """
    lines = [line.strip() for line in text.splitlines()]
    return pins_sha256([line for line in lines if line and not line.startswith("#")])


@functools.cache
def environment_pins() -> tuple[str, int] | None:
    """(SHA-256, package count) of this environment's installed closure of ``asl-recog[every extra]``,
    or None when asl-recog is not installed as a distribution (a bare checkout on ``sys.path``).

    Example:
        >>> sha, count = environment_pins()
        >>> len(sha), count > 50
        (64, True)
    """
    try:
        lines = pin_lines(installed_pins())
    except metadata.PackageNotFoundError:
        return None
    return pins_sha256(lines), len(lines)


__all__ = ["EXTRAS", "ROOT", "constraints_sha256", "environment_pins", "installed_pins", "pin_lines", "pins_sha256"]
