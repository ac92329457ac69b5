"""/dashboard/files, /dashboard/files/{id} (with a preview), its contents for the preview, and
a new link to it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from starlette.responses import RedirectResponse, Response

from filelinks_api.api.download import INLINE_POLICY, stream_file
from filelinks_api.clock import expired
from filelinks_api.dashboard import forms
from filelinks_api.dashboard.web import Viewer, filled, page_router, pages, query, signed_in
from filelinks_api.errors import StripeError
from filelinks_api.purposes import ALL_PURPOSES
from filelinks_api.schemas import ListFilesParams, render_file
from filelinks_api.services import file_links, files
from filelinks_api.wire.params import parse

router = page_router()

PAGE_SIZE = 25
IMAGES = frozenset({"png", "jpg", "gif", "webp", "svg"})


@router.get("/dashboard/files")
async def list_files(viewer: Annotated[Viewer, Depends(signed_in)]) -> Response:
    values = filled(viewer.request.query_params, "purpose", "starting_after", "ending_before")
    context: dict[str, Any] = {
        "nav": "files",
        "purposes": ALL_PURPOSES,
        "purpose": values.get("purpose", ""),
        "files": [],
        "newer": None,
        "older": None,
    }
    try:
        params = parse(ListFilesParams, {"limit": str(PAGE_SIZE), **values})
        found = await viewer.runtime.db.read(files.list_files, viewer.scope, params)
    except StripeError as error:
        return viewer.page("files.html", status=error.status, error=error, **context)
    rows = list(found.page.rows)
    newer, older = pages(rows, found.page.has_more, params)
    context.update(
        files=[
            render_file(row, found.links[row.id], now=viewer.now, base_url=viewer.base_url)
            for row in rows
        ],
        newer=newer,
        older=older,
    )
    return viewer.page("files.html", **context)


async def _file_page(
    viewer: Viewer,
    file_id: str,
    *,
    error: StripeError | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    view = await viewer.runtime.db.read(files.retrieve, viewer.scope, file_id, [])
    shown = render_file(view.file, view.links, now=viewer.now, base_url=viewer.base_url)
    file_expired = expired(view.file.expires_at, viewer.now)
    kind = view.file.type or ""
    preview = None
    if shown["url"] is not None and not file_expired:
        preview = "image" if kind in IMAGES else "pdf" if kind == "pdf" else None
    notice = None
    if viewer.request.query_params.get("done") == "created":
        notice = "File link created."
    return viewer.page(
        "file.html",
        status=error.status if error else 200,
        nav="files",
        file=shown,
        file_expired=file_expired,
        downloadable=shown["url"] is not None and not file_expired,
        preview=preview,
        contents_url=f"/dashboard/files/{view.file.id}/contents",
        error=error,
        notice=notice,
        form=form or {},
        units=forms.UNITS,
    )


@router.get("/dashboard/files/{file_id}")
async def file_page(file_id: str, viewer: Annotated[Viewer, Depends(signed_in)]) -> Response:
    return await _file_page(viewer, file_id)


@router.get("/dashboard/files/{file_id}/contents")
async def file_contents(file_id: str, viewer: Annotated[Viewer, Depends(signed_in)]) -> Response:
    """The bytes, by the same rule as /v1/files/{id}/contents, for the session's key."""
    file = await viewer.runtime.db.read(files.for_download, viewer.scope, file_id, now=viewer.now)
    # served `inline` for the preview, by the public link's rule
    response = await stream_file(viewer.request, file, viewer.runtime.storage, inline=True)
    if file.type != "pdf":
        response.headers["content-security-policy"] = INLINE_POLICY
    response.headers["cache-control"] = "private, no-store"
    return response


@router.post("/dashboard/files/{file_id}/file_links")
async def create_link(file_id: str, viewer: Annotated[Viewer, Depends(signed_in)]) -> Response:
    data = await viewer.form()
    try:
        params = forms.create_link_params(data, file_id, viewer.now)
        view = await viewer.runtime.db.write(
            file_links.create, viewer.scope, params, now=viewer.now
        )
    except StripeError as error:
        return await _file_page(viewer, file_id, error=error, form=data)
    link_id = view.link.id
    target = f"/dashboard/files/{file_id}" + query(done="created", link=link_id)
    return RedirectResponse(target, status_code=303)
