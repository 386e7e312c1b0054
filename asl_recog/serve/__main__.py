"""Deprecated: ``python -m asl_recog.serve`` runs ``python -m asl_recog.serving``."""

from __future__ import annotations

from asl_recog.serving.__main__ import main

if __name__ == "__main__":
    main()
