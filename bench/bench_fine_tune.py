"""Fine-tuning on real photos, leave one person out (issue 32, part 4): top-1 on a person no photo came from.

The Massey photos (``../shared/datasets/massey-asl-photos``, five people ``hand1``-``hand5``;
see its README) are an evaluation set; this grouped use is the one training use allowed: for
each person, ``fine_tune`` the CNN on K photos per letter drawn from the other four, then score
every photo of the held-out person. The mean over the five people is the figure. Beside it: the
same person's zero-shot top-1, the fine-tune's seconds, and the test-file accuracy before and
after (``info["fine_tuned"]``: fine_tune has the Comparator, the one reader of the test file,
score both networks).

Usage:
    python bench/bench_fine_tune.py runs/demo/hyperdrive/best.keras --per-letter 5 10 20
Prints a Markdown table: one row per K, then one per (K, person), then top-1 per letter over the
five held-out people, zero-shot and after each K's fine-tunes.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np

import asl_recog as asl
from asl_recog._console import configure_logging
from asl_recog.data._images import IMAGE_SUFFIXES
from asl_recog.data._labels import LETTERS
from asl_recog.routes.hyperdrive._fine_tune import EPOCHS, LEARNING_RATE

MASSEY = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "massey-asl-photos"


def people_of(folder: Path) -> np.ndarray:
    """The person (``hand1``...) of each photo, in the order ``load_sign_mnist(path=folder)`` reads them."""
    names = [
        file.name
        for child in sorted(folder.iterdir())
        if child.is_dir()
        for file in sorted(child.iterdir())
        if file.suffix.lower() in IMAGE_SUFFIXES
    ]
    return np.array([name.split("_", 1)[0] for name in names])


def pick(data: asl.SignMnistDataset, rows: np.ndarray, per_letter: int, rng: np.random.Generator) -> np.ndarray:
    """``per_letter`` rows of each letter among ``rows`` (all of a letter's when it has fewer)."""
    chosen = []
    for label in np.unique(data.labels[rows]):
        mine = rows[data.labels[rows] == label]
        chosen.append(rng.choice(mine, min(per_letter, len(mine)), replace=False))
    return np.sort(np.concatenate(chosen))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("model", help="the CNN to start from (.keras)")
    parser.add_argument("--images", default=str(MASSEY), help="photo folder with letter sub-folders")
    parser.add_argument("--per-letter", nargs="+", type=int, default=[5, 10, 20])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--learning-rate", type=float, default=LEARNING_RATE, help="fine_tune's starting rate")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    configure_logging(-1)
    folder = Path(args.images)
    photos = asl.load_sign_mnist("test", path=folder)
    people = people_of(folder)
    assert len(people) == len(photos), (len(people), len(photos))
    start = asl.KerasModel.load(args.model)
    rows: list[dict[str, object]] = []
    # The start's figures on each person, scored once: they are the same at every K.
    start_scored = {p: asl.evaluate_photos(start, photos[np.flatnonzero(people == p)], p) for p in sorted(set(people))}
    zero_shot = {p: r.top1 for p, r in start_scored.items()}
    # Per letter over the held-out people, zero-shot (0) and after each K's fine-tunes: the summed
    # confusion matrices (true letter x answer; no threshold, so the diagonal counts the right answers).
    confusion = {0: sum(r.confusion for r in start_scored.values())}
    for k in args.per_letter:
        # Drawn from (seed, K), so a K's photos are the same whichever other Ks run beside it (one
        # generator for every K made `--per-letter 10` and `--per-letter 5 10 20` draw different photos).
        rng = np.random.default_rng([args.seed, k])
        for person in sorted(set(people)):
            held = np.flatnonzero(people == person)
            tune_rows = pick(photos, np.flatnonzero(people != person), k, rng)
            began = time.perf_counter()
            tuned = asl.fine_tune(
                start,
                photos[tune_rows],
                epochs=args.epochs,
                seed=args.seed,
                progress=False,
                learning_rate=args.learning_rate,
            )
            seconds = time.perf_counter() - began
            facts = tuned.info["fine_tuned"]
            scored = asl.evaluate_photos(tuned, photos[held], person)
            confusion[k] = confusion.get(k, 0) + scored.confusion
            rows.append(
                {
                    "k": k,
                    "person": person,
                    "tuned_on": len(tune_rows),
                    "zero_shot": zero_shot[person],
                    "top1": scored.top1,
                    "top3": scored.top3,
                    "seconds": seconds,
                    "fit_seconds": facts["seconds"],
                    "before": facts["test_accuracy_before"],
                    "after": facts["test_accuracy_after"],
                    "kept": facts["kept_within"],
                }
            )
            print(rows[-1], flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"\nstarting model: test accuracy {rows[0]['before']:.4f}; peak RSS {peak:.2f} GiB\n")
    print(
        "| photos per letter | mean top-1 (5 people) | mean top-3 | zero-shot top-1 | fine-tune s (median) "
        "| test accuracy after (min-max) | kept within 0.5 points |"
    )
    print("|---|---|---|---|---|---|---|")
    for k in args.per_letter:
        mine = [r for r in rows if r["k"] == k]
        after = [float(r["after"]) for r in mine]  # type: ignore[arg-type]
        kept = sum(bool(r["kept"]) for r in mine)  # fine_tune's own verdict (MAX_RETENTION_DROP)
        print(
            f"| {k} | {np.mean([r['top1'] for r in mine]):.3f} | {np.mean([r['top3'] for r in mine]):.3f} "
            f"| {np.mean([r['zero_shot'] for r in mine]):.3f} | {np.median([r['fit_seconds'] for r in mine]):.0f} "
            f"| {min(after):.4f}-{max(after):.4f} | {kept} of {len(mine)} |"
        )
    print("\n| photos per letter | person | tuned on | zero-shot top-1 | top-1 | top-3 | fine-tune s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['k']} | {r['person']} | {r['tuned_on']} | {r['zero_shot']:.3f} | {r['top1']:.3f} "
            f"| {r['top3']:.3f} | {r['fit_seconds']:.0f} |"
        )
    print("\n| letter | zero-shot | " + " | ".join(f"after {k} per letter" for k in args.per_letter) + " |")
    print("|---|---|" + "---|" * len(args.per_letter))
    for letter in np.flatnonzero(confusion[0].sum(axis=1)):  # the letters the photos hold
        cells = " | ".join(
            f"{confusion[k][letter, letter] / confusion[k][letter].sum():.2f}" for k in [0, *args.per_letter]
        )
        print(f"| {LETTERS[letter]} | {cells} |")


if __name__ == "__main__":
    main()
