"""``asl-recog evaluate MODEL``: one saved model on the held-out test file, and off it (``--corruptions``,
``--images`` for folders of real photos)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from asl_recog._errors import DataNotFoundError
from asl_recog.data._dataset import SignMnistDataset, load_sign_mnist
from asl_recog.evaluation._compare import Comparator
from asl_recog.evaluation._corruptions import CORRUPTIONS
from asl_recog.evaluation._photos import PhotoResult
from asl_recog.evaluation._robustness import CorruptionSuite, RobustnessResult

EXAMPLE = (
    "asl-recog evaluate runs/demo/best.onnx --corruptions --report runs/demo/robustness\n"
    "  asl-recog evaluate runs/demo/best.onnx --images ../shared/datasets/massey-asl-photos --report runs/photos"
)


def add_evaluate_arguments(p: argparse.ArgumentParser) -> None:
    """The ``evaluate`` command's flags."""
    p.add_argument("model", help=".onnx, .keras or .aslskl model (an exported .onnx carries its 'unknown' threshold)")
    p.add_argument("--test", default=None, help="test data (default: the bundled sign_mnist_test)")
    p.add_argument(
        "--corruptions",
        nargs="*",
        default=None,
        metavar="NAME",
        help="also measure accuracy under the corruption suite (all of it, or the NAMEs given: "
        f"{', '.join(CORRUPTIONS)}); 'unknown' answers count as wrong",
    )
    p.add_argument(
        "--max-images",
        type=int,
        default=1000,
        help="corrupt a fixed subsample of this many test images (default 1000; 0 for all)",
    )
    p.add_argument("--seed", type=int, default=0, help="the subsample's and the corruptions' random draws")
    p.add_argument(
        "--images",
        nargs="+",
        default=None,
        metavar="FOLDER",
        help="also score folders of real photos in letter sub-folders (A/, B/, ...): top-1 (an 'unknown' answer "
        "counts as wrong), top-3, per letter and the share answered; with --report, a confusion matrix each",
    )
    p.add_argument("--report", default=None, help="folder for report.md, report.html and plots (with the heatmap)")
    p.add_argument("--json", default=None, help="also write the figures as JSON here")


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score the model with the Comparator (the one reader of the test file) and print what it found."""
    name = Path(args.model).stem
    suite = None
    if args.corruptions is not None:
        suite = CorruptionSuite(args.corruptions or None, max_images=args.max_images or None, seed=args.seed)
    photos = _photo_sets(args.images)  # first: a wrong folder is told before the test file is read
    test = load_sign_mnist("test", args.test)
    result = Comparator({name: args.model}, measure_speed=False).evaluate(test, corruptions=suite, photos=photos)
    row = result.summary.astype({"accuracy": float, "accuracy_ci_low": float, "accuracy_ci_high": float}).loc[name]
    print(
        f"{args.model}: test accuracy {row['accuracy']:.4f} (95% CI {row['accuracy_ci_low']:.4f}-"
        f"{row['accuracy_ci_high']:.4f}) on {result.n_test:,} images of {result.test_source}; "
        f"{int(row['photos_misread'])} of {int(row['photos'])} source photos misread (95% CI over photos "
        f"{row['photo_accuracy_ci_low']:.4f}-{row['photo_accuracy_ci_high']:.4f})"
    )
    figures: dict[str, object] = {
        "model": args.model,
        "test_accuracy": round(float(result.summary["accuracy"].astype(float)[name]), 4),
        "test_photos_misread": [int(row["photos_misread"]), int(row["photos"])],
    }
    robustness = result.robustness.get(name)
    if robustness is not None:
        _print_robustness(robustness)
        figures["corruptions"] = robustness.as_dict()
        figures["table"] = robustness.table.round(4).to_dict(orient="records")
    for r in result.photos.get(name, {}).values():
        _print_photos(r)
    if photos:
        figures["photos"] = {r.name: r.as_dict() for r in result.photos[name].values()}
    if args.report:
        print(f"report: {result.report(args.report) / 'report.md'}")
    elif photos:
        print("add --report DIR for each photo set's confusion matrix")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
        print(f"figures: {args.json}")
    return 0


def _photo_sets(folders: list[str] | None) -> dict[str, SignMnistDataset] | None:
    """Each folder read as a photo set, named by the folder (``massey-asl-photos``; a repeated name gets ``-2``)."""
    if folders is None:
        return None
    sets: dict[str, SignMnistDataset] = {}
    for folder in folders:
        if not Path(folder).is_dir():
            raise DataNotFoundError(
                f"--images {folder}: no such folder; give a folder of photos in letter sub-folders (A/, B/, ...)"
            )
        stem = Path(folder).resolve().name or "photos"
        key, n = stem, 2
        while key in sets:
            key, n = f"{stem}-{n}", n + 1
        sets[key] = load_sign_mnist("test", folder)
    return sets


def _print_photos(r: PhotoResult) -> None:
    refusals = "" if r.threshold is None else f", 'unknown' below {r.threshold:g} counted wrong"
    print(f"\n{r.name}: {r.n_images:,} photos of {r.source}{refusals}")
    answered = f"{r.accuracy_answered:.4f}" if r.answered > 0 else "-"
    every = "" if r.threshold is None else f" ({r.top1_every_photo:.4f} had every photo been answered)"
    print(
        f"top-1 {r.top1:.4f}{every}, top-3 {r.top3:.4f}; answered {r.answered:.1%} of the photos, "
        f"top-1 on those {answered}"
    )
    if r.no_hand:
        refused = "refused as 'no hand found'" if r.threshold is not None else "read from their centre square"
        print(f"no hand found in {r.no_hand:.1%} of the photos: {refused}")
    print("per letter (top-1): " + ", ".join(f"{k} {v:.2f}" for k, v in r.per_letter.items()))


def _print_robustness(r: RobustnessResult) -> None:
    refusals = "" if r.threshold is None else f"; 'unknown' below {r.threshold:g} counts as wrong"
    print(f"\ncorruptions on {r.n_images:,} test images (seed {r.seed}{refusals}):")
    wide = r.table.pivot_table(index="corruption", columns="severity", values="accuracy", sort=False)
    wide.columns = [f"severity {c}" for c in wide.columns]
    wide.insert(0, "family", r.table.drop_duplicates("corruption").set_index("corruption")["family"])
    wide["mean"] = r.per_corruption
    print(wide.to_string(float_format=lambda v: f"{v:.3f}", na_rep="-"))
    print("\nper family: " + ", ".join(f"{k} {v:.3f}" for k, v in r.per_family.items()))
    print(
        f"clean accuracy {r.clean_accuracy:.4f} on the same images; mean corruption accuracy (mCA) "
        f"{r.mca:.4f} (95% CI {r.mca_ci[0]:.4f}-{r.mca_ci[1]:.4f})"
    )


__all__ = ["EXAMPLE", "add_evaluate_arguments", "cmd_evaluate"]
