"""/v1/files, /v1/files/{id}, /v1/files/{id}/contents."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import APIRouter, Depends
from starlette.responses import Response

from filelinks_api.api.deps import Call, Context, call_of, uploader
from filelinks_api.api.download import stream_file
from filelinks_api.api.idempotency import idempotent, respond
from filelinks_api.errors import InvalidRequestError
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
from filelinks_api.wire.openapi import FILE_BYTES, form_body, query_parameters
from filelinks_api.wire.params import RetrieveParams, StripeParams, parse
from filelinks_api.wire.request import INVALID_BODY, read_multipart

router = APIRouter()


class NoParams(StripeParams):
    pass


@router.post(
    "/v1/files",
    response_model=FileObject,
    openapi_extra=form_body(CreateFileParams, multipart=True, exclude=("file",)),
)
async def create_file(context: Annotated[Context, Depends(uploader)]) -> Response:
    return await upload(CreateFileParams, context)


async def upload(model: type[CreateFileParams], context: Context) -> Response:
    """Stream the multipart body to staging, then check it, store it and answer."""
    request, runtime = context.request, context.runtime
    settings, storage = runtime.settings, runtime.storage
    with runtime.sessions(True) as session:
        async with idempotent(context, session, None) as idem:
            content_type = request.headers.get("content-type", "").lower()
            if not content_type.startswith("multipart/form-data"):
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
            prepared = None
            try:
                fields = {**query, **form.fields}
                params = parse(model, fields)
                idem.validated(fields, staged.sha256() if staged is not None else None)
                prepared = files.prepare(
                    context.scope,
                    params,
                    staged,
                    form.file.filename if form.file else None,
                    storage,
                    publishable=context.caller.publishable,
                    now=context.now,
                )
                # Only now the write lock: not while the bytes were checked and synced.
                await runtime.db.begin_write(session)
                view = files.record(session, context.scope, prepared, now=context.now)
                content = render_file(
                    view.file, view.links, now=context.now, base_url=context.base_url
                )
                return respond(session, idem, content)
            except BaseException:
                if staged is not None:
                    staged.discard()
                if prepared is not None:  # bytes were moved into place but the row did not commit
                    storage.delete(prepared.row["id"])
                raise


@router.get(
    "/v1/files/{file_id}", response_model=FileObject, openapi_extra=query_parameters(RetrieveParams)
)
async def retrieve_file(
    file_id: str, call: Annotated[Call[RetrieveParams], Depends(call_of(RetrieveParams))]
) -> Response:
    with call.reading() as session:
        view = files.retrieve(session, call.scope, file_id, call.params.expand)
    return StripeJSON(render_file(view.file, view.links, now=call.now, base_url=call.base_url))


@router.get("/v1/files", response_model=FileList, openapi_extra=query_parameters(ListFilesParams))
async def list_files(
    call: Annotated[Call[ListFilesParams], Depends(call_of(ListFilesParams))],
) -> Response:
    with call.reading() as session:
        view = files.list_files(session, call.scope, call.params)
    now, base_url = call.now, call.base_url
    data = [
        render_file(row, view.links[row.id], now=now, base_url=base_url) for row in view.page.rows
    ]
    return StripeJSON(list_envelope(data, has_more=view.page.has_more, url="/v1/files"))


@router.head("/v1/files/{file_id}/contents", include_in_schema=False)
@router.get("/v1/files/{file_id}/contents", responses=FILE_BYTES)
async def file_contents(
    file_id: str, call: Annotated[Call[NoParams], Depends(call_of(NoParams))]
) -> Response:
    with call.reading() as session:
        file = files.for_download(session, call.scope, file_id, now=call.now)
    return stream_file(call.request, file, call.runtime.storage)
