"""/dashboard/file_links: every link, active or expired at a glance; create one, expire one
now, edit one's metadata."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import Depends
from starlette.responses import RedirectResponse, Response

from filelinks_api.dashboard import forms
from filelinks_api.dashboard.web import Viewer, filled, page_router, pages, query, signed_in, text
from filelinks_api.errors import StripeError
from filelinks_api.purposes import LINKABLE_PURPOSES
from filelinks_api.repository import Executor, Scope
from filelinks_api.schemas import (
    ListFileLinksParams,
    ListFilesParams,
    render_file,
    render_link,
)
from filelinks_api.services import file_links, files
from filelinks_api.services.file_links import LinkListView
from filelinks_api.services.files import FileListView
from filelinks_api.wire.params import parse

router = page_router()

PAGE_SIZE = 25
FILTERS = ("expired", "file", "starting_after", "ending_before")
RECENT_FILES = parse(ListFilesParams, {"limit": "25"})  # offered in the create form
LINK_ID = re.compile(r"link_[A-Za-z0-9]{1,64}")
NOTICES = {
    "created": "File link {link} created.",
    "expired": "File link {link} expired.",
    "updated": "Metadata of {link} saved.",
}


@dataclass
class LinksPage:
    links: LinkListView
    recent_files: FileListView


def _read(session: Executor, scope: Scope, params: ListFileLinksParams, now: int) -> LinksPage:
    return LinksPage(
        links=file_links.list_links(session, scope, params, now=now),
        recent_files=files.list_files(session, scope, RECENT_FILES),
    )


async def _links_page(
    viewer: Viewer,
    filters: Mapping[str, str],
    *,
    error: StripeError | None = None,
    form: Mapping[str, Any] | None = None,
    editing: str | None = None,
) -> Response:
    values = {name: filters[name] for name in FILTERS if filters.get(name)}
    base = {"limit": str(PAGE_SIZE), "expand": ["data.file"]}  # filenames for the table
    try:
        params = parse(ListFileLinksParams, {**base, **values})
        found = await viewer.runtime.db.read(_read, viewer.scope, params, viewer.now)
    except StripeError as filter_error:  # a bad filter: the unfiltered list, and why
        error = error or filter_error
        values = {}
        params = parse(ListFileLinksParams, base)
        found = await viewer.runtime.db.read(_read, viewer.scope, params, viewer.now)
    now, base_url = viewer.now, viewer.base_url
    rows = list(found.links.page.rows)
    newer, older = pages(rows, found.links.page.has_more, params)
    query_params = viewer.request.query_params
    highlight = query_params.get("link", "")
    if not LINK_ID.fullmatch(highlight):  # it is named in the notice: an id, nothing else
        highlight = ""
    notice_text = NOTICES.get(query_params.get("done", ""))
    recent = found.recent_files
    linkable = [
        render_file(row, recent.links[row.id], now=now, base_url=base_url)
        for row in recent.page.rows
    ]
    return viewer.page(
        "file_links.html",
        status=error.status if error else 200,
        nav="file_links",
        links=[render_link(row, now=now, base_url=base_url) for row in rows],
        files={file_id: row.filename for file_id, row in found.links.files.items()},
        linkable=[shown for shown in linkable if shown["purpose"] in LINKABLE_PURPOSES],
        filters={name: value for name, value in values.items() if name in ("expired", "file")},
        back=query(**values).lstrip("?"),
        newer=newer,
        older=older,
        highlight=highlight,
        notice=notice_text.format(link=highlight) if notice_text and highlight else None,
        error=error,
        form=form or {},
        editing=editing,
        units=forms.UNITS,
    )


@router.get("/dashboard/file_links")
async def list_links(viewer: Annotated[Viewer, Depends(signed_in)]) -> Response:
    return await _links_page(viewer, filled(viewer.request.query_params, *FILTERS))


def _back(data: Mapping[str, Any]) -> dict[str, str]:
    """The filters of the page a form was sent from (its `back` field); a value with a NUL
    (the field decodes percent escapes once more) is no filter of ours, and is dropped."""
    return {
        name: value
        for name, value in parse_qsl(text(data, "back"))
        if name in FILTERS and "\x00" not in value
    }


def _done(data: Mapping[str, Any], done: str, link_id: str) -> RedirectResponse:
    target = "/dashboard/file_links" + query(**_back(data), done=done, link=link_id)
    return RedirectResponse(target, status_code=303)


@router.post("/dashboard/file_links")
async def create_link(viewer: Annotated[Viewer, Depends(signed_in)]) -> Response:
    data = await viewer.form()
    try:
        params = forms.create_link_params(data, text(data, "file"), viewer.now)
        view = await viewer.runtime.db.write(
            file_links.create, viewer.scope, params, now=viewer.now
        )
    except StripeError as error:
        return await _links_page(viewer, _back(data), error=error, form=data)
    return _done(data, "created", view.link.id)


@router.post("/dashboard/file_links/{link_id}/expire")
async def expire_link(link_id: str, viewer: Annotated[Viewer, Depends(signed_in)]) -> Response:
    data = await viewer.form()
    try:
        await viewer.runtime.db.write(
            file_links.update, viewer.scope, link_id, forms.EXPIRE_NOW, now=viewer.now
        )
    except StripeError as error:
        return await _links_page(viewer, _back(data), error=error)
    return _done(data, "expired", link_id)


@router.post("/dashboard/file_links/{link_id}/metadata")
async def edit_metadata(link_id: str, viewer: Annotated[Viewer, Depends(signed_in)]) -> Response:
    data = await viewer.form()
    try:
        params = forms.metadata_update_params(data)
        await viewer.runtime.db.write(
            file_links.update, viewer.scope, link_id, params, now=viewer.now
        )
    except StripeError as error:
        return await _links_page(viewer, _back(data), error=error, form=data, editing=link_id)
    return _done(data, "updated", link_id)
