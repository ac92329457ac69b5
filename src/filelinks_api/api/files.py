"""/v1/files, /v1/files/{id}, /v1/files/{id}/contents."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from filelinks_api.api.deps import (
    BaseUrlDep,
    NowDep,
    ScopeDep,
    SessionDep,
    SettingsDep,
    StorageDep,
    UploaderDep,
    params_of,
)
from filelinks_api.api.download import stream_file
from filelinks_api.api.idempotency import IdempotencyDep, respond
from filelinks_api.errors import InvalidRequestError
from filelinks_api.repository import Scope
from filelinks_api.schemas import (
    CreateFileParams,
    FileList,
    FileObject,
    ListFilesParams,
    render_file,
)
from filelinks_api.services import files
from filelinks_api.storage import StagedFile
from filelinks_api.wire.envelope import StripeJSON, list_envelope
from filelinks_api.wire.form import decode_query
from filelinks_api.wire.params import RetrieveParams, StripeParams, parse
from filelinks_api.wire.request import INVALID_BODY, read_multipart

router = APIRouter()


class NoParams(StripeParams):
    pass


@router.post("/v1/files", response_model=FileObject)
async def create_file(
    request: Request,
    caller: UploaderDep,
    session: SessionDep,
    idem: IdempotencyDep,
    storage: StorageDep,
    settings: SettingsDep,
    now: NowDep,
    base_url: BaseUrlDep,
) -> Response:
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise InvalidRequestError(INVALID_BODY)
    query = decode_query(request.scope.get("query_string", b""))
    form = await read_multipart(
        request,
        storage.stage,
        body_limit=settings.max_body_bytes,
        file_limit=settings.max_upload_bytes,
    )
    # storage.stage made the sink, so it is a StagedFile
    staged = cast(StagedFile, form.file.sink) if form.file else None
    view = None
    try:
        fields = {**query, **form.fields}
        params = parse(CreateFileParams, fields)
        idem.validated(fields, staged.sha256() if staged is not None else None)
        view = files.create(
            session,
            Scope(caller.account, caller.livemode),
            params,
            staged,
            form.file.filename if form.file else None,
            storage,
            publishable=caller.publishable,
            now=now,
        )
        return respond(
            session, idem, render_file(view.file, view.links, now=now, base_url=base_url)
        )
    except BaseException:
        if staged is not None:
            staged.discard()
        if view is not None:  # bytes were moved into place but the row did not commit
            storage.delete(view.file.id)
        raise


@router.get("/v1/files/{file_id}", response_model=FileObject)
async def retrieve_file(
    file_id: str,
    params: Annotated[RetrieveParams, Depends(params_of(RetrieveParams))],
    scope: ScopeDep,
    session: SessionDep,
    now: NowDep,
    base_url: BaseUrlDep,
) -> Response:
    view = files.retrieve(session, scope, file_id, params.expand)
    return StripeJSON(render_file(view.file, view.links, now=now, base_url=base_url))


@router.get("/v1/files", response_model=FileList)
async def list_files(
    params: Annotated[ListFilesParams, Depends(params_of(ListFilesParams))],
    scope: ScopeDep,
    session: SessionDep,
    now: NowDep,
    base_url: BaseUrlDep,
) -> Response:
    view = files.list_files(session, scope, params)
    data = [
        render_file(row, view.links[row.id], now=now, base_url=base_url) for row in view.page.rows
    ]
    return StripeJSON(list_envelope(data, has_more=view.page.has_more, url="/v1/files"))


@router.api_route("/v1/files/{file_id}/contents", methods=["GET", "HEAD"])
async def file_contents(
    file_id: str,
    request: Request,
    _params: Annotated[NoParams, Depends(params_of(NoParams))],
    scope: ScopeDep,
    session: SessionDep,
    storage: StorageDep,
    now: NowDep,
) -> Response:
    file = files.for_download(session, scope, file_id, now=now)
    return stream_file(request, file, storage)
