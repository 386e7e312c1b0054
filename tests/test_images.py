"""Image decoding on a budget: bombs refused from the header, memory bounded, photos read the right way up."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from image_cases import encode, jpeg_bomb, odd_modes, png_bomb, with_orientation
from PIL import Image

import asl_recog as asl
from asl_recog import image_to_array

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def photo(test_data: asl.SignMnistDataset) -> Image.Image:
    """A real test image blown up to a 240x180 landscape "photo": orientation matters for a non-square image."""
    return Image.fromarray(test_data.images[3]).resize((240, 180), Image.Resampling.BICUBIC)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("png_20000x20000_gray", png_bomb(20000, 20000, color_type=0)),  # past Pillow's own limit: it raised its error
        ("png_13000x13000_rgba", png_bomb(13000, 13000)),  # under Pillow's limit: it allocated 645 MiB
        ("png_4097x4096_rgb", png_bomb(4097, 4096, color_type=2)),
        ("jpeg_65500x65500", jpeg_bomb()),
    ],
)
def test_bomb_headers_are_refused_before_decoding(name: str, data: bytes) -> None:
    """Defects 2 and 3: image dimensions are checked from the header against the documented limit."""
    from asl_recog.data._images import MAX_IMAGE_PIXELS, ImageTooLargeError

    assert len(data) < 64 * 1024
    start = time.perf_counter()
    refusal = r"upload\.png: the image is .*above the limit of 16,777,216 pixels"
    with pytest.raises(ImageTooLargeError, match=refusal) as info:
        image_to_array(data, source="upload.png")
    assert time.perf_counter() - start < 0.5, "the refusal must not decode anything"
    assert isinstance(info.value, asl.DataFormatError) and "4096x4096" in str(info.value)
    assert MAX_IMAGE_PIXELS == 4096 * 4096


_MEASURE = textwrap.dedent("""
    import resource, sys
    from pathlib import Path
    from PIL import Image, ImageOps
    from asl_recog.data._images import image_to_array
    data = Path(sys.argv[1]).read_bytes()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        image_to_array(data)
    except Exception as exc:
        print(type(exc).__name__, file=sys.stderr)
    print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
""")


def _peak_growth_mib(path: Path) -> int:
    """Growth of the peak resident memory (MiB) of a fresh interpreter while it decodes ``path``."""
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path)], capture_output=True, text=True, check=True, cwd=ROOT, timeout=120
    )
    return int(out.stdout.strip())


def test_decoding_memory_is_bounded(tmp_path: Path) -> None:
    """Defect 2: a 642 KiB bomb added ~1 GiB to the service. Now a bomb costs nothing, and the largest image
    accepted (4096x4096 RGBA, 64 MiB decoded) stays within a fixed budget."""
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_bomb(13000, 13000))
    largest = tmp_path / "largest.png"
    largest.write_bytes(encode(Image.new("RGBA", (4096, 4096), (40, 80, 120, 200))))
    assert _peak_growth_mib(bomb) < 32
    assert _peak_growth_mib(largest) < 160


def test_exif_orientation_is_applied(photo: Image.Image) -> None:
    """Defect 4: sideways phone photos (EXIF orientation 2-8) were read as stored, not as shown."""
    upright = image_to_array(encode(photo, "JPEG", quality=95))
    for orientation in range(2, 9):
        stored = image_to_array(with_orientation(photo, orientation))
        as_stored = image_to_array(encode(photo.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=95))
        difference = np.abs(stored.astype(int) - upright).mean()
        assert difference < 3, f"orientation {orientation}: mean difference {difference:.1f} from the upright photo"
        if orientation in (6, 8):
            assert np.abs(as_stored.astype(int) - upright).mean() > 3 * difference + 5  # the check can fail


def test_every_pixel_layout_reads_as_the_same_picture(test_data: asl.SignMnistDataset) -> None:
    """Defect 4: 16-bit PNGs were clipped to 0/255; palettes, alpha and CMYK must read as the same picture."""
    gray = np.asarray(Image.fromarray(test_data.images[5]).resize((112, 112), Image.Resampling.BICUBIC))
    expected = image_to_array(encode(Image.fromarray(gray)))
    for name, data in odd_modes(gray).items():
        got = image_to_array(data, source=name)
        tolerance = 40 if name == "png_1" else 6  # dithered bilevel; lossy JPEG
        difference = np.abs(got.astype(int) - expected).mean()
        assert difference < tolerance, f"{name}: mean difference {difference:.1f}"
    sixteen = image_to_array(odd_modes(gray)["png_I16"])
    np.testing.assert_array_equal(sixteen, expected)


def test_transparent_pixels_are_laid_over_white() -> None:
    rgba = np.zeros((64, 64, 4), np.uint8)  # transparent black, the usual encoding of "nothing"
    rgba[16:48, 16:48] = (0, 0, 0, 255)  # an opaque black square
    got = image_to_array(encode(Image.fromarray(rgba, "RGBA")))
    assert got[0, 0] == 255 and got[14, 14] < 10
    palette = Image.fromarray(rgba[..., 3]).convert("P")
    palette.info["transparency"] = 0
    assert image_to_array(encode(palette, transparency=0))[0, 0] == 255


def test_only_png_and_jpeg_decoders_run() -> None:
    for fmt in ("GIF", "TIFF", "BMP"):
        with pytest.raises(asl.DataFormatError, match=r"x\.img: not a readable PNG or JPEG image"):
            image_to_array(encode(Image.new("L", (32, 32)), fmt), source="x.img")
    truncated = encode(Image.new("RGB", (64, 64), (1, 2, 3)), "JPEG")[:200]
    with pytest.raises(asl.DataFormatError, match="not a readable PNG or JPEG"):
        image_to_array(truncated)


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF", "WEBP"])
def test_other_formats_are_named_in_the_error(fmt: str) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (80, 80), (10, 20, 30)).save(buffer, format=fmt)
    with pytest.raises(asl.DataFormatError, match=rf"it is an? {'WebP' if fmt == 'WEBP' else fmt} image; convert it"):
        asl.image_to_array(buffer.getvalue())
    with pytest.raises(asl.DataFormatError, match="UnidentifiedImageError") as caught:
        asl.image_to_array(b"neither PNG nor JPEG " * 4)
    assert "KeyError" not in str(caught.value)  # Pillow has no separate MPO reader to ask for
