"""/_emulator/: test controls that Stripe cannot offer. Not Stripe paths; same API keys;
acting on the caller's account (and Stripe-Account namespace and mode) only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import Response

from filelinks_api.api.deps import Call, call_of
from filelinks_api.api.uploads import upload
from filelinks_api.schemas import (
    ClockParams,
    EmulatorFileParams,
    FileObject,
    ListRequestLogParams,
    render_request_log,
)
from filelinks_api.services import controls, request_log
from filelinks_api.wire.envelope import StripeJSON, list_envelope
from filelinks_api.wire.openapi import form_body, query_parameters
from filelinks_api.wire.params import NoParams

router = APIRouter(prefix="/_emulator", tags=["Emulator controls"])


@router.get("/clock")
async def get_clock(call: Annotated[Call[NoParams], Depends(call_of(NoParams))]) -> Response:
    """The caller's clock: `now`, whether it is `frozen`, and its `offset` from real time."""
    return StripeJSON(call.runtime.clocks.state(call.scope))


@router.post("/clock", openapi_extra=form_body(ClockParams))
async def set_clock(call: Annotated[Call[ClockParams], Depends(call_of(ClockParams))]) -> Response:
    """`frozen_at=<ts>` stops time there; `advance=<seconds>` moves it forward, frozen or
    running; `reset=true` goes back to real time. Affects `created`, `expired`, expiry checks,
    public link URLs, file expiry and idempotency-key pruning of this account only."""
    clocks, params = call.runtime.clocks, call.params
    clock = await call.db.write(
        controls.set_clock,
        clocks,
        call.scope,
        frozen_at=params.frozen_at,
        advance=params.advance,
        reset=params.reset is True,
    )
    await clocks.changed(call.scope, clock)
    return StripeJSON(clocks.state(call.scope))


@router.delete("/data")
async def reset_data(call: Annotated[Call[NoParams], Depends(call_of(NoParams))]) -> Response:
    """Delete the caller's files (and their bytes), file links, idempotency keys and request
    log, and put its clock back to real time."""
    clocks = call.runtime.clocks
    file_ids, clock_reset = await call.db.write(controls.reset_data, clocks, call.scope)
    await call.runtime.write_log(request_log.clear, call.scope)  # a database of its own
    if clock_reset:
        await clocks.changed(call.scope, None)
    await controls.remove_bytes(call.runtime.storage, file_ids)
    return StripeJSON({"deleted": True, "files": len(file_ids)})


@router.post(
    "/files",
    response_model=FileObject,
    openapi_extra=form_body(EmulatorFileParams, multipart=True, exclude=("file",)),
)
async def create_generated_file(
    call: Annotated[Call[EmulatorFileParams], Depends(call_of(EmulatorFileParams, upload=True))],
) -> Response:
    """Like `POST /v1/files`, with any of the 21 purposes, including the ones only Stripe
    creates (sigma_scheduled_query, finance_report_run, ...), so links to them can be tested."""
    return await upload(call)


@router.get("/requests", openapi_extra=query_parameters(ListRequestLogParams))
async def list_requests(
    call: Annotated[Call[ListRequestLogParams], Depends(call_of(ListRequestLogParams))],
) -> Response:
    """The caller's request log, newest first: every authenticated `/v1` request and every
    hit on the caller's public link URLs, with what was sent and what came back. Filters:
    `method`, `path` (a prefix), `status` (404, or a class: 4xx), `idempotency_key`,
    `created`."""
    page = await call.runtime.read_log(request_log.list_entries, call.scope, call.params)
    data = [render_request_log(entry) for entry in page.rows]
    return StripeJSON(list_envelope(data, has_more=page.has_more, url="/_emulator/requests"))


@router.get("/requests/{request_id}")
async def get_request(
    request_id: str, call: Annotated[Call[NoParams], Depends(call_of(NoParams))]
) -> Response:
    """One entry of the caller's request log, by the request's `Request-Id`."""
    entry = await call.runtime.read_log(request_log.get_entry, call.scope, request_id)
    return StripeJSON(render_request_log(entry))


@router.delete("/requests")
async def clear_requests(call: Annotated[Call[NoParams], Depends(call_of(NoParams))]) -> Response:
    """Empty the caller's request log."""
    removed = await call.runtime.write_log(request_log.clear, call.scope)
    return StripeJSON({"deleted": True, "requests": removed})
