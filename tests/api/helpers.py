"""The requests API tests make over and over: an upload, a file link, an error envelope.

`upload` and `post_link` return the response whatever its status; `uploaded` and
`create_link` assert a 200 and return the object.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from tests import samples


def upload(
    client: httpx.Client,
    content: bytes | None = None,
    filename: str = "a.pdf",
    *,
    purpose: str | None = "dispute_evidence",
    fields: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    content_type: str = "application/octet-stream",
    path: str = "/v1/files",
) -> httpx.Response:
    """A multipart upload of `content` (a PDF unless given); `purpose=None` leaves it out."""
    data: dict[str, Any] = {} if purpose is None else {"purpose": purpose}
    data.update(fields or {})
    return client.post(
        path,
        data=data,
        files={"file": (filename, samples.pdf() if content is None else content, content_type)},
        headers=headers,
    )


def uploaded(
    client: httpx.Client, content: bytes | None = None, filename: str = "a.pdf", **kw: Any
) -> dict[str, Any]:
    response = upload(client, content, filename, **kw)
    assert response.status_code == 200, response.text
    file: dict[str, Any] = response.json()
    return file


def post_link(
    client: httpx.Client, file_id: str, headers: Mapping[str, str] | None = None, **params: Any
) -> httpx.Response:
    return client.post("/v1/file_links", data={"file": file_id, **params}, headers=headers)


def create_link(
    client: httpx.Client, file_id: str, headers: Mapping[str, str] | None = None, **params: Any
) -> dict[str, Any]:
    response = post_link(client, file_id, headers, **params)
    assert response.status_code == 200, response.text
    link: dict[str, Any] = response.json()
    return link


def error_of(response: httpx.Response, status: int = 400) -> dict[str, Any]:
    """The error object, without its request_log_url, which is checked here when present."""
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    check_request_log_url(response, error)
    return error


def check_request_log_url(response: httpx.Response, error: dict[str, Any]) -> None:
    """An authenticated request's error links to its own entry in the dashboard's request
    log; the link is removed from `error`, so the rest can be compared whole."""
    url = error.pop("request_log_url", None)
    if url is not None:
        base = f"{response.request.url.scheme}://{response.request.url.netloc.decode()}"
        assert url == f"{base}/dashboard/logs/{response.headers['request-id']}"


def invalid_request(response: httpx.Response, status: int = 400) -> dict[str, Any]:
    """`error_of`, also checking the type is invalid_request_error."""
    error = error_of(response, status)
    assert error["type"] == "invalid_request_error"
    return error


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
