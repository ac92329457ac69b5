"""uvicorn's HTTP protocol, answering a request it cannot parse with Stripe's envelope.

uvicorn refuses a malformed request itself (raw non-ASCII bytes or a NUL in the request line
or a header, a URL over its limit), before the application sees it, with a text/plain 400.
This subclass sends that 400 as Stripe's error envelope with a Request-Id, like every other
failure, so an SDK can still read it. `filelinks-api serve` selects it (uvicorn's `http=`).
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from filelinks_api.errors import InvalidRequestError
from filelinks_api.ids import request_id
from filelinks_api.wire.envelope import CORS_HEADERS, error_body
from filelinks_api.wire.version import DEFAULT_STRIPE_VERSION

UNPARSABLE = InvalidRequestError(
    "Invalid request: the HTTP request could not be parsed (its request line or headers are"
    " malformed or too long)."
)


def unparsable_response(default_headers: list[tuple[bytes, bytes]]) -> bytes:
    body = error_body(UNPARSABLE)
    headers = [
        *default_headers,
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"request-id", request_id().encode()),
        (b"stripe-version", DEFAULT_STRIPE_VERSION.encode()),
        *CORS_HEADERS,
        (b"connection", b"close"),
    ]
    head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
    return STATUS_LINE[400] + head + b"\r\n" + body


class StripeHttpToolsProtocol(HttpToolsProtocol):
    def send_400_response(self, msg: str) -> None:
        self.transport.write(unparsable_response(list(self.server_state.default_headers)))
        self.transport.close()
