"""Stripe's JSON: the params each endpoint accepts, the objects it returns, `to_stripe()`.

Rows are not wire shape: `to_stripe_*` is the one bridge, computing `expired`, `url`, the
embedded `links` list and expansions. Output models (for the OpenAPI document) have no
defaults, so every key is always present, `null` where absent.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

import orjson
from pydantic import BaseModel, BeforeValidator

from filelinks_api.clock import expired
from filelinks_api.models import FaultRuleRow, FileLinkRow, FileRow, RequestLogRow
from filelinks_api.purposes import ALL_PURPOSES, UPLOAD_PURPOSES, downloadable
from filelinks_api.wire.params import (
    MAX_STRING_LENGTH,
    NO_EXPANSIONS,
    Bool,
    Expand,
    Int,
    LimitedStr,
    ListParams,
    Metadata,
    Str,
    StripeParams,
    check_length,
    one_of,
    param_error,
    to_int,
    to_str,
)
from filelinks_api.wire.request import uploaded_by_platform

if TYPE_CHECKING:
    from filelinks_api.repository import Page

# --- params -----------------------------------------------------------------------------------


def _not_a_file(value: Any) -> None:
    raise param_error("invalid_hash")


class FileLinkData(StripeParams):
    create: Bool
    expires_at: Int | None = None
    metadata: Metadata = None


class CreateFileParams(StripeParams):
    purpose: Annotated[str, one_of(*UPLOAD_PURPOSES)]
    file_link_data: FileLinkData | None = None
    expand: Expand = NO_EXPANSIONS
    # The file itself arrives as a multipart file part; as a plain field it is refused.
    file: Annotated[None, BeforeValidator(_not_a_file)] = None


class EmulatorFileParams(CreateFileParams):
    """`POST /_emulator/files`: any of the 21 purposes, the Stripe-generated ones included."""

    purpose: Annotated[str, one_of(*ALL_PURPOSES)]


class ClockParams(StripeParams):
    frozen_at: Int | None = None
    advance: Int | None = None
    reset: Bool | None = None


class ListFilesParams(ListParams):
    # The spec bounds these cursors (maxLength 5000) but not those of /v1/file_links.
    starting_after: LimitedStr | None = None
    ending_before: LimitedStr | None = None
    purpose: Annotated[str, one_of(*ALL_PURPOSES, max_length=MAX_STRING_LENGTH)] | None = None


class CreateFileLinkParams(StripeParams):
    file: LimitedStr
    expires_at: Int | None = None
    metadata: Metadata = None
    expand: Expand = NO_EXPANSIONS


def _update_expires_at(value: Any) -> int | Literal["now"] | None:
    if value == "":
        return None  # never expires
    if value == "now":
        return "now"
    if isinstance(value, str):
        check_length(value)  # the spec: anyOf(string "now" maxLength 5000, integer, "")
    return to_int(value)


class UpdateFileLinkParams(StripeParams):
    """Fields not sent stay unchanged: check `model_fields_set`."""

    expires_at: Annotated[
        int | Literal["now"] | None,
        BeforeValidator(_update_expires_at, json_schema_input_type=int | Literal["now", ""]),
    ] = None
    metadata: Metadata = None
    expand: Expand = NO_EXPANSIONS


class ListFileLinksParams(ListParams):
    expired: Bool | None = None
    file: LimitedStr | None = None


def _status_filter(value: Any) -> str:
    text = str(value).strip().lower()
    if re.fullmatch(r"[1-5](\d\d|xx)", text) is None:
        raise param_error(
            "stripe",
            message="Invalid status: give a code (404) or a class (4xx).",
            param="status",
        )
    return text


class ListRequestLogParams(ListParams):
    """GET /_emulator/requests: the caller's request log, newest first."""

    method: Str | None = None
    path: Str | None = None  # a prefix
    status: Annotated[str, BeforeValidator(_status_filter)] | None = None
    idempotency_key: Str | None = None


FAULT_METHODS = ("GET", "POST", "DELETE")
ERROR_TYPES = ("api_error", "card_error", "idempotency_error", "invalid_request_error")


def _fault_method(value: Any) -> str:
    text = to_str(value).upper()
    if text not in FAULT_METHODS:
        raise param_error("invalid_enum", choices=FAULT_METHODS)
    return text


class CreateFaultParams(StripeParams):
    """POST /_emulator/faults (emulator, not Stripe). Which parameters go with which action is
    services/faults.py's to check."""

    action: Annotated[str, one_of("error", "delay", "reset")]
    method: (
        Annotated[
            str, BeforeValidator(_fault_method, json_schema_input_type=Literal[FAULT_METHODS])
        ]
        | None
    ) = None
    path: LimitedStr | None = None  # a prefix of the request path, /v1...
    times: Int = 1
    status: Int | None = None
    type: Annotated[str, one_of(*ERROR_TYPES)] | None = None
    code: LimitedStr | None = None
    message: LimitedStr | None = None
    delay_ms: Int | None = None
    when: Annotated[str, one_of("before", "after")] | None = None


# --- objects ----------------------------------------------------------------------------------


class FaultObject(BaseModel):
    """A fault rule (emulator, not Stripe)."""

    id: str
    object: Literal["emulator.fault"]
    action: Literal["error", "delay", "reset"]
    method: str | None
    path: str | None
    status: int | None
    type: str | None
    code: str | None
    message: str | None
    delay_ms: int | None
    when: Literal["before", "after"] | None
    times: int
    remaining: int
    created: int


class FaultList(BaseModel):
    object: Literal["list"]
    data: list[FaultObject]
    has_more: bool
    url: str


class FileLinkObject(BaseModel):
    id: str
    object: Literal["file_link"]
    created: int
    expired: bool
    expires_at: int | None
    file: str | FileObject
    livemode: bool
    metadata: dict[str, str]
    url: str | None


class FileLinkList(BaseModel):
    object: Literal["list"]
    data: list[FileLinkObject]
    has_more: bool
    url: str


class FileObject(BaseModel):
    id: str
    object: Literal["file"]
    created: int
    expires_at: int | None
    filename: str | None
    links: FileLinkList | None
    purpose: str
    size: int
    title: str | None
    type: str | None
    url: str | None


class FileList(BaseModel):
    object: Literal["list"]
    data: list[FileObject]
    has_more: bool
    url: str


FileLinkObject.model_rebuild()


class ErrorObject(BaseModel):
    type: Literal["api_error", "idempotency_error", "invalid_request_error"]
    message: str
    code: str | None = None
    doc_url: str | None = None
    param: str | None = None


class ErrorEnvelope(BaseModel):
    error: ErrorObject


# The OpenAPI `responses` of every route: the app's own, and those of the routers whose routes
# it takes as its own (api/route.add_routes), which the app's do not reach.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "default": {"model": ErrorEnvelope, "description": "Stripe error envelope"}
}


# --- rows to Stripe JSON ----------------------------------------------------------------------


def to_stripe_link(
    link: FileLinkRow, *, now: int, base_url: str, file: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "id": link.id,
        "object": "file_link",
        "created": link.created,
        "expired": expired(link.expires_at, now),
        "expires_at": link.expires_at,
        "file": file if file is not None else link.file,
        "livemode": link.livemode,
        "metadata": link.metadata,
        "url": f"{base_url}/links/{link.token}",
    }


def to_stripe_file(
    file: FileRow,
    *,
    links: list[dict[str, Any]],
    links_have_more: bool,
    base_url: str,
    downloadable: bool,
) -> dict[str, Any]:
    return {
        "id": file.id,
        "object": "file",
        "created": file.created,
        "expires_at": file.expires_at,
        "filename": file.filename,
        "links": {
            "object": "list",
            "data": links,
            "has_more": links_have_more,
            "url": f"/v1/file_links?file={file.id}",
        },
        "purpose": file.purpose,
        "size": file.size,
        "title": file.title,
        "type": file.type,
        "url": f"{base_url}/v1/files/{file.id}/contents" if downloadable else None,
    }


def render_file(
    file: FileRow, links: Page[FileLinkRow], *, now: int, base_url: str
) -> dict[str, Any]:
    return to_stripe_file(
        file,
        links=[to_stripe_link(link, now=now, base_url=base_url) for link in links.rows],
        links_have_more=links.has_more,
        base_url=base_url,
        downloadable=downloadable(file.purpose, by_platform=uploaded_by_platform(file.account)),
    )


def render_link(
    link: FileLinkRow,
    *,
    now: int,
    base_url: str,
    file: FileRow | None = None,
    file_links: Page[FileLinkRow] | None = None,
) -> dict[str, Any]:
    expanded = None
    if file is not None and file_links is not None:
        expanded = render_file(file, file_links, now=now, base_url=base_url)
    return to_stripe_link(link, now=now, base_url=base_url, file=expanded)


def render_fault(rule: FaultRuleRow) -> dict[str, Any]:
    return {
        "id": rule.id,
        "object": "emulator.fault",
        "action": rule.action,
        "method": rule.method,
        "path": rule.path,
        "status": rule.status,
        "type": rule.type,
        "code": rule.code,
        "message": rule.message,
        "delay_ms": rule.delay_ms,
        "when": rule.reset_when,
        "times": rule.times,
        "remaining": rule.remaining,
        "created": rule.created,
    }


def render_request_log(entry: RequestLogRow) -> dict[str, Any]:
    """A request log entry as the emulator's API returns it."""
    response: Any = None
    if entry.response is not None:
        try:
            response = orjson.loads(entry.response)
        except orjson.JSONDecodeError:  # cut at the size limit: the text, marked
            response = {"truncated": True, "text": entry.response}
    return {
        "id": entry.id,
        "object": "request_log",
        "created": entry.created,
        "livemode": entry.livemode,
        "method": entry.method,
        "path": entry.path,
        "query": entry.query,
        "status": entry.status,
        "duration_ms": entry.duration_ms,
        "idempotency_key": entry.idempotency_key,
        "idempotent_replayed": entry.idempotent_replayed,
        "stripe_version": entry.stripe_version,
        "stripe_account": entry.stripe_account,
        "client": entry.client,
        "request": entry.request,
        "response": response,
        "error": entry.error,
        "fault": entry.fault,
    }
