"""What every hostile request must leave behind: a Stripe error envelope, never a 5xx."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx

REQUEST_ID = re.compile(r"req_[A-Za-z0-9]{14}")
BOUNDARY = b"9051914041544843365"
MULTIPART = {"Content-Type": "multipart/form-data; boundary=" + BOUNDARY.decode()}


def stripe_error(response: httpx.Response, status: int | None = None) -> dict[str, Any]:
    """A 4xx with Stripe's envelope and a Request-Id; returns the `error` object."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    if status is not None:
        assert response.status_code == status, response.text[:500]
    assert REQUEST_ID.fullmatch(response.headers.get("request-id", "")), response.headers
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"], body
    error: dict[str, Any] = body["error"]
    assert isinstance(error["type"], str)
    assert error["type"]
    assert isinstance(error["message"], str)
    assert error["message"]
    return error


def answered(response: httpx.Response) -> None:
    """Any answer but a 5xx; a failure is Stripe's envelope."""
    assert response.status_code < 500, (response.status_code, response.text[:500])
    assert REQUEST_ID.fullmatch(response.headers.get("request-id", ""))
    if response.status_code >= 400:
        stripe_error(response)


def part(name: bytes, value: bytes, filename: bytes | None = None) -> bytes:
    disposition = b'Content-Disposition: form-data; name="' + name + b'"'
    if filename is not None:
        disposition += b'; filename="' + filename + b'"\r\nContent-Type: application/octet-stream'
    return disposition + b"\r\n\r\n" + value


def multipart(*parts: bytes, closed: bool = True) -> bytes:
    body = b"".join(b"--" + BOUNDARY + b"\r\n" + p + b"\r\n" for p in parts)
    return body + (b"--" + BOUNDARY + b"--\r\n" if closed else b"")


def staged_files(files_dir: Path) -> list[Path]:
    return sorted((files_dir / "tmp").glob("*"))


def stored_files(files_dir: Path) -> list[Path]:
    return sorted(p for p in (files_dir / "objects").glob("**/*") if p.is_file())
