"""The hand detector in the image path (issue 32): how often it finds the hand, what it costs, what it changes.

1. Found: on every Massey photo (``../shared/datasets/massey-asl-photos``: 1,675 photos of five
   people, hands cropped tight on black; read where they are, never copied), the share in which
   ``image_to_array`` finds a hand, and what the second look inside a black border adds (the
   palm detector misses hands that fill the frame): no second look, a border of 0.25, of 0.5
   (the shipped ``RETRY_BORDER``).
2. Cost: milliseconds that finding the hand adds to ``image_to_array`` for a 640x480 JPEG,
   median and p90 (the fastest of 3 runs of each photo, with and without ``find_hand``), on
   "scenes" (a Massey hand pasted at a random place and size onto a 640x480 crop of one of the
   sample photos that scikit-image and scikit-learn ship, benchmark half) and on those sample
   photos alone (no hand: they pay the second look).
3. Accuracy (with ``--model``): top-1 and top-3 of a saved model on the Massey photos and on
   the scenes, read with and without the hand crop (``load_sign_mnist(folder, find_hand=...)``),
   without and with the model's stored "unknown" threshold (a refusal counts as wrong in top-1).

The scenes are written to a temporary folder and deleted afterwards. Usage:
    python bench/bench_hands.py                                 # found share and cost
    python bench/bench_hands.py --model runs/<run>/best.onnx    # and top-1/top-3 with and without the crop
    python bench/bench_hands.py --accuracy-only --model quick=a.onnx full=b.keras   # several models, no timing
Prints Markdown. The machine may be shared with other work: the milliseconds are of this run.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from PIL import Image, ImageFilter

import asl_recog as asl
from asl_recog._console import configure_logging
from asl_recog.data import _hands
from asl_recog.data._images import read_image
from asl_recog.data._photos import photos
from asl_recog.evaluation._robustness import unknown_threshold

MASSEY = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "massey-asl-photos"
SCENE = (640, 480)


def _massey_paths() -> list[Path]:
    return sorted(p for folder in sorted(MASSEY.iterdir()) if folder.is_dir() for p in sorted(folder.iterdir()))


def found_share(paths: list[Path]) -> dict[str, float]:
    """Share of photos with a hand found: the library's path, and the detector with each second look."""
    first = border25 = border50 = library = 0
    for path in paths:
        with Image.open(path) as img:
            rgb = img.convert("RGB")
        if _hands.palms(rgb):
            first += 1
            border25 += 1
            border50 += 1
        else:
            border25 += bool(_hands.palms(rgb, border=0.25))
            border50 += bool(_hands.palms(rgb, border=0.5))
        library += read_image(path)[1] is not None
    n = len(paths)
    return {"one look": first / n, "+ border 0.25": border25 / n, "+ border 0.5": border50 / n, "library": library / n}


def _backgrounds() -> list[Image.Image]:
    """The benchmark half of the sample photos as RGB, each cut and scaled to cover 640x480."""
    import skimage.data
    from sklearn.datasets import load_sample_image

    out = []
    for photo in photos("benchmark"):
        jpg = photo.name.endswith(".jpg")  # scikit-learn's two photos; the others are scikit-image's
        pixels = load_sample_image(photo.name) if jpg else getattr(skimage.data, photo.name)()
        image = Image.fromarray(np.asarray(pixels, dtype=np.uint8)).convert("RGB")
        scale = max(SCENE[0] / image.width, SCENE[1] / image.height)
        image = image.resize(
            (math.ceil(image.width * scale), math.ceil(image.height * scale)), Image.Resampling.LANCZOS
        )
        left, top = (image.width - SCENE[0]) // 2, (image.height - SCENE[1]) // 2
        out.append(image.crop((left, top, left + SCENE[0], top + SCENE[1])))
    return out


def scene(path: Path, backgrounds: list[Image.Image], rng: np.random.Generator) -> Image.Image:
    """The Massey hand of ``path`` on a background, 35-65 % of the height, at a random place."""
    with Image.open(path) as img:
        hand = img.convert("RGB")
    # The photos are segmented onto black: the hand is what is not (nearly) black. The mask is
    # shrunk by a pixel and softened so that no black fringe is pasted with it.
    mask = Image.fromarray(((np.asarray(hand).max(axis=2) > 30) * 255).astype(np.uint8))
    mask = mask.filter(ImageFilter.MinFilter(3)).filter(ImageFilter.GaussianBlur(1))
    side = int(rng.uniform(0.35, 0.65) * SCENE[1])
    hand, mask = hand.resize((side, side), Image.Resampling.LANCZOS), mask.resize((side, side))
    canvas = backgrounds[int(rng.integers(len(backgrounds)))].copy()
    canvas.paste(hand, (int(rng.integers(0, SCENE[0] - side)), int(rng.integers(0, SCENE[1] - side))), mask)
    return canvas


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def added_ms(photos_bytes: list[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per photo: the wall-clock and the CPU milliseconds ``find_hand`` adds (fastest of 3 each way; the
    session runs on the calling thread, so CPU time is what an otherwise idle core would take), and
    whether a hand was found."""
    wall, cpu, found = [], [], []
    for data in photos_bytes:
        times: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
        for _ in range(3):
            for find_hand in (False, True):
                start, start_cpu = time.perf_counter(), time.process_time()
                box = read_image(data, find_hand=find_hand)[1]
                times[find_hand].append((time.perf_counter() - start, time.process_time() - start_cpu))
        wall.append((min(t[0] for t in times[True]) - min(t[0] for t in times[False])) * 1000)
        cpu.append((min(t[1] for t in times[True]) - min(t[1] for t in times[False])) * 1000)
        found.append(box is not None)
    return np.array(wall), np.array(cpu), np.array(found)


def _row(name: str, wall: np.ndarray, cpu: np.ndarray) -> str:
    return (
        f"| {name} | {len(wall)} | {np.median(wall):.1f} | {np.percentile(wall, 90):.1f} "
        f"| {np.median(cpu):.1f} | {np.percentile(cpu, 90):.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--model",
        nargs="+",
        default=[],
        metavar="[NAME=]PATH",
        help="saved models (.onnx, .keras, .aslskl) for top-1/top-3 with and without the crop",
    )
    parser.add_argument(
        "--accuracy-only", action="store_true", help="skip the found share and the timing (needs --model)"
    )
    parser.add_argument("--timed", type=int, default=300, help="scenes timed (default 300)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--every", type=int, default=1, help="use every n-th Massey photo (default 1: all)")
    args = parser.parse_args()
    configure_logging(-1)
    if not MASSEY.is_dir():
        raise SystemExit(f"{MASSEY}: the Massey photos are not there (see its README for where they come from)")
    if args.accuracy_only and not args.model:
        parser.error("--accuracy-only needs --model")
    paths = _massey_paths()[:: args.every]
    rng = np.random.default_rng(args.seed)
    backgrounds = _backgrounds()
    scenes = [scene(path, backgrounds, rng) for path in paths]
    if not args.accuracy_only:
        found_and_cost(paths, scenes, backgrounds, rng, args.timed)
    if args.model:
        accuracy(dict(_named(item) for item in args.model), paths, scenes)


def found_and_cost(
    paths: list[Path], scenes: list[Image.Image], backgrounds: list[Image.Image], rng: np.random.Generator, timed: int
) -> None:
    """Parts 1 and 2: the found share on the Massey photos, and the milliseconds the hand crop adds."""
    _hands._load_session()  # the one-off session start is not a photo's cost
    start = time.perf_counter()
    shares = found_share(paths)
    print(f"## Found: a hand in the {len(paths):,} Massey photos ({time.perf_counter() - start:.0f} s)\n")
    print("| " + " | ".join(shares) + " |")
    print("|" + "---|" * len(shares))
    print("| " + " | ".join(f"{v:.1%}" for v in shares.values()) + " |\n")

    picks = rng.choice(len(scenes), min(timed, len(scenes)), replace=False)
    scene_wall, scene_cpu, scene_found = added_ms([_jpeg(scenes[i]) for i in picks])
    empty_wall, empty_cpu, empty_found = added_ms([_jpeg(b) for b in backgrounds] * 5)
    load = os.getloadavg()[0]
    print(f"## Cost: milliseconds added per {SCENE[0]}x{SCENE[1]} JPEG ({os.cpu_count()} cores, load {load:.1f})\n")
    print("| photos | n | median ms | p90 ms | median CPU ms | p90 CPU ms |\n|---|---|---|---|---|---|")
    print(_row("scenes, hand found", scene_wall[scene_found], scene_cpu[scene_found]))
    if (~scene_found).any():
        print(_row("scenes, no hand found (two looks)", scene_wall[~scene_found], scene_cpu[~scene_found]))
    print(_row("sample photos, no hand (two looks)", empty_wall[~empty_found], empty_cpu[~empty_found]))
    print(_row("all of the above", np.concatenate([scene_wall, empty_wall]), np.concatenate([scene_cpu, empty_cpu])))
    print(f"\nA hand was found in {scene_found.mean():.1%} of the timed scenes; the sample photos alone gave "
          f"{int(empty_found.sum())} false hands in {len(empty_found)} looks.\n")  # fmt: skip


def _named(item: str) -> tuple[str, str]:
    name, sep, path = item.partition("=")
    return (name, path) if sep else (item, item)


def accuracy(models: dict[str, str], paths: list[Path], scenes: list[Image.Image]) -> None:
    """Part 3: each model's top-1 and top-3 on the Massey photos and the scenes, centre and hand square."""
    print("| model | photo set | crop | photos | top-1 | top-3 | top-1 with threshold | answered | threshold |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="scenes-") as tmp:
        for path, image in zip(paths, scenes, strict=True):
            (Path(tmp) / path.parent.name).mkdir(exist_ok=True)
            image.save(Path(tmp) / path.parent.name / f"{path.stem}.jpg", quality=90)
        sets = {
            (name, find_hand): asl.load_sign_mnist("test", folder, find_hand=find_hand)
            for name, folder in (("massey", MASSEY), ("scenes", Path(tmp)))
            for find_hand in (False, True)
        }
    for label, model_path in models.items():
        model = asl.Model.load(model_path)
        threshold = unknown_threshold(model)
        for (name, find_hand), data in sets.items():
            plain = asl.evaluate_photos(model, data, name)
            gated = plain if threshold is None else asl.evaluate_photos(model, data, name, threshold=threshold)
            crop = "hand square" if find_hand else "centre square"
            print(
                f"| {label} | {name} | {crop} | {plain.n_images:,} | {plain.top1:.3f} | {plain.top3:.3f} "
                f"| {gated.top1:.3f} | {gated.answered:.3f} | {'-' if threshold is None else f'{threshold:.3f}'} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
