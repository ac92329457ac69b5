"""/v1/files, /v1/files/{id}, /v1/files/{id}/contents."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session
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
from filelinks_api.api.idempotency import Idempotency, IdempotencyDep, respond
from filelinks_api.config import Settings
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
from filelinks_api.storage import LocalStorage, StagedFile
from filelinks_api.wire.envelope import StripeJSON, list_envelope
from filelinks_api.wire.form import decode_query
from filelinks_api.wire.openapi import FILE_BYTES, form_body, query_parameters
from filelinks_api.wire.params import RetrieveParams, StripeParams, parse
from filelinks_api.wire.request import INVALID_BODY, Caller, read_multipart

router = APIRouter()


class NoParams(StripeParams):
    pass


@router.post(
    "/v1/files",
    response_model=FileObject,
    openapi_extra=form_body(CreateFileParams, multipart=True, exclude=("file",)),
)
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
    return await upload(
        CreateFileParams, request, caller, session, idem, storage, settings, now, base_url
    )


async def upload(
    model: type[CreateFileParams],
    request: Request,
    caller: Caller,
    session: Session,
    idem: Idempotency,
    storage: LocalStorage,
    settings: Settings,
    now: int,
    base_url: str,
) -> Response:
    """Stream the multipart body to staging, then check it, store it and answer."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise InvalidRequestError(INVALID_BODY)
    query = decode_query(request.scope.get("query_string", b""))
    form = await read_multipart(
        request,
        storage.stage,
        body_limit=settings.max_body_bytes,
        file_limit=lambda fields: files.upload_limit(fields, settings.max_upload_bytes),
    )
    # storage.stage made the sink, so it is a StagedFile
    staged = cast(StagedFile, form.file.sink) if form.file else None
    view = None
    try:
        fields = {**query, **form.fields}
        params = parse(model, fields)
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


@router.get(
    "/v1/files/{file_id}", response_model=FileObject, openapi_extra=query_parameters(RetrieveParams)
)
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


@router.get("/v1/files", response_model=FileList, openapi_extra=query_parameters(ListFilesParams))
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


@router.head("/v1/files/{file_id}/contents", include_in_schema=False)
@router.get("/v1/files/{file_id}/contents", responses=FILE_BYTES)
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
