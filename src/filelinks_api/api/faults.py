"""/_emulator/faults: the caller's fault rules (services/faults.py; where they act:
api/injection.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import Response

from filelinks_api.api.deps import Call, call_of
from filelinks_api.schemas import CreateFaultParams, FaultList, FaultObject, render_fault
from filelinks_api.services import faults
from filelinks_api.wire.envelope import StripeJSON, list_envelope
from filelinks_api.wire.openapi import form_body
from filelinks_api.wire.params import NoParams

router = APIRouter(prefix="/_emulator", tags=["Emulator controls"])


@router.post("/faults", response_model=FaultObject, openapi_extra=form_body(CreateFaultParams))
async def create_fault(
    call: Annotated[Call[CreateFaultParams], Depends(call_of(CreateFaultParams))],
) -> Response:
    """Add a fault rule to the caller's scope: its `/v1` requests matching `method` and `path`
    (a prefix) fail on demand, `times` times (default 1), oldest rule first, one per request.
    `action=error`: Stripe's error for `status` (default 500; `type`, `code`, `message`
    default to Stripe's own body for that status, with its `Stripe-Should-Retry`).
    `action=delay`: the response leaves `delay_ms` (0-60000) late. `action=reset`: the
    connection closes with no response, `when=before` nothing applied, `when=after` applied
    and committed (the lost response). Every worker and replica applies the rule at once."""
    runtime = call.runtime
    rule = await call.db.write(
        faults.create_rule, runtime.clocks.sync, call.scope, call.params, now=call.now
    )
    if runtime.faults is not None:
        await runtime.faults.reload(call.db)
    await runtime.clocks.sync.published()
    return StripeJSON(render_fault(rule))


@router.get("/faults", response_model=FaultList)
async def list_faults(call: Annotated[Call[NoParams], Depends(call_of(NoParams))]) -> Response:
    """The caller's fault rules, newest first, spent ones (`remaining: 0`) included."""
    rules = await call.db.read(faults.list_rules, call.scope)
    data = [render_fault(rule) for rule in rules]
    return StripeJSON(list_envelope(data, has_more=False, url="/_emulator/faults"))


@router.delete("/faults/{fault_id}")
async def delete_fault(
    fault_id: str, call: Annotated[Call[NoParams], Depends(call_of(NoParams))]
) -> Response:
    """Remove one of the caller's fault rules."""
    await call.db.write(faults.delete_rule, call.scope, fault_id)
    return StripeJSON({"id": fault_id, "object": "emulator.fault", "deleted": True})


@router.delete("/faults")
async def clear_faults(call: Annotated[Call[NoParams], Depends(call_of(NoParams))]) -> Response:
    """Remove all the caller's fault rules."""
    removed = await call.db.write(faults.delete_rules, call.scope)
    return StripeJSON({"deleted": True, "faults": removed})
