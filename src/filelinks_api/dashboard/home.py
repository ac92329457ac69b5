"""/dashboard: what happened recently, and is anything failing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from starlette.responses import Response

from filelinks_api.dashboard.web import Viewer, page_router, signed_in
from filelinks_api.models import RequestLogRow
from filelinks_api.repository import Executor, Scope
from filelinks_api.schemas import (
    ListFileLinksParams,
    ListFilesParams,
    ListRequestLogParams,
    render_file,
)
from filelinks_api.services import file_links, files, request_log
from filelinks_api.services.files import FileListView
from filelinks_api.wire.params import parse

router = page_router()

WINDOW = 100  # the requests "recently" means, and the most objects a count shows exactly
SHOWN = 10
LAST_REQUESTS = parse(ListRequestLogParams, {"limit": str(WINDOW)})
FILES = parse(ListFilesParams, {"limit": str(WINDOW)})
ACTIVE = parse(ListFileLinksParams, {"limit": str(WINDOW), "expired": "false"})
EXPIRED = parse(ListFileLinksParams, {"limit": str(WINDOW), "expired": "true"})


@dataclass
class Count:
    """How many, up to WINDOW; beyond, "100+" (the lists page through the rest)."""

    shown: int
    more: bool

    def __str__(self) -> str:
        return f"{self.shown}+" if self.more else str(self.shown)


@dataclass
class Overview:
    files: FileListView
    active_links: Count
    expired_links: Count


def overview(session: Executor, scope: Scope, *, now: int) -> Overview:
    active = file_links.list_links(session, scope, ACTIVE, now=now).page
    expired = file_links.list_links(session, scope, EXPIRED, now=now).page
    return Overview(
        files=files.list_files(session, scope, FILES),
        active_links=Count(len(active.rows), active.has_more),
        expired_links=Count(len(expired.rows), expired.has_more),
    )


@router.get("/dashboard")
async def home(viewer: Annotated[Viewer, Depends(signed_in)]) -> Response:
    seen = await viewer.runtime.db.read(overview, viewer.scope, now=viewer.now)
    # the request log is a database of its own (log_database.py)
    logged = await viewer.runtime.read_log(request_log.list_entries, viewer.scope, LAST_REQUESTS)
    requests: list[RequestLogRow] = list(logged.rows)
    errors = [entry for entry in requests if entry.status >= 400]
    listed = seen.files
    recent_files = [
        render_file(row, listed.links[row.id], now=viewer.now, base_url=viewer.base_url)
        for row in listed.page.rows[:5]
    ]
    return viewer.page(
        "home.html",
        nav="home",
        log_on=viewer.runtime.settings.request_log,
        recent=requests[:SHOWN],
        window=len(requests),
        errors=errors,
        client_errors=sum(1 for entry in errors if entry.status < 500),
        server_errors=sum(1 for entry in errors if entry.status >= 500),
        file_count=Count(len(listed.page.rows), listed.page.has_more),
        recent_files=recent_files,
        active_links=seen.active_links,
        expired_links=seen.expired_links,
    )
