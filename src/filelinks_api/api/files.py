"""/v1/files, /v1/files/{id}, /v1/files/{id}/contents."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.responses import Response

from filelinks_api.api.deps import Call, call_of
from filelinks_api.api.download import stream_file
from filelinks_api.api.route import api_router
from filelinks_api.api.uploads import upload
from filelinks_api.schemas import (
    CreateFileParams,
    FileList,
    FileObject,
    ListFilesParams,
    render_file,
)
from filelinks_api.services import files
from filelinks_api.wire.envelope import StripeJSON, list_envelope
from filelinks_api.wire.openapi import FILE_BYTES, form_body, query_parameters
from filelinks_api.wire.params import NoParams, RetrieveParams, path_id

router = api_router(lean=True)


@router.post(
    "/v1/files",
    response_model=FileObject,
    openapi_extra=form_body(CreateFileParams, multipart=True, exclude=("file",)),
)
async def create_file(
    call: Annotated[Call[CreateFileParams], Depends(call_of(CreateFileParams, upload=True))],
) -> Response:
    return await upload(call)


@router.get(
    "/v1/files/{file_id}", response_model=FileObject, openapi_extra=query_parameters(RetrieveParams)
)
async def retrieve_file(
    file_id: str, call: Annotated[Call[RetrieveParams], Depends(call_of(RetrieveParams))]
) -> Response:
    file_id = path_id(file_id)
    view = await files.fetch(call.db, call.scope, file_id, call.params.expand)
    return StripeJSON(render_file(view.file, view.links, now=call.now, base_url=call.base_url))


@router.get("/v1/files", response_model=FileList, openapi_extra=query_parameters(ListFilesParams))
async def list_files(
    call: Annotated[Call[ListFilesParams], Depends(call_of(ListFilesParams))],
) -> Response:
    view = await call.db.read(files.list_files, call.scope, call.params)
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
    file = await call.db.read(files.for_download, call.scope, file_id, now=call.now)
    return await stream_file(call.request, file, call.runtime.storage)
