"""Streaming a file's bytes: Content-Type, Content-Length, Content-Disposition, HEAD, Range."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from urllib.parse import quote

from fastapi import Request
from starlette.responses import Response, StreamingResponse

from filelinks_api import metrics
from filelinks_api.errors import InvalidRequestError
from filelinks_api.models import FileRow
from filelinks_api.purposes import MIME_TYPES
from filelinks_api.storage import Storage

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


# What a browser shows itself. Stripe's own headers for these could not be found (see
# docs/stripe-behavior.md), so where a person opens a file (a link URL, the dashboard's
# preview) these are served `inline`, and everything else as an attachment.
INLINE_TYPES = frozenset({"pdf", "png", "jpg", "gif", "webp", "svg"})
# An inline file is someone's upload: no script of its runs on this origin (an SVG may hold
# one). Chromium's PDF viewer does not run in a sandboxed document, so a PDF goes without.
INLINE_POLICY = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"

_NOT_TOKEN_SAFE = re.compile(r'[^\x20-\x7e]|["\\%]')


def content_disposition(filename: str, *, inline: bool = False) -> str:
    """RFC 6266: `filename` always, as an ASCII quoted-string (non-ASCII, control characters,
    quotes, backslashes and `%` become `_`); `filename*` (RFC 8187, UTF-8) too when that
    changed the name, so a browser saves it as uploaded."""
    kind = "inline" if inline else "attachment"
    fallback = _NOT_TOKEN_SAFE.sub("_", filename)
    if fallback == filename:
        return f'{kind}; filename="{filename}"'
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


# More digits than this and a position is past the end of any file: never converted (int()
# refuses over 4,300 digits, and would be slow long before that).
_MAX_DIGITS = 20
_BEYOND_ANY_FILE = 10**_MAX_DIGITS


def _position(digits: str) -> int:
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= _MAX_DIGITS else _BEYOND_ANY_FILE


def byte_range(header: str | None, size: int) -> tuple[int, int] | None | bool:
    """(start, end exclusive) for one satisfiable range; None to send it all; False if unsatisfiable."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None  # multiple or malformed ranges: ignore the header, send the whole file
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        length = _position(last)
        if length == 0:
            return False
        return max(0, size - length), size
    start = _position(first)
    end = size if not last else min(_position(last) + 1, size)
    if start >= size or start >= end:
        return False
    return start, end


def _download_name(file: FileRow) -> str:
    # A file uploaded without a name is named after its id; a public link need not show it.
    if not file.filename or file.filename == file.id:
        return f"file.{file.type}" if file.type else "file"
    return str(file.filename)


async def stream_file(
    request: Request, file: FileRow, storage: Storage, *, inline: bool = False
) -> Response:
    """The file's bytes; with `inline`, a type a browser displays is served for display."""
    size = file.size
    shown = inline and file.type in INLINE_TYPES
    headers = {
        "Content-Type": MIME_TYPES.get(file.type or "", "application/octet-stream"),
        "Content-Disposition": content_disposition(_download_name(file), inline=shown),
        "Accept-Ranges": "bytes",
        "ETag": f'"{file.sha256}"',
        "X-Content-Type-Options": "nosniff",
    }
    if shown and file.type != "pdf":
        headers["Content-Security-Policy"] = INLINE_POLICY
    wanted = byte_range(request.headers.get("range"), size)
    if wanted is False:  # Stripe's envelope, as every other error here
        raise InvalidRequestError(
            f"The requested range is not satisfiable: the file is {size} bytes long.",
            status=416,
            headers={"Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes"},
        )
    status, start, end = 200, 0, size
    if isinstance(wanted, tuple):
        start, end = wanted
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    headers["Content-Length"] = str(end - start)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers)
    chunks = await storage.open(file.id, start, end)  # ContentsMissing before any byte is sent
    return StreamingResponse(_counted(chunks), status_code=status, headers=headers)


async def _counted(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        yield chunk
        metrics.DOWNLOADED_BYTES.inc(len(chunk))  # once sent
