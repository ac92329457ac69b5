"""/v1/file_links and /v1/file_links/{id}."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.responses import Response

from filelinks_api.api.deps import BaseUrlDep, NowDep, ScopeDep, SessionDep, params_of
from filelinks_api.api.idempotency import IdempotencyDep, respond
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

router = APIRouter()


def _content(view: LinkView, now: int, base_url: str) -> dict[str, Any]:
    return render_link(
        view.link, now=now, base_url=base_url, file=view.file, file_links=view.file_links
    )


@router.post(
    "/v1/file_links",
    response_model=FileLinkObject,
    openapi_extra=form_body(CreateFileLinkParams),
)
async def create_file_link(
    params: Annotated[CreateFileLinkParams, Depends(params_of(CreateFileLinkParams))],
    scope: ScopeDep,
    session: SessionDep,
    idem: IdempotencyDep,
    now: NowDep,
    base_url: BaseUrlDep,
) -> Response:
    view = file_links.create(session, scope, params, now=now)
    return respond(session, idem, _content(view, now, base_url))


@router.get(
    "/v1/file_links/{link_id}",
    response_model=FileLinkObject,
    openapi_extra=query_parameters(RetrieveParams),
)
async def retrieve_file_link(
    link_id: str,
    params: Annotated[RetrieveParams, Depends(params_of(RetrieveParams))],
    scope: ScopeDep,
    session: SessionDep,
    now: NowDep,
    base_url: BaseUrlDep,
) -> Response:
    view = file_links.retrieve(session, scope, link_id, params.expand)
    return StripeJSON(_content(view, now, base_url))


@router.post(
    "/v1/file_links/{link_id}",
    response_model=FileLinkObject,
    openapi_extra=form_body(UpdateFileLinkParams),
)
async def update_file_link(
    link_id: str,
    params: Annotated[UpdateFileLinkParams, Depends(params_of(UpdateFileLinkParams))],
    scope: ScopeDep,
    session: SessionDep,
    idem: IdempotencyDep,
    now: NowDep,
    base_url: BaseUrlDep,
) -> Response:
    view = file_links.update(session, scope, link_id, params, now=now)
    return respond(session, idem, _content(view, now, base_url))


@router.get(
    "/v1/file_links",
    response_model=FileLinkList,
    openapi_extra=query_parameters(ListFileLinksParams),
)
async def list_file_links(
    params: Annotated[ListFileLinksParams, Depends(params_of(ListFileLinksParams))],
    scope: ScopeDep,
    session: SessionDep,
    now: NowDep,
    base_url: BaseUrlDep,
) -> Response:
    view = file_links.list_links(session, scope, params, now=now)
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
