"""Where a fault rule (services/faults.py) acts on a `/v1` request.

A rule is taken once the request's parameters are valid (`arrive`, from the route's
dependency): an error is raised there, or for a POST once its Idempotency-Key is claimed
(`after_claim`, from api/idempotency.py), so the idempotency layer settles it like any
failure; a `reset when=before` ends the request there. `FaultMiddleware`, outside every other
middleware, holds back a delayed response and drops a reset one, then closes the connection
with no response through the server's protocol (wire/protocol.py): by then the request log's
entry has committed.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from filelinks_api import metrics
from filelinks_api.services.faults import Fault
from filelinks_api.wire.protocol import RESET_EXTENSION

if TYPE_CHECKING:
    from filelinks_api.api.deps import Call  # deps calls `arrive`

STATE = "fault"  # scope["state"][STATE]: the Fault acting on the request
LOG_STATE = "fault_log"  # what the request log records of it


class ResetBefore(Exception):
    """A `reset when=before` rule took the request: nothing is applied."""


async def reset_placeholder(request: Request, exc: Exception) -> Response:
    # Never sent: FaultMiddleware drops it and closes the connection. The request log records
    # status 0, no response.
    return Response(status_code=0)


# --- where a rule acts -------------------------------------------------------------------------


async def arrive(call: Call[Any]) -> None:
    """A `/v1` request with valid parameters: take the rule that acts on it, if any."""
    book = call.runtime.faults
    if book is None or not book.has_rules(call.scope):
        return
    request = call.request
    fault = await book.take(call.db, call.scope, request.method, request.scope["path"])
    if fault is None:
        return
    state = request.scope["state"]
    state[STATE] = fault
    state[LOG_STATE] = fault.log()
    metrics.FAULTS_INJECTED.labels(fault.action).inc()
    if fault.reset_before:
        raise ResetBefore
    if fault.action == "error" and (request.method != "POST" or fault.before_idempotency):
        raise fault.error()


def after_claim(call: Call[Any]) -> None:
    """A POST's Idempotency-Key is claimed (if it has one) and its endpoint begins: an error
    rule's error is raised here, inside the idempotency layer, which keeps it for the key or
    releases the key (failures.keeps_result)."""
    fault: Fault | None = call.request.scope["state"].get(STATE)
    if fault is not None and fault.action == "error" and not fault.before_idempotency:
        raise fault.error()


class ConnectionResetByFault(ConnectionResetError):
    """A reset where the server offers no way to close the connection (an in-process test
    client): the client sees this exception instead of a response."""


class FaultMiddleware:
    """Pure ASGI, outermost: delays or drops the response of a request a rule acted on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})

        async def deliver(message: Message) -> None:
            fault: Fault | None = state.get(STATE)
            if fault is None:
                await send(message)
            elif fault.reset:
                pass  # never sent
            else:
                if fault.action == "delay" and message["type"] == "http.response.start":
                    await asyncio.sleep(fault.delay_seconds)
                await send(message)

        await self.app(scope, receive, deliver)
        fault: Fault | None = state.get(STATE)
        if fault is not None and fault.reset:
            reset = scope.get("extensions", {}).get(RESET_EXTENSION)
            if reset is None:
                raise ConnectionResetByFault(f"connection reset by emulator fault {fault.rule.id}")
            reset()
