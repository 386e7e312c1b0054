"""``asl-recog explain --model M IMAGE --out heat.png``: which parts of a photo a model's answer rests on.

The photo is read as ``predict`` and the scoring service read it (the hand's square, else the
centre square, shrunk to 28x28), then explained by occlusion sensitivity
(:func:`asl_recog.explain`): the figure shows the image and, over it, how much the answer's
probability drops when each part is greyed out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from asl_recog._errors import ConfigurationError

EXAMPLE = "asl-recog explain --model runs/demo/best.onnx photo.jpg --out heat.png"


def add_explain_arguments(p: argparse.ArgumentParser) -> None:
    """The ``explain`` command's flags."""
    p.add_argument("image", metavar="IMAGE", help="a PNG or JPEG photo (any size; read as predict reads it)")
    p.add_argument("--model", required=True, help=".onnx, .keras or .aslskl model")
    p.add_argument("--out", required=True, help="the PNG to write: the image and its sensitivity map")
    p.add_argument("--letter", default=None, help="explain this letter's probability (default: the model's answer)")
    p.add_argument("--patch", type=int, default=4, help="side of the grey square slid over the image, pixels (2-14)")
    p.add_argument("--stride", type=int, default=2, help="step between squares, pixels (1 to --patch)")
    p.add_argument(
        "--no-find-hand",
        action="store_true",
        help="read the photo's centre square instead of the square around the hand found in it",
    )


def cmd_explain(args: argparse.Namespace) -> int:
    """Explain the model's answer for the photo; write the figure; print the letter and the file."""
    from asl_recog.data._inputs import photos_to_pixels
    from asl_recog.evaluation._explain import explain
    from asl_recog.models._base import Model

    path = Path(args.image)
    if not path.is_file():
        raise ConfigurationError(f"{args.image}: no such file")
    pixels = photos_to_pixels(path, find_hand=not args.no_find_hand)
    if pixels is None:  # a path is always a photo to photos_to_pixels; this keeps mypy and readers sure
        raise ConfigurationError(f"{args.image}: not a photo")
    model = Model.load(args.model)  # after the image: a typo in its path fails before the model loads
    try:
        explanation = explain(model, pixels[0], letter=args.letter, patch=args.patch, stride=args.stride)
    except ConfigurationError as exc:  # name the flags, not the Python arguments
        raise ConfigurationError(f"--letter/--patch/--stride: {exc}") from exc
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    explanation.plot().savefig(out, format="png", dpi=120)
    print(f"{path}: {explanation.letter} ({explanation.probability:.4f}); map written to {out}")
    return 0


__all__ = ["EXAMPLE", "add_explain_arguments", "cmd_explain"]
