"""The library's version, in a module of its own.

Modules that stamp the version on what they write (ONNX metadata, Azure tags, the service's
``/info``) import it from here rather than from the package root, so they do not import
``asl_recog/__init__.py`` for one string; the packaging config reads it from here too
(``[tool.setuptools.dynamic]`` in ``pyproject.toml``).

Example:
    >>> from asl_recog._version import __version__
    >>> import asl_recog
    >>> asl_recog.__version__ == __version__
    True
"""

from __future__ import annotations

__version__ = "0.1.0"
