"""/_emulator/: test controls that Stripe cannot offer. Not Stripe paths; same API keys;
acting on the caller's account (and Stripe-Account namespace and mode) only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from filelinks_api.api.deps import (
    BaseUrlDep,
    ClocksDep,
    NowDep,
    ScopeDep,
    SessionDep,
    SettingsDep,
    StorageDep,
    UploaderDep,
    params_of,
)
from filelinks_api.api.files import NoParams, upload
from filelinks_api.api.idempotency import IdempotencyDep
from filelinks_api.schemas import ClockParams, EmulatorFileParams, FileObject
from filelinks_api.services import controls
from filelinks_api.wire.envelope import StripeJSON
from filelinks_api.wire.openapi import form_body

router = APIRouter(prefix="/_emulator", tags=["Emulator controls"])


@router.get("/clock")
async def get_clock(
    _params: Annotated[NoParams, Depends(params_of(NoParams))],
    scope: ScopeDep,
    clocks: ClocksDep,
) -> Response:
    """The caller's clock: `now`, whether it is `frozen`, and its `offset` from real time."""
    return StripeJSON(clocks.state(scope))


@router.post("/clock", openapi_extra=form_body(ClockParams))
async def set_clock(
    params: Annotated[ClockParams, Depends(params_of(ClockParams))],
    scope: ScopeDep,
    session: SessionDep,
    clocks: ClocksDep,
) -> Response:
    """`frozen_at=<ts>` stops time there; `advance=<seconds>` moves it forward, frozen or
    running; `reset=true` goes back to real time. Affects `created`, `expired`, expiry checks,
    public link URLs, file expiry and idempotency-key pruning of this account only."""
    clock = controls.set_clock(
        session,
        clocks,
        scope,
        frozen_at=params.frozen_at,
        advance=params.advance,
        reset=params.reset is True,
    )
    session.commit()
    clocks.changed(scope, clock)
    return StripeJSON(clocks.state(scope))


@router.delete("/data")
async def reset_data(
    _params: Annotated[NoParams, Depends(params_of(NoParams))],
    scope: ScopeDep,
    session: SessionDep,
    storage: StorageDep,
) -> Response:
    """Delete the caller's files (and their bytes), file links and idempotency keys."""
    file_ids = controls.reset_data(session, scope)
    session.commit()
    controls.remove_bytes(storage, file_ids)
    return StripeJSON({"deleted": True, "files": len(file_ids)})


@router.post(
    "/files",
    response_model=FileObject,
    openapi_extra=form_body(EmulatorFileParams, multipart=True, exclude=("file",)),
)
async def create_generated_file(
    request: Request,
    caller: UploaderDep,
    session: SessionDep,
    idem: IdempotencyDep,
    storage: StorageDep,
    settings: SettingsDep,
    now: NowDep,
    base_url: BaseUrlDep,
) -> Response:
    """Like `POST /v1/files`, with any of the 21 purposes, including the ones only Stripe
    creates (sigma_scheduled_query, finance_report_run, ...), so links to them can be tested."""
    return await upload(
        EmulatorFileParams, request, caller, session, idem, storage, settings, now, base_url
    )
