"""/v1/file_links and /v1/file_links/{id}."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from starlette.responses import Response

from filelinks_api.api.deps import Call, call_of
from filelinks_api.api.idempotency import idempotent
from filelinks_api.api.route import api_router
from filelinks_api.repository import Executor
from filelinks_api.schemas import (
    CreateFileLinkParams,
    FileLinkList,
    FileLinkObject,
    ListFileLinksParams,
    UpdateFileLinkParams,
    render_link,
)
from filelinks_api.services import file_links
from filelinks_api.services.file_links import LinkView
from filelinks_api.wire.envelope import StripeJSON, list_envelope
from filelinks_api.wire.openapi import form_body, query_parameters
from filelinks_api.wire.params import RetrieveParams

router = api_router(lean=True)


def _content(view: LinkView, call: Call[Any]) -> dict[str, Any]:
    return render_link(
        view.link,
        now=call.now,
        base_url=call.base_url,
        file=view.file,
        file_links=view.file_links,
    )


@router.post(
    "/v1/file_links",
    response_model=FileLinkObject,
    openapi_extra=form_body(CreateFileLinkParams),
)
async def create_file_link(
    call: Annotated[Call[CreateFileLinkParams], Depends(call_of(CreateFileLinkParams))],
) -> Response:
    def create(db: Executor) -> dict[str, Any]:
        return _content(file_links.create(db, call.scope, call.params, now=call.now), call)

    async with idempotent(call) as idem:
        return await idem.respond(create)


@router.get(
    "/v1/file_links/{link_id}",
    response_model=FileLinkObject,
    openapi_extra=query_parameters(RetrieveParams),
)
async def retrieve_file_link(
    link_id: str, call: Annotated[Call[RetrieveParams], Depends(call_of(RetrieveParams))]
) -> Response:
    view = await file_links.fetch(call.db, call.scope, link_id, call.params.expand)
    return StripeJSON(_content(view, call))


@router.post(
    "/v1/file_links/{link_id}",
    response_model=FileLinkObject,
    openapi_extra=form_body(UpdateFileLinkParams),
)
async def update_file_link(
    link_id: str,
    call: Annotated[Call[UpdateFileLinkParams], Depends(call_of(UpdateFileLinkParams))],
) -> Response:
    def update(db: Executor) -> dict[str, Any]:
        view = file_links.update(db, call.scope, link_id, call.params, now=call.now)
        return _content(view, call)

    async with idempotent(call) as idem:
        return await idem.respond(update)


@router.get(
    "/v1/file_links",
    response_model=FileLinkList,
    openapi_extra=query_parameters(ListFileLinksParams),
)
async def list_file_links(
    call: Annotated[Call[ListFileLinksParams], Depends(call_of(ListFileLinksParams))],
) -> Response:
    view = await file_links.fetch_list(call.db, call.scope, call.params, now=call.now)
    now, base_url = call.now, call.base_url
    data = [
        render_link(
            row,
            now=now,
            base_url=base_url,
            file=view.files.get(row.file),
            file_links=view.file_links.get(row.file),
        )
        for row in view.page.rows
    ]
    return StripeJSON(list_envelope(data, has_more=view.page.has_more, url="/v1/file_links"))
