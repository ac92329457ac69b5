"""/healthz: 200 once the database answers, 503 otherwise. No authentication."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from filelinks_api.api.deps import Runtime
from filelinks_api.api.route import api_router
from filelinks_api.errors import ServiceUnavailable
from filelinks_api.wire.envelope import StripeJSON

router = api_router()


@router.get("/healthz", openapi_extra={"security": []})
async def healthz(request: Request) -> Response:
    db = Runtime.of(request).db
    if not await db.ping():
        raise ServiceUnavailable("The service cannot reach its database.")
    return StripeJSON({"status": "ok"})
