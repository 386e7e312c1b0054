"""``asl-recog info MODEL.onnx``: the model card, built from the ONNX file alone.

The card comes from the run record the file carries (its checksum verified), so it says
what ``MODEL_CARD.md`` beside the file says; a file exported before records existed, or by
another tool, gives a card of what its metadata says, the rest "not known".
"""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLE = "asl-recog info runs/demo/best.onnx"


def add_info_arguments(p: argparse.ArgumentParser) -> None:
    """The ``info`` command's flags."""
    p.add_argument("model", metavar="MODEL", help="an .onnx file")


def cmd_info(args: argparse.Namespace) -> int:
    """Print the card of the model's run record."""
    from asl_recog.models._model_card import model_card
    from asl_recog.models._record import RunRecord

    print(model_card(RunRecord.from_onnx(args.model), Path(args.model).name), end="")
    return 0


__all__ = ["EXAMPLE", "add_info_arguments", "cmd_info"]
