"""The web page at ``/``: try the model from a browser (upload, webcam or drawing), no install.

The page is plain HTML, CSS and JavaScript in ``_static/`` (package data), served from
memory by exact path: each file is one route, so no path from a request ever reaches
the file system. It loads nothing from elsewhere; its Content-Security-Policy says so to
the browser too (``connect-src 'self'``: it can only call this service). The 28x28
conversion stays on the server: the page uploads the photo with a crop box and shows
the image that ``/score?return_input=true`` sends back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.responses import Response

STATIC = Path(__file__).with_name("_static")
#: The URL prefix of the page's files (the page itself is at ``/``).
STATIC_URL = "/static/"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}
#: Same-origin only; camera frames and uploads are shown as blob: URLs. No inline script or style.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "media-src 'self' blob: mediastream:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
_HEADERS = {
    "content-security-policy": _CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    # The files change with the installed version; revalidating is cheap and avoids a stale page after an upgrade.
    "cache-control": "no-cache",
}


def page_urls(folder: Path = STATIC) -> dict[str, Path]:
    """URL path -> file of every page file, without reading them: ``/`` is ``index.html``.

    The endpoint table (``_endpoints.py``) lists these paths at import; the bytes are read by
    :func:`page_files` when an app is built.

    Example:
        >>> sorted(page_urls())[:3]
        ['/', '/static/explain.js', '/static/letters.png']
    """
    urls: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in _TYPES or not path.is_file():
            continue  # only the page's own kinds of file are served
        urls["/" if path.name == "index.html" else STATIC_URL + path.name] = path
    if "/" not in urls:
        raise FileNotFoundError(f"{folder / 'index.html'} is missing: the package is installed without its page files")
    return urls


def page_files(folder: Path = STATIC) -> dict[str, tuple[bytes, str]]:
    """URL path -> (bytes, content type) of every page file: ``/`` is ``index.html``.

    Example:
        >>> files = page_files()
        >>> sorted(files)[:3], files["/"][1]
        (['/', '/static/explain.js', '/static/letters.png'], 'text/html; charset=utf-8')
    """
    return {url: (path.read_bytes(), _TYPES[path.suffix.lower()]) for url, path in page_urls(folder).items()}


def page_responder(content: bytes, kind: str) -> Any:
    """The route function of one page file, served from memory with the page's headers.

    It takes no parameters: FastAPI would read any parameter from the query.
    """

    async def serve() -> Response:
        return Response(content, media_type=kind, headers=_HEADERS)

    return serve
