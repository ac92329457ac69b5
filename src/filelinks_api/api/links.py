"""/links/{token}: the public URL of a file link. No authentication; once the link has
expired, and for any token that never existed, the same 404 that says nothing more. A PDF or
an image is served `inline` (a browser shows it), anything else as an attachment."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from filelinks_api.api.deps import Runtime
from filelinks_api.api.download import stream_file
from filelinks_api.api.request_log import LogContext
from filelinks_api.api.route import api_router
from filelinks_api.errors import StripeError
from filelinks_api.services import file_links
from filelinks_api.storage import ContentsMissing
from filelinks_api.wire.openapi import FILE_BYTES

router = api_router()

LINK_UNAVAILABLE = "This link does not exist or is no longer available."


@router.head("/links/{token}", include_in_schema=False)
@router.get("/links/{token}", responses=FILE_BYTES, openapi_extra={"security": []})
async def public_link(token: str, request: Request) -> Response:
    runtime = Runtime.of(request)
    file = None
    if len(token) <= 128:
        await runtime.clocks.refresh()
        # No caller here: expiry follows the clock of the account that owns the link.
        hit = await file_links.public_file(runtime.db, token, now=runtime.clocks.now)
        file = hit.file
        if hit.owner is not None and runtime.request_log is not None:
            # logged in the owner's log, expired or not
            owner_now = runtime.clocks.now(hit.owner)
            request.scope["state"]["log"] = LogContext(hit.owner, owner_now, {})
    if file is None:
        raise StripeError(LINK_UNAVAILABLE, status=404)
    try:
        # opened in a browser: a PDF or an image is shown, anything else downloads
        return await stream_file(request, file, runtime.storage, inline=True)
    except ContentsMissing:  # says nothing more than an unknown token would
        raise StripeError(LINK_UNAVAILABLE, status=404) from None
