"""The image operations behind the corruption suite, on uint8 N x 28 x 28 arrays.

Each operation takes ``(images, level, rng)`` and returns new uint8 images of the same
shape; ``level`` is the corruption's parameter at one severity (pixels, degrees, a
factor), ``rng`` a seeded NumPy generator, so every result is reproducible. Resampling
is Pillow's and filtering SciPy's (SciPy comes with scikit-learn); what is written here
is only the choice of parameters per image.

Geometric changes fill the pixels they uncover with the median of the image's border:
a Sign Language MNIST tile is a crop with its own background, and a black or white
fill would add an edge that no camera makes.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from asl_recog.data._labels import IMAGE_SIZE

#: ``op(images, level, rng) -> images``.
Operation = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]

_CENTRE = IMAGE_SIZE / 2


def _border_fill(image: np.ndarray) -> int:
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    return int(np.median(border))


def _clip(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _signs(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.choice(np.array([-1.0, 1.0]), n)


def _affine(images: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """Apply one 2x3 affine map per image (output pixel -> input pixel, Pillow's convention)."""
    out = np.empty_like(images)
    for i, (image, m) in enumerate(zip(images, matrices, strict=True)):
        pil = Image.fromarray(image)
        out[i] = np.asarray(
            pil.transform(
                pil.size,
                Image.Transform.AFFINE,
                tuple(float(v) for v in m.ravel()),
                Image.Resampling.BILINEAR,
                fillcolor=_border_fill(image),
            )
        )
    return out


def _about_centre(linear: np.ndarray) -> np.ndarray:
    """The 2x3 map that applies the inverse of ``linear`` (2x2) about the image centre."""
    inverse = np.linalg.inv(linear)
    centre = np.array([_CENTRE, _CENTRE])
    return np.hstack([inverse, (centre - inverse @ centre)[:, None]])


def shift(images: np.ndarray, pixels: float, rng: np.random.Generator) -> np.ndarray:
    """Move each image ``pixels`` in a random direction (rounded to whole pixels)."""
    angles = rng.uniform(0, 2 * np.pi, len(images))
    dx, dy = np.rint(pixels * np.cos(angles)), np.rint(pixels * np.sin(angles))
    return _affine(images, np.stack([np.array([[1, 0, -x], [0, 1, -y]]) for x, y in zip(dx, dy, strict=True)]))


def rotate(images: np.ndarray, degrees: float, rng: np.random.Generator) -> np.ndarray:
    """Rotate each image by ``degrees``, clockwise or anticlockwise at random."""
    matrices = []
    for sign in _signs(rng, len(images)):
        t = np.deg2rad(sign * degrees)
        matrices.append(_about_centre(np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])))
    return _affine(images, np.stack(matrices))


def scale(images: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """Shrink (``factor`` < 1) or enlarge each image about its centre."""
    return _affine(images, np.stack([_about_centre(np.eye(2) * factor)] * len(images)))


def shear(images: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Shear each image horizontally by ``amount`` (x += amount * y), either way at random."""
    return _affine(
        images, np.stack([_about_centre(np.array([[1, s * amount], [0, 1]])) for s in _signs(rng, len(images))])
    )


def _perspective_coefficients(source: np.ndarray, target: np.ndarray) -> tuple[float, ...]:
    """Pillow's 8 perspective coefficients mapping output corners ``target`` to input corners ``source``."""
    rows = []
    for (x, y), (u, v) in zip(target, source, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    return tuple(float(c) for c in np.linalg.solve(np.array(rows, float), source.ravel()))


def perspective(images: np.ndarray, pixels: float, rng: np.random.Generator) -> np.ndarray:
    """Move each corner by up to ``pixels`` in x and y at random: the camera seen off-axis."""
    corners = np.array([[0, 0], [IMAGE_SIZE, 0], [IMAGE_SIZE, IMAGE_SIZE], [0, IMAGE_SIZE]], float)
    out = np.empty_like(images)
    for i, image in enumerate(images):
        moved = corners + rng.uniform(-pixels, pixels, corners.shape)
        pil = Image.fromarray(image)
        out[i] = np.asarray(
            pil.transform(
                pil.size,
                Image.Transform.PERSPECTIVE,
                _perspective_coefficients(moved, corners),
                Image.Resampling.BILINEAR,
                fillcolor=_border_fill(image),
            )
        )
    return out


def mirror(images: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    """Left and right swapped: the same letter signed with the other hand."""
    return np.ascontiguousarray(images[:, :, ::-1])


def brightness(images: np.ndarray, offset: float, rng: np.random.Generator) -> np.ndarray:
    """Add or subtract ``offset`` grey levels (at random per image)."""
    return _clip(images.astype(np.float64) + (_signs(rng, len(images)) * offset)[:, None, None])


def contrast(images: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """Scale each image's deviations from its mean by ``factor`` (< 1: flatter)."""
    x = images.astype(np.float64)
    mean = x.mean(axis=(1, 2), keepdims=True)
    return _clip((x - mean) * factor + mean)


def gamma(images: np.ndarray, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Raise intensities (0-1) to ``exponent`` or to its inverse, at random: under- or over-exposed midtones."""
    powers = np.where(_signs(rng, len(images)) > 0, exponent, 1 / exponent)[:, None, None]
    return _clip(255 * (images / 255.0) ** powers)


def gaussian_noise(images: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Add Gaussian pixel noise of standard deviation ``sigma`` grey levels."""
    return _clip(images + rng.normal(0, sigma, images.shape))


def shot_noise(images: np.ndarray, photons: float, rng: np.random.Generator) -> np.ndarray:
    """Poisson (photon) noise: white collects ``photons`` counts; fewer photons, more noise."""
    return _clip(rng.poisson(images / 255.0 * photons) * (255.0 / photons))


def salt_and_pepper(images: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """Set a ``share`` of the pixels to black or white, half each."""
    out = images.copy()
    hit = rng.random(images.shape) < share
    out[hit] = np.where(rng.random(int(hit.sum())) < 0.5, 0, 255).astype(np.uint8)
    return out


def gaussian_blur(images: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur of ``sigma`` pixels: the camera out of focus, smoothly."""
    return _clip(ndimage.gaussian_filter(images.astype(np.float64), sigma=(0, sigma, sigma), mode="nearest"))


def _convolve_each(images: np.ndarray, kernels: list[np.ndarray]) -> np.ndarray:
    x = images.astype(np.float64)
    return _clip(
        np.stack([ndimage.convolve(image, k / k.sum(), mode="nearest") for image, k in zip(x, kernels, strict=True)])
    )


def motion_blur(images: np.ndarray, length: float, rng: np.random.Generator) -> np.ndarray:
    """A straight streak of ``length`` pixels at a random angle: the hand or the camera moved."""
    size = int(np.ceil(length)) | 1
    kernels = []
    for angle in rng.uniform(0, np.pi, len(images)):
        kernel = Image.new("L", (size * 4, size * 4), 0)  # drawn 4x larger, then averaged down: an anti-aliased line
        half = (length * 4 - 1) / 2
        centre = size * 2 - 0.5
        dx, dy = half * np.cos(angle), half * np.sin(angle)
        ImageDraw.Draw(kernel).line([(centre - dx, centre - dy), (centre + dx, centre + dy)], fill=255, width=4)
        kernels.append(np.asarray(kernel.resize((size, size), Image.Resampling.BOX), np.float64) + 1e-9)
    return _convolve_each(images, kernels)


def defocus_blur(images: np.ndarray, radius: float, rng: np.random.Generator) -> np.ndarray:
    """A disk of ``radius`` pixels (a lens out of focus), anti-aliased on a 4x finer grid."""
    size = 2 * int(np.ceil(radius)) + 1
    fine = (np.arange(size * 4) + 0.5) / 4 - size / 2
    inside = (fine[:, None] ** 2 + fine[None, :] ** 2 <= radius**2).astype(np.float64)
    kernel = inside.reshape(size, 4, size, 4).mean(axis=(1, 3))
    return _convolve_each(images, [kernel] * len(images))


def jpeg(images: np.ndarray, quality: float, rng: np.random.Generator) -> np.ndarray:
    """Up to webcam size (224 px), JPEG at ``quality``, back to 28 px: what a browser upload does."""
    out = np.empty_like(images)
    for i, image in enumerate(images):
        buffer = io.BytesIO()
        Image.fromarray(image).resize((224, 224), Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=int(quality))
        with Image.open(buffer) as decoded:
            out[i] = np.asarray(decoded.convert("L").resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BOX))
    return out


def pixelate(images: np.ndarray, pixels: float, rng: np.random.Generator) -> np.ndarray:
    """Down to ``pixels`` x ``pixels`` by area averaging, back up by nearest neighbour: a coarse camera."""
    side = int(pixels)
    out = np.empty_like(images)
    for i, image in enumerate(images):
        small = Image.fromarray(image).resize((side, side), Image.Resampling.BOX)
        out[i] = np.asarray(small.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.NEAREST))
    return out


def occlusion(images: np.ndarray, side: float, rng: np.random.Generator) -> np.ndarray:
    """A uniform grey square of ``side`` pixels over part of the hand (its centre in the middle 16 x 16)."""
    out = images.copy()
    s = int(side)
    for i in range(len(images)):
        cx, cy = rng.integers(6, IMAGE_SIZE - 6, 2)
        x0, y0 = max(0, int(cx) - s // 2), max(0, int(cy) - s // 2)
        out[i, y0 : y0 + s, x0 : x0 + s] = int(rng.integers(0, 256))
    return out


def composite(images: np.ndarray, share: float, backgrounds: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each hand tile shrunk to ``share`` of the frame and pasted at a random place on a background.

    Args:
        images: the hand tiles.
        share: the tile's side as a share of the frame's (0.55 puts the hand on 30 % of the area).
        backgrounds: uint8 ``(M, 28, 28)`` background crops, one drawn per image.
        rng: the generator that draws the crop and the place.
    """
    side = max(1, round(IMAGE_SIZE * share))
    out = backgrounds[rng.integers(0, len(backgrounds), len(images))].copy()
    for i, image in enumerate(images):
        x, y = (int(v) for v in rng.integers(0, IMAGE_SIZE - side + 1, 2))
        out[i, y : y + side, x : x + side] = np.asarray(
            Image.fromarray(image).resize((side, side), Image.Resampling.BILINEAR)
        )
    return out


__all__ = [
    "Operation",
    "brightness",
    "composite",
    "contrast",
    "defocus_blur",
    "gamma",
    "gaussian_blur",
    "gaussian_noise",
    "jpeg",
    "mirror",
    "motion_blur",
    "occlusion",
    "perspective",
    "pixelate",
    "rotate",
    "salt_and_pepper",
    "scale",
    "shear",
    "shift",
    "shot_noise",
]
