"""The asl-recog command line, its config files and the main job (asl-recog run)."""

from __future__ import annotations

from asl_recog.cli._main import build_parser, main

__all__ = ["build_parser", "main"]
