"""Files: Stripe's upload rules, retrieve, list, and who may read the contents.

Emulates `POST /v1/files`: the purpose decides the accepted types (sniffed from the content,
the extension only as a fallback: SDKs send `application/octet-stream` and a full local path),
the size limit, the expiry and whether `url` is set; `file_link_data[create]=true` adds a link
in the same transaction. `filename` is the sanitized base name and is never used as a path.

Content rules Stripe states: a dispute PDF's pages (services/content.py counts them), an ID
image's dimensions. Limits: no macro scanning of Office files.
"""

from __future__ import annotations

import asyncio
import re
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from filelinks_api import ids, repository
from filelinks_api.clock import expired
from filelinks_api.errors import InvalidRequestError, ResourceMissing, publishable_key_refused
from filelinks_api.models import FileLinkRow, FileRow, files
from filelinks_api.purposes import (
    LINK_ON_UPLOAD_PURPOSES,
    MIME_TYPES,
    PURPOSES,
    Purpose,
    downloadable,
    expires_at,
)
from filelinks_api.repository import Executor, Page, Scope
from filelinks_api.schemas import CreateFileParams, ListFilesParams
from filelinks_api.services import content, file_links
from filelinks_api.services.missing import missing
from filelinks_api.services.pager import list_page
from filelinks_api.storage import StagedFile, Storage
from filelinks_api.wire.params import expansions
from filelinks_api.wire.request import uploaded_by_platform

if TYPE_CHECKING:
    from filelinks_api.db import Database

EXPANDABLE: Mapping[str, Any] = {"links": {}}


@dataclass
class FileView:
    file: FileRow
    links: Page[FileLinkRow]


@dataclass
class Prepared:
    """An upload that passed every check, its bytes in place: the row still to be added."""

    row: dict[str, Any]
    link: tuple[int | None, dict[str, str] | None] | None  # (expires_at, metadata) to create


async def prepare(
    scope: Scope,
    params: CreateFileParams,
    staged: StagedFile | None,
    filename: str | None,
    storage: Storage,
    *,
    publishable: bool,
    now: int,
) -> Prepared:
    """Check the upload and move its bytes into place; no database work, so a writer need
    not hold the lock while the bytes are checked and synced (see `record`)."""
    expansions(params.expand, EXPANDABLE, on_list=False)
    if staged is None:
        raise InvalidRequestError(
            "Missing required param: file.", code="parameter_missing", param="file"
        )
    purpose = PURPOSES[params.purpose]
    link_data = params.file_link_data
    make_link = link_data is not None and link_data.create
    if link_data is not None and publishable:
        raise publishable_key_refused()
    if make_link and params.purpose not in LINK_ON_UPLOAD_PURPOSES:
        raise InvalidRequestError(
            f"File links can't be created for files with purpose '{params.purpose}'. Set"
            " `file_link_data[create]` only with one of these purposes:"
            f" {', '.join(LINK_ON_UPLOAD_PURPOSES)}.",
            param="file_link_data[create]",
        )
    if staged.size == 0:
        raise InvalidRequestError("The file you uploaded is empty.", param="file")
    if purpose.max_size is not None and staged.size > purpose.max_size:
        raise InvalidRequestError(
            f"The file you uploaded is {staged.size} bytes, over the {purpose.max_size}-byte"
            f" limit for purpose '{purpose.name}'.",
            param="file",
        )
    filename = sanitize_filename(filename)
    staged.finish()  # zip-based types are told apart by reading the staged file back
    kind = detect_type(staged.head, filename, staged.path)
    # Files Stripe generates (emulator control) have no upload rules: any type goes.
    if purpose.uploadable and kind not in purpose.types:
        mimetypes = ", ".join(MIME_TYPES[accepted] for accepted in purpose.types)
        raise InvalidRequestError(
            "We don't currently support that file type. Try uploading a file with one of the"
            f" following mimetypes: {mimetypes}.",
            param="file",
        )
    await check_content(purpose, kind, staged.path)
    link_expires_at = None
    if make_link and link_data is not None:
        link_expires_at = file_links.check_future(
            link_data.expires_at, now, "file_link_data[expires_at]"
        )

    file_id = ids.file_id()
    await storage.commit(staged, file_id)  # bytes in place before the row can commit
    row = {
        "id": file_id,
        "account": scope.account,
        "livemode": scope.livemode,
        "created": now,
        "expires_at": expires_at(purpose.name, now),
        "filename": filename or file_id,
        "purpose": purpose.name,
        "size": staged.size,
        "title": None,
        "type": kind,
        "sha256": staged.sha256(),
    }
    link = (link_expires_at, link_data.metadata) if make_link and link_data is not None else None
    return Prepared(row=row, link=link)


async def check_content(purpose: Purpose, kind: str | None, path: Path) -> None:
    """The content rules Stripe states for some purposes: a dispute PDF's page count, an ID
    image's dimensions. What cannot be read is let through."""
    if purpose.max_pages is not None and kind == "pdf":
        # a PDF of up to 5MB, read and searched: off the event loop
        pages = await asyncio.to_thread(content.pdf_page_count, path)
        if pages is not None and pages > purpose.max_pages:
            raise InvalidRequestError(
                "The file you uploaded was too long. Please upload a file with fewer than"
                f" {purpose.max_pages} pages.",
                param="file",
            )
    if purpose.max_dimension is not None:
        size = content.image_size(path, kind)  # a few header bytes
        limit = purpose.max_dimension
        if size is not None and max(size) >= limit:
            width, height = size
            raise InvalidRequestError(
                f"The image you uploaded is {width}px by {height}px, but {purpose.name} images"
                f" must be smaller than {limit:,}px by {limit:,}px.",
                param="file",
            )


def record(session: Executor, scope: Scope, prepared: Prepared, *, now: int) -> FileView:
    """Add the prepared file's row (and its link); the caller commits."""
    file = repository.insert_file(session, prepared.row)
    if prepared.link is not None:
        link_expires_at, metadata = prepared.link
        file_links.insert(
            session, scope, file, expires_at=link_expires_at, metadata=metadata, now=now
        )
    return _view(session, scope, file)


def upload_limit(fields: Mapping[str, str], cap: int) -> int:
    """The most bytes a file part may stream to disk, given the fields sent before it.

    SDKs send `purpose` before `file`, so its size limit stops an oversized upload while it
    streams; when the file comes first, the global cap applies and `create` checks afterwards.
    """
    purpose = PURPOSES.get(fields.get("purpose", ""))
    if purpose is None or purpose.max_size is None:
        return cap
    return min(cap, purpose.max_size)


def retrieve(session: Executor, scope: Scope, file_id: str, expand: list[str]) -> FileView:
    expansions(expand, EXPANDABLE, on_list=False)
    return _view(session, scope, _get(session, scope, file_id))


async def fetch(db: Database, scope: Scope, file_id: str, expand: list[str]) -> FileView:
    """`retrieve` as GET /v1/files/{id} runs it: the file and its first page of links, two
    statements of their own (Database.lookup and .rows: on PostgreSQL, outside SQLAlchemy's
    pool and greenlet; each statement its own snapshot, as in a read, which runs in
    autocommit); a file not found (whose error says why) is a read of `retrieve`."""
    expansions(expand, EXPANDABLE, on_list=False)
    file = await repository.find_file(db, scope, file_id)
    if file is None:
        return await db.read(retrieve, scope, file_id, expand)
    links = await repository.find_links_of_file(db, scope, file.id, file_links.EMBEDDED_LINKS)
    return FileView(file=file, links=links)


@dataclass
class FileListView:
    page: Page[FileRow]
    links: dict[str, Page[FileLinkRow]]


def list_files(session: Executor, scope: Scope, params: ListFilesParams) -> FileListView:
    expansions(params.expand, EXPANDABLE, on_list=True)
    conditions = repository.created_filter(files, params.created)
    if params.purpose is not None:
        conditions.append(files.c.purpose == params.purpose)
    page = list_page(session, files, FileRow, scope, conditions, params, kind="file")
    links = repository.links_for_files(
        session, scope, [row.id for row in page.rows], file_links.EMBEDDED_LINKS
    )
    return FileListView(page=page, links=links)


def for_download(session: Executor, scope: Scope, file_id: str, *, now: int) -> FileRow:
    """The file whose contents the caller may read with their secret key."""
    file = _get(session, scope, file_id)
    if expired(file.expires_at, now):
        raise ResourceMissing.for_object("file", file_id, param="id")
    if not downloadable(file.purpose, by_platform=uploaded_by_platform(scope.account)):
        raise InvalidRequestError(
            f"The contents of files with purpose '{file.purpose}' can't be downloaded.",
            param="id",
        )
    return file


def _get(session: Executor, scope: Scope, file_id: str) -> FileRow:
    file = repository.get_file(session, scope, file_id)
    if file is None:
        raise missing(session, scope, "file", file_id, param="id")
    return file


def _view(session: Executor, scope: Scope, file: FileRow) -> FileView:
    pages = repository.links_for_files(session, scope, [file.id], file_links.EMBEDDED_LINKS)
    return FileView(file=file, links=pages[file.id])


# --- orphans ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sweep:
    stored: int  # contents without a row: moved into place, then the row never committed
    staged: int  # uploads interrupted while their bytes arrived


SWEEP_BATCH = 500
_T = TypeVar("_T")


class Reader(Protocol):
    """What the sweep needs of a `db.Database`: read-only units of work."""

    async def read(self, work: Callable[..., _T], *args: Any, **kwargs: Any) -> _T: ...


async def sweep_orphans(db: Reader, storage: Storage, *, grace_seconds: float) -> Sweep:
    """Remove contents no row refers to, and interrupted uploads; run by `serve` at start.

    Only those older than `grace_seconds`: another replica sharing the data dir or the bucket
    may have just put an upload's bytes in place and be about to commit its row. A row without
    bytes cannot be repaired, so rows are never touched here.
    """
    staged = await storage.sweep_staged(older_than=grace_seconds)
    stored = 0
    batch: list[str] = []

    async def flush() -> int:
        known = await db.read(repository.existing_file_ids, list(batch))
        orphans = [file_id for file_id in batch if file_id not in known]
        for file_id in orphans:
            await storage.delete(file_id)
        batch.clear()
        return len(orphans)

    async for file_id in storage.stored_ids(older_than=grace_seconds):
        batch.append(file_id)
        if len(batch) >= SWEEP_BATCH:
            stored += await flush()
    stored += await flush()
    return Sweep(stored=stored, staged=staged)


# --- filenames and types ----------------------------------------------------------------------

_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")


def sanitize_filename(raw: str | None) -> str | None:
    """The base name of whatever path a client sent, without control characters."""
    if not raw:
        return None
    base = re.split(r"[/\\]", raw)[-1]
    base = _UNSAFE.sub("", base).strip().lstrip(".")
    return base[:255] or None


_EXTENSION_ALIASES = {"jpeg": "jpg", "markdown": "md", "htm": "html", "text": "txt"}
_TEXT_TYPES = {"csv", "tsv", "txt", "md", "json", "jsonl", "xml", "html", "pem", "svg"}


def extension(filename: str | None) -> str | None:
    if not filename or "." not in filename:
        return None
    ext = filename.rsplit(".", 1)[1].lower()
    return _EXTENSION_ALIASES.get(ext, ext)


def detect_type(head: bytes, filename: str | None, path: Path) -> str | None:
    """Stripe's `type`: from the leading bytes, the extension breaking ties among text types."""
    ext = extension(filename)
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head.startswith(b"PK\x03\x04"):
        return _zip_type(path, ext)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return ext if ext in ("xls", "doc") else None
    text = _as_text(head)
    if text is None:
        return None
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("-----BEGIN "):
        return "pem"
    if ext in _TEXT_TYPES:
        return ext
    if "<svg" in stripped[:2048].lower():
        return "svg"
    if stripped[:1] in ("{", "["):
        return "json"
    return "txt"


def _zip_type(path: Path, ext: str | None) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return None
    if "AndroidManifest.xml" in names:
        return "apk"
    if any(name.startswith("word/") for name in names):
        return "docx"
    if any(name.startswith("xl/") for name in names):
        return "xlsm" if ext == "xlsm" else "xlsx"
    return "zip"


def _as_text(head: bytes) -> str | None:
    if b"\x00" in head:
        return None
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a multi-byte character cut at the end of the sniffed head is still text
        if exc.start >= len(head) - 3:
            return head[: exc.start].decode("utf-8")
        return None
