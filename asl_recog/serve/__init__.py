"""Deprecated alias of :mod:`asl_recog.serving` (renamed in 0.2.0); removed in 0.4.0.

``from asl_recog.serve import create_app`` and ``python -m asl_recog.serve`` keep
working with a :class:`FutureWarning`; use ``asl_recog.serving`` instead.
"""

from __future__ import annotations

from asl_recog._deprecation import warn_renamed
from asl_recog.serving import create_app, run

warn_renamed("asl_recog.serve", "asl_recog.serving")

__all__ = ["create_app", "run"]
