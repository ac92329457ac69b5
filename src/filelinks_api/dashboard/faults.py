"""/dashboard/faults: the fault rules of the key's scope (as /_emulator/faults): add one, see
what each has left, remove one or all."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Depends
from starlette.responses import RedirectResponse, Response

from filelinks_api.dashboard.web import Viewer, filled, page_router, signed_in
from filelinks_api.errors import StripeError
from filelinks_api.schemas import ERROR_TYPES, FAULT_METHODS, CreateFaultParams, render_fault
from filelinks_api.services import faults
from filelinks_api.wire.params import parse

router = page_router()

FIELDS = ("action", "method", "path", "times", "status", "type", "code", "message", "delay_ms")
FAULT_ID = re.compile(r"fault_[A-Za-z0-9]{1,64}")
NOTICES = {
    "added": "Fault rule {fault} added: the next matching requests will fail.",
    "removed": "Fault rule {fault} removed.",
    "cleared": "Every fault rule removed.",
}


async def _faults_page(
    viewer: Viewer, *, error: StripeError | None = None, form: dict[str, Any] | None = None
) -> Response:
    rules = await viewer.runtime.db.read(faults.list_rules, viewer.scope)
    query = viewer.request.query_params
    done, fault = query.get("done", ""), query.get("fault", "")
    notice = None
    if done in NOTICES and (not fault or FAULT_ID.fullmatch(fault)):
        notice = NOTICES[done].format(fault=fault)
    return viewer.page(
        "faults.html",
        status=error.status if error else 200,
        nav="faults",
        rules=[render_fault(rule) for rule in rules],
        notice=notice,
        error=error,
        form=form or {},
        methods=FAULT_METHODS,
        error_types=ERROR_TYPES,
        highlight=fault,
    )


@router.get("/dashboard/faults")
async def fault_rules(viewer: Annotated[Viewer, Depends(signed_in)]) -> Response:
    return await _faults_page(viewer)


@router.post("/dashboard/faults")
async def add_fault(viewer: Annotated[Viewer, Depends(signed_in)]) -> Response:
    data = await viewer.form()
    runtime = viewer.runtime
    fields = filled(data, *FIELDS)
    if data.get("action") == "reset":
        fields.update(filled(data, "when"))
    try:
        params = parse(CreateFaultParams, fields)
        # As POST /_emulator/faults does: the rule commits, then every process is told.
        rule = await runtime.db.write(
            faults.create_rule, runtime.clocks.sync, viewer.scope, params, now=viewer.now
        )
    except StripeError as error:
        return await _faults_page(viewer, error=error, form=data)
    if runtime.faults is not None:
        await runtime.faults.reload(runtime.db)
    await runtime.clocks.sync.published()
    return RedirectResponse(f"/dashboard/faults?done=added&fault={rule.id}", status_code=303)


@router.post("/dashboard/faults/{fault_id}/remove")
async def remove_fault(fault_id: str, viewer: Annotated[Viewer, Depends(signed_in)]) -> Response:
    await viewer.form()
    try:
        await viewer.runtime.db.write(faults.delete_rule, viewer.scope, fault_id)
    except StripeError as error:
        return await _faults_page(viewer, error=error)
    return RedirectResponse(f"/dashboard/faults?done=removed&fault={fault_id}", status_code=303)


@router.post("/dashboard/faults/remove_all")
async def remove_all_faults(viewer: Annotated[Viewer, Depends(signed_in)]) -> Response:
    await viewer.form()
    await viewer.runtime.db.write(faults.delete_rules, viewer.scope)
    return RedirectResponse("/dashboard/faults?done=cleared", status_code=303)
