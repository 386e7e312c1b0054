"""Training for the transfer (issue 32, part 3): the default network per transfer_share and normalize.

One fit per setting on the grouped split's training part (no search, no refit):
``train_network(build_default, {"epochs": E, "transfer_share": t, "normalize": n}, ...,
defaults=DEFAULTS["default"])``, so the rest is the default recipe (cosine decay, robust
augmentation at 0.75 on half of each batch). Then, per setting: the clean and the corrupted
validation accuracy (what robust selection ranks by: issue 26's fixed corrupted copy), the
test-file accuracy, and top-1/top-3 on a photo folder, by default the Massey photos of five
people (``../shared/datasets/massey-asl-photos``, read through the hand detector). The photos
only report the effect: nothing here chooses anything on them.

Usage:
    python bench/bench_transfer.py --epochs 6 --transfer 0 0.3 --normalize 0 1
Prints one Markdown row per setting as it finishes.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import asl_recog as asl
from asl_recog._console import configure_logging
from asl_recog.data._labels import labels_to_indices
from asl_recog.models._base import KerasModel, network_proba
from asl_recog.routes.hyperdrive._augmented import with_corrupted_copy
from asl_recog.routes.hyperdrive._builders import DEFAULTS, build_default
from asl_recog.routes.hyperdrive._training import train_network

MASSEY = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "massey-asl-photos"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--epochs", type=int, nargs="+", default=[6])
    parser.add_argument("--transfer", type=float, nargs="+", default=[0.0, 0.3], help="transfer_share values")
    parser.add_argument("--normalize", type=int, nargs="+", default=[0, 1], help="0/1: per-image normalisation")
    parser.add_argument("--shares", type=float, nargs="+", default=[0.5], help="robust_share values")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--images", default=str(MASSEY), metavar="FOLDER", help="photo folder (letter sub-folders)")
    parser.add_argument("--save", metavar="DIR", help="save each network here as NAME.keras")
    args = parser.parse_args()
    configure_logging(-1)
    fit, validation = asl.train_validation_split(asl.load_sign_mnist("train"), seed=0)
    x, y = fit.float_images, labels_to_indices(fit.labels)
    clean = (validation.float_images, labels_to_indices(validation.labels))
    mixed = with_corrupted_copy(clean)
    test = asl.load_sign_mnist("test")
    photos = asl.load_sign_mnist("test", args.images)
    print(f"seed {args.seed}; photos: {args.images} ({len(photos):,})")
    print(
        "| epochs | transfer_share | normalize | robust_share | clean validation | corrupted validation "
        "| test accuracy | photos top-1 | photos top-3 | fit s |"
    )
    print("|---:" * 10 + "|")
    for epochs, transfer, normalize, share in itertools.product(
        args.epochs, args.transfer, args.normalize, args.shares
    ):
        params = {"epochs": epochs, "transfer_share": transfer, "normalize": bool(normalize), "robust_share": share}
        start = time.perf_counter()
        network, _, _ = train_network(build_default, params, (x, y), None, seed=args.seed, defaults=DEFAULTS["default"])
        seconds = time.perf_counter() - start
        model = KerasModel(network, params, {})
        n = len(clean[1])
        right = network_proba(network, mixed[0]).argmax(axis=1) == mixed[1]
        result = asl.evaluate_photos(model, photos, "photos")
        print(
            f"| {epochs} | {transfer:g} | {normalize} | {share:g} | {right[:n].mean():.4f} | {right[n:].mean():.4f} "
            f"| {model.score(test):.4f} | {result.top1:.3f} | {result.top3:.3f} | {seconds:.0f} |",
            flush=True,
        )
        if args.save:
            model.save(Path(args.save) / f"e{epochs}-t{transfer:g}-n{normalize}-s{share:g}.keras")


if __name__ == "__main__":
    main()
