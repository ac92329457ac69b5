"""/dashboard/clock: the account's time (the test clock of /_emulator/clock); freeze, advance,
reset."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from starlette.responses import RedirectResponse, Response

from filelinks_api.dashboard import forms
from filelinks_api.dashboard.web import Viewer, page_router, signed_in, text
from filelinks_api.errors import InvalidRequestError, StripeError
from filelinks_api.schemas import ClockParams
from filelinks_api.services import controls
from filelinks_api.wire.params import parse

router = page_router()

NOTICES = {
    "frozen": "The clock is frozen.",
    "advanced": "The clock moved forward.",
    "reset": "The clock is back to real time.",
}


def _clock_page(
    viewer: Viewer, *, error: StripeError | None = None, form: dict[str, Any] | None = None
) -> Response:
    done = viewer.request.query_params.get("done", "")
    return viewer.page(
        "clock.html",
        status=error.status if error else 200,
        nav="clock",
        state=viewer.clock,
        real_now=viewer.runtime.clocks.base.now(),
        notice=NOTICES.get(done),
        error=error,
        form=form or {},
        units=forms.UNITS,
    )


@router.get("/dashboard/clock")
async def clock(viewer: Annotated[Viewer, Depends(signed_in)]) -> Response:
    return _clock_page(viewer)


def _params(data: dict[str, Any], now: int) -> tuple[ClockParams, str]:
    action = text(data, "action")
    if action == "freeze_now":
        return parse(ClockParams, {"frozen_at": str(now)}), "frozen"
    if action == "freeze":
        return parse(ClockParams, {"frozen_at": str(forms.utc_timestamp(data, "frozen_at"))}), (
            "frozen"
        )
    if action == "advance":
        return parse(ClockParams, {"advance": str(forms.advance_seconds(data))}), "advanced"
    if action == "reset":
        return parse(ClockParams, {"reset": "true"}), "reset"
    raise InvalidRequestError("Choose freeze, advance or reset.", param="action")


@router.post("/dashboard/clock")
async def set_clock(viewer: Annotated[Viewer, Depends(signed_in)]) -> Response:
    data = await viewer.form()
    clocks = viewer.runtime.clocks
    try:
        params, done = _params(data, viewer.now)
        # As POST /_emulator/clock does: the change commits, then every process is told.
        changed = await viewer.runtime.db.write(
            controls.set_clock,
            clocks,
            viewer.scope,
            frozen_at=params.frozen_at,
            advance=params.advance,
            reset=params.reset is True,
        )
    except StripeError as error:
        return _clock_page(viewer, error=error, form=data)
    await clocks.changed(viewer.scope, changed)
    return RedirectResponse(f"/dashboard/clock?done={done}", status_code=303)
