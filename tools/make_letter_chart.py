"""Write the web page's reference picture of the 24 letters: asl_recog/serving/_static/letters.png.

One typical training image per letter: the image closest (Euclidean, in pixels) to its
letter's mean image. The mean itself is a blur of many hands; the image nearest to it
is a real hand in the most common pose, which is what a learner should copy.

It is made once at build time and committed (the picture changes only when the training
data does), so the server does no work for it at start-up:

    python tools/make_letter_chart.py            # rewrites the PNG
    python tools/make_letter_chart.py --check    # exit 1 if the committed PNG is out of date
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

import asl_recog as asl
from asl_recog.data._labels import LABELS, LETTERS

OUTPUT = Path(__file__).resolve().parents[1] / "asl_recog" / "serving" / "_static" / "letters.png"
COLUMNS, SCALE, LABEL_BAND = 6, 3, 22


def typical_images(data: asl.SignMnistDataset) -> np.ndarray:
    """(24, 28, 28): per letter, in alphabet order, the training image nearest to the letter's mean."""
    out = []
    for label in LABELS:
        images = data.images[data.labels == label].astype(np.float64)
        distances = ((images - images.mean(axis=0)) ** 2).sum(axis=(1, 2))
        out.append(images[int(np.argmin(distances))].astype(np.uint8))
    return np.stack(out)


def chart(images: np.ndarray) -> bytes:
    """The PNG: a grid of the enlarged images, each with its letter underneath."""
    side = 28 * SCALE
    rows = -(-len(images) // COLUMNS)
    sheet = Image.new("L", (COLUMNS * side, rows * (side + LABEL_BAND)), 255)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=18)
    for k, (image, letter) in enumerate(zip(images, LETTERS, strict=True)):
        x, y = (k % COLUMNS) * side, (k // COLUMNS) * (side + LABEL_BAND)
        sheet.paste(Image.fromarray(image, "L").resize((side, side), Image.Resampling.NEAREST), (x, y))
        draw.text((x + side // 2, y + side + LABEL_BAND // 2), letter, fill=0, font=font, anchor="mm")
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare with the committed file")
    args = parser.parse_args()
    png = chart(typical_images(asl.load_sign_mnist("train")))
    if args.check:
        same = OUTPUT.exists() and OUTPUT.read_bytes() == png
        print(f"{OUTPUT}: {'up to date' if same else 'out of date; run python tools/make_letter_chart.py'}")
        return 0 if same else 1
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_bytes(png)
    print(f"wrote {OUTPUT} ({len(png):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
