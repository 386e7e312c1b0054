"""Photo uploads to /score and /explain: multipart forms read as a stream, every part decoded or the request refused.

Starlette's form parser drops a part that a truncated body cuts off and
answers as if the form were complete; this reader feeds python-multipart
itself and refuses a body whose closing boundary never came (400), so an
upload of two photos never gets one answer. Each part is decoded as soon as
it is complete and only its 28x28 result is kept, and at most
:data:`DECODE_SLOTS` images decode at once in the whole service, which bounds
the memory that image uploads can take.

A photo is cut to the client's ``crop`` box when one is given; otherwise to the square around
the hand that the palm detector finds in it (the library's :func:`~asl_recog.data.image_to_array`
path, so the service and the library give the same 28x28), else to the centre square. What was
found travels with each image, so the answer can say where the hand was, or that none was.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from asl_recog._errors import DataFormatError
from asl_recog.data._hands import HandBox
from asl_recog.data._images import CropError, ImageTooLargeError, read_image
from asl_recog.serving._requests import RequestError

if TYPE_CHECKING:  # python-multipart defines its callback types for type checkers only
    from python_multipart.multipart import MultipartCallbacks

#: Images decoded at the same time, service-wide; the largest accepted image needs about 130 MiB while it decodes.
DECODE_SLOTS = 2
_SLOTS = threading.BoundedSemaphore(DECODE_SLOTS)


class Photo(NamedTuple):
    """One decoded upload: its 28x28 image, the hand it was cut to, and whether a hand was looked for.

    ``searched`` is False with a crop box, with ``find_hand=False`` and for images under 64 pixels
    on their short side (already crops); ``hand`` is None when none was found or looked for.
    """

    image: np.ndarray
    hand: HandBox | None
    searched: bool


def _decode_bounded(data: bytes, where: str, crop: tuple[int, int, int, int] | None, find_hand: bool) -> Photo:
    with _SLOTS:  # taken in the worker thread, so no event loop is tied to it
        return Photo(*read_image(data, source=where, crop=crop, find_hand=find_hand))


async def decode_image(
    data: bytes, where: str, crop: tuple[int, int, int, int] | None = None, find_hand: bool = True
) -> Photo:
    """A photo decoded in a worker thread: ``crop``'s box if given, else the hand's square (``find_hand``),
    else the centre square.

    Raises:
        RequestError: 413 ``image_too_large`` above the pixel limit, 400 ``bad_image`` when unreadable,
            422 ``invalid_parameter`` (where ``query.crop``) when the crop box is not inside the image.
    """
    try:
        return await run_in_threadpool(_decode_bounded, data, where, crop, find_hand)
    except CropError as exc:
        raise RequestError(f"{exc}", where="query.crop", code="invalid_parameter") from exc
    except ImageTooLargeError as exc:
        raise RequestError(f"{exc.problem}. Fix: {exc.fix}", where=where, status=413, code="image_too_large") from exc
    except DataFormatError as exc:
        raise RequestError(
            f"{exc.problem}. Fix: send a PNG or JPEG photo of one hand sign", where=where, status=400, code="bad_image"
        ) from exc


class _FormReader:
    """python-multipart callbacks collecting finished parts: (field name, file name or None, bytes)."""

    def __init__(self) -> None:
        self.finished: list[tuple[str, str | None, bytes]] = []
        self.ended = False
        self._headers: dict[bytes, bytes] = {}
        self._field = self._value = b""
        self._data = bytearray()

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._part_begin,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self._headers, self._data = {}, bytearray()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        self._data += data[start:end]

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field = self._value = b""

    def _part_end(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        self.finished.append(
            (name, filename.decode("utf-8", "replace") if filename is not None else None, bytes(self._data))
        )
        self._data = bytearray()

    def _end(self) -> None:
        self.ended = True


async def form_images(
    content_type: str,
    stream: AsyncIterator[bytes],
    max_batch: int,
    crop: tuple[int, int, int, int] | None = None,
    find_hand: bool = True,
) -> list[Photo]:
    """The photos of every file field of a multipart upload, in order, decoded like the dataset was made.

    Args:
        content_type: the request's Content-Type header (with its boundary).
        stream: the body, chunk by chunk.
        max_batch: the most files per request (more gives 413).
        crop: a box ``(x, y, w, h)`` cut out of every file before the conversion, or None.
        find_hand: without ``crop``, cut each photo to the hand found in it.

    Raises:
        RequestError: 400 for a malformed or truncated body or an unreadable image, 413 for too many
            files or too large an image, 422 for a form without a file.
    """
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise RequestError(
            "the multipart Content-Type has no boundary; let the client library build the form "
            "(curl -F file=@hand.jpg)",
            where="content-type",
            status=400,
            code="bad_request",
        )
    reader = _FormReader()
    parser = MultipartParser(boundary, reader.callbacks())
    images: list[Photo] = []
    fields = 0
    async for chunk in stream:
        try:
            parser.write(chunk)
        except MultipartParseError as exc:
            raise RequestError(
                f"malformed multipart body ({exc}); resend the form", where="body", status=400, code="bad_request"
            ) from exc
        for name, filename, data in reader.finished:
            if filename is None:  # a plain form field: allowed, not scored
                fields += 1
                if fields > max_batch:
                    raise RequestError(
                        f"more than {max_batch} form fields", where="body", status=413, code="batch_too_large"
                    )
                continue
            if len(images) == max_batch:
                raise RequestError(
                    f"more than {max_batch} files; the limit is {max_batch} images per request, split the upload",
                    where="body",
                    status=413,
                    code="batch_too_large",
                )
            where = f"{name}[{len(images)}] ({filename or 'unnamed'})"
            images.append(await decode_image(data, where, crop, find_hand))
        reader.finished.clear()
    if not reader.ended:
        raise RequestError(
            f"the multipart body is truncated: its closing boundary never came after {len(images)} "
            "complete file(s), so a part may be missing; resend the whole form",
            where="body",
            status=400,
            code="truncated_body",
        )
    if not images:
        raise RequestError(
            "no file in the form; upload the photo as field 'file' (curl -F file=@hand.jpg)",
            where="file",
            code="no_image",
        )
    return images


async def request_photos(
    headers: Mapping[str, str],
    stream: Callable[[], AsyncIterator[bytes]],
    body: Callable[[], Awaitable[bytes]],
    max_batch: int,
    crop: tuple[int, int, int, int] | None,
    find_hand: bool,
) -> list[Photo] | None:
    """The photos of an upload (a multipart form, or an ``image/*`` body), or None for a JSON body.

    The one reading of a request's content type for every endpoint that takes photos (/score,
    /explain). ``crop`` and ``find_hand`` are photo options: given with a JSON body, they are refused.

    Raises:
        RequestError: as :func:`form_images` and :func:`decode_image`; 422 ``invalid_parameter``
            for ``crop`` or ``find_hand=false`` with 28x28 pixel JSON.
    """
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        return await form_images(headers.get("content-type", ""), stream(), max_batch, crop, find_hand)
    if content_type.startswith("image/") or content_type == "application/octet-stream":
        return [await decode_image(await body(), "body", crop, find_hand)]
    if crop is not None or not find_hand:
        name = "crop" if crop is not None else "find_hand"
        raise RequestError(
            f"{name} applies to photo uploads (multipart or an image/* body), not to 28x28 pixel JSON",
            where=f"query.{name}",
            code="invalid_parameter",
        )
    return None
