"""Saved models on real photos of people beside the test file (issue 32): top-1, top-3, refusals, per letter.

Reads the photo folder (letter sub-folders) as an evaluation set only; by default the Massey
photos of five people in ``../shared/datasets/massey-asl-photos`` (see its README; never
copied into the project). Each model is scored by the Comparator, the one reader of the test
file, with its stored "unknown" threshold: a refused photo counts as wrong in top-1.

Usage:
    python bench/bench_photos.py cnn=runs/demo/hyperdrive/model.onnx automl=runs/demo/automl/model.onnx
    python bench/bench_photos.py cnn=a.onnx --images ../shared/datasets/massey-asl-photos other/photos
Prints one Markdown row per (model, photo set), then the weakest letters of each.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import asl_recog as asl
from asl_recog._console import configure_logging

MASSEY = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "massey-asl-photos"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("models", nargs="+", metavar="NAME=PATH", help="saved models (.onnx, .keras, .aslskl)")
    parser.add_argument("--images", nargs="+", default=[str(MASSEY)], metavar="FOLDER", help="photo folders")
    args = parser.parse_args()
    configure_logging(-1)
    models = {name: asl.Model.load(path) for name, path in (item.split("=", 1) for item in args.models)}
    photos = {Path(folder).resolve().name: asl.load_sign_mnist("test", folder) for folder in args.images}
    result = asl.Comparator(models, measure_speed=False).evaluate(asl.load_sign_mnist("test"), photos=photos)
    print(
        "| model | test accuracy | photo set | photos | top-1 | top-3 | answered | top-1 of answered "
        "| top-1, no threshold | threshold |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in models:
        for r in result.photos[name].values():
            ungated = r.top1_every_photo
            threshold = "-" if r.threshold is None else f"{r.threshold:.3f}"
            print(
                f"| {name} | {result.summary.loc[name, 'accuracy']:.4f} | {r.name} | {r.n_images:,} | {r.top1:.3f} "
                f"| {r.top3:.3f} | {r.answered:.3f} | {r.accuracy_answered:.3f} | {ungated:.3f} | {threshold} |"
            )
    print()
    for name in models:
        for r in result.photos[name].values():
            weakest = r.per_letter.sort_values().head(8)
            print(f"- {name} on {r.name}, weakest letters: " + ", ".join(f"{k} {v:.2f}" for k, v in weakest.items()))


if __name__ == "__main__":
    main()
