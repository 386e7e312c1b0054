"""``asl-recog check MODEL.onnx``: is the file sound? The ONNX checker, the checksum, the test data set.

Exit 0 with a one-line verdict; 1 with each thing that differs, one per line.
"""

from __future__ import annotations

import argparse
import sys

EXAMPLE = "asl-recog check runs/demo/best.onnx"


def add_check_arguments(p: argparse.ArgumentParser) -> None:
    """The ``check`` command's flags."""
    p.add_argument("model", metavar="MODEL", help="an .onnx file written by asl-recog export or asl-recog run")


def cmd_check(args: argparse.Namespace) -> int:
    """Check the file; print the verdict (0) or what differs (1)."""
    from asl_recog.models._onnx_check import check_onnx_file

    result = check_onnx_file(args.model)
    if result.ok:
        print(result.verdict)
        return 0
    print(f"{args.model}: check failed:", file=sys.stderr)
    for problem in result.problems:
        print(f"  {problem}", file=sys.stderr)
    return 1


__all__ = ["EXAMPLE", "add_check_arguments", "cmd_check"]
