"""``asl-recog fine-tune MODEL FOLDER --out PATH``: a CNN fine-tuned on a person's own labelled photos."""

from __future__ import annotations

import argparse
from pathlib import Path

from asl_recog._errors import ConfigurationError, DataNotFoundError
from asl_recog.data._dataset import load_sign_mnist

EXAMPLE = "asl-recog fine-tune runs/demo/hyperdrive/refit/model.keras my-photos/ --out runs/mine.onnx"


def add_fine_tune_arguments(p: argparse.ArgumentParser) -> None:
    """The ``fine-tune`` command's flags."""
    p.add_argument("model", help="the trained CNN to start from (a .keras file, e.g. the HyperDrive route's)")
    p.add_argument("folder", help="labelled photos in letter sub-folders (A/, B/, ...), PNG or JPEG")
    p.add_argument(
        "--out",
        required=True,
        help="where to write the tuned model: .onnx (exported with a parity check and its new 'unknown' "
        "threshold; the .keras file is written beside it) or .keras",
    )
    p.add_argument("--epochs", type=int, default=16, help="passes over 4,096 rows, half of them your photos")
    p.add_argument(
        "--learning-rate",
        type=float,
        default=None,
        help="Adam's starting rate, decayed to 0 along a cosine (default: fine_tune's LEARNING_RATE)",
    )
    p.add_argument("--seed", type=int, default=0, help="the same seed gives the same network")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (the log lines stay)")


def cmd_fine_tune(args: argparse.Namespace) -> int:
    """Fine-tune, then write the model and say what it kept of Sign Language MNIST."""
    from asl_recog.models._base import KerasModel
    from asl_recog.models._export import export_onnx
    from asl_recog.routes.hyperdrive._fine_tune import fine_tune

    out = Path(args.out)
    if out.suffix not in (".onnx", ".keras"):
        raise ConfigurationError(f"--out {args.out}: give a path ending in .onnx or .keras")
    folder = Path(args.folder)
    if not folder.is_dir():
        raise DataNotFoundError(
            f"{folder}: no such folder; give a folder of photos in letter sub-folders (A/, B/, ...)"
        )
    photos = load_sign_mnist("test", path=folder)  # the split name only chooses a file in a CSV folder
    rate = {} if args.learning_rate is None else {"learning_rate": args.learning_rate}
    tuned: KerasModel = fine_tune(
        args.model, photos, epochs=args.epochs, seed=args.seed, progress=not args.no_progress, **rate
    )
    keras_path = tuned.save(out.with_suffix(".keras"))
    facts = tuned.info["fine_tuned"]
    print(f"fine-tuned on {facts['images']:,} photos of {len(facts['letters'])} letters in {facts['seconds']:.0f} s")
    print(
        f"test-file accuracy {facts['test_accuracy_before']:.4f} -> {facts['test_accuracy_after']:.4f} "
        f"({'kept' if facts['kept_within'] else 'NOT kept'} within 0.5 points; measured by the Comparator, "
        "used for nothing else)"
    )
    print(f"wrote {keras_path}")
    if out.suffix == ".onnx":
        export_onnx(tuned, out, parity_data=photos[:256], metadata=tuned.info["unknown"])
        print(f"wrote {out} ('unknown' below {facts['unknown_threshold']:g}; parity checked on your photos)")
    return 0


__all__ = ["EXAMPLE", "add_fine_tune_arguments", "cmd_fine_tune"]
