"""What every answered request leaves behind (its access-log record and its metrics), and
`GET /metrics`.

`Observer` is called by the envelope middleware once a response has ended. The access log
leaves out /healthz and /metrics (probes and scrapes every few seconds would drown the
requests); the metrics count them like any route.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter
from starlette.responses import Response
from starlette.types import Scope

from filelinks_api import metrics
from filelinks_api.logs import ACCESS

access_log = logging.getLogger(ACCESS)

QUIET_PATHS = frozenset({"/healthz", "/metrics"})
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

router = APIRouter()


@router.get(
    "/metrics",
    openapi_extra={"security": []},
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
async def prometheus_metrics() -> Response:
    """The service's metrics in Prometheus' text format, summed over all workers. No
    authentication (no key, account or path with an id is in them)."""
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)


class Observer:
    def __init__(self, *, count: bool) -> None:
        self.count = count

    def __call__(self, scope: Scope, status: int, seconds: float, replayed: bool) -> None:
        route = scope.get("route")
        template: str = getattr(route, "path", None) or metrics.UNMATCHED
        method: str = scope["method"]
        if self.count:
            # any token is a method to HTTP: one series per made-up method would let a client
            # grow the metrics without bound
            known = method if method in HTTP_METHODS else "OTHER"
            metrics.observe_request(template, known, status, seconds)
            # the only 429 this service sends is lock_timeout, but a fault rule's
            if status == 429 and "fault" not in scope.get("state", {}):
                metrics.LOCK_TIMEOUTS.inc()
        path: str = scope["path"]
        if path in QUIET_PATHS or not access_log.isEnabledFor(logging.INFO):
            return
        state = scope.get("state", {})
        request_id = state.get("request_id", "")
        account = state.get("account")
        milliseconds = seconds * 1000
        idempotency_key = next(
            (
                value.decode("latin-1")
                for name, value in scope["headers"]
                if name == b"idempotency-key"
            ),
            None,
        )
        access_log.info(
            "%s %s %d %.1fms %s %s",
            method,
            path,
            status,
            milliseconds,
            request_id,
            account or "-",
            extra={
                "fields": {
                    "request_id": request_id,
                    "method": method,
                    "route": template,
                    "path": path,
                    "status": status,
                    "duration_ms": round(milliseconds, 3),
                    "account": account,
                    "idempotency_key": idempotency_key,
                    "replayed": replayed,
                }
            },
        )
