"""/dashboard/logs and /dashboard/logs/{id}: the request log, filtered, and one entry whole
(`request_log_url` in an API error points at the latter)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from starlette.responses import Response

from filelinks_api.dashboard.web import Viewer, filled, page_router, pages, query, signed_in
from filelinks_api.errors import StripeError
from filelinks_api.schemas import ListRequestLogParams, render_request_log
from filelinks_api.services import request_log
from filelinks_api.wire.params import parse

router = page_router()

PAGE_SIZE = 25
FILTERS = ("method", "status", "path", "idempotency_key")
METHODS = ("GET", "POST", "DELETE", "HEAD")
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx")


@router.get("/dashboard/logs")
async def logs(viewer: Annotated[Viewer, Depends(signed_in)]) -> Response:
    values = filled(viewer.request.query_params, *FILTERS, "starting_after", "ending_before")
    filters = {name: values.get(name, "") for name in FILTERS}
    context: dict[str, Any] = {
        "nav": "logs",
        "filters": filters,
        "methods": METHODS,
        "status_classes": STATUS_CLASSES,
        "log_on": viewer.runtime.settings.request_log,
        "entries": [],
        "newer": None,
        "older": None,
    }
    try:
        params = parse(ListRequestLogParams, {"limit": str(PAGE_SIZE), **values})
        found = await viewer.runtime.read_log(request_log.list_entries, viewer.scope, params)
    except StripeError as error:  # a bad filter: the page, with the API's message
        return viewer.page("logs.html", status=error.status, error=error, **context)
    newer, older = pages(list(found.rows), found.has_more, params)
    context.update(entries=found.rows, newer=newer, older=older)
    return viewer.page("logs.html", **context)


@router.get("/dashboard/logs/{request_id}")
async def log_entry(request_id: str, viewer: Annotated[Viewer, Depends(signed_in)]) -> Response:
    entry = await viewer.runtime.read_log(request_log.get_entry, viewer.scope, request_id)
    shown = render_request_log(entry)
    response = shown["response"]
    truncated = isinstance(response, dict) and response.get("truncated") is True
    return viewer.page(
        "log.html",
        nav="logs",
        entry=shown,
        truncated=truncated,
        objects=_objects(shown),
    )


def _objects(entry: dict[str, Any]) -> list[tuple[str, str]]:
    """The dashboard pages of the files and links this request touched: (label, URL)."""
    found: dict[str, str] = {}
    response = entry["response"]
    candidates = [response] if isinstance(response, dict) else []
    if isinstance(response, dict) and isinstance(response.get("data"), list):
        candidates += response["data"][:5]
    for item in candidates:
        if not isinstance(item, dict):
            continue
        kind, object_id = item.get("object"), item.get("id")
        if isinstance(object_id, str) and kind == "file":
            found[object_id] = f"/dashboard/files/{object_id}"
        elif isinstance(object_id, str) and kind == "file_link":
            file = item.get("file")
            file_id = file.get("id") if isinstance(file, dict) else file
            found[object_id] = "/dashboard/file_links" + query(file=file_id, link=object_id)
    return list(found.items())
