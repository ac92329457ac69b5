"""uvicorn's HTTP protocol, answering a request it cannot parse with Stripe's envelope, and
able to drop a connection on purpose.

uvicorn refuses a malformed request itself (raw non-ASCII bytes or a NUL in the request line
or a header, a URL over its limit), before the application sees it, with a text/plain 400.
This subclass sends that 400 as Stripe's error envelope with a Request-Id, like every other
failure, so an SDK can still read it. `filelinks-api serve` selects it (uvicorn's `http=`).

It also gives every request `scope["extensions"][RESET_EXTENSION]`, a function that resets
the connection (TCP RST) with no response, for fault rules (api/injection.py): ASGI has no
way to say "no response", and uvicorn answers 500 to an application that returns without one.
Uses uvicorn's `HttpToolsProtocol` internals (`scope`, `cycle`, `transport`): pinned to the
uvicorn minor version tests/e2e/test_faults.py covers (pyproject).
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from filelinks_api.errors import InvalidRequestError
from filelinks_api.ids import request_id
from filelinks_api.wire.envelope import CORS_HEADERS, error_body
from filelinks_api.wire.version import DEFAULT_STRIPE_VERSION

RESET_EXTENSION = "filelinks.reset"

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
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Nagle's algorithm off, whatever the loop. `serve --workers N` binds the listening
        socket in the supervisor with `proto` 0, and asyncio's loop turns Nagle off only on
        connections whose socket says IPPROTO_TCP (uvloop does on every TCP connection):
        without uvloop (Windows) every keep-alive response waited for the client's delayed
        ACK, 43 ms a request (uvicorn issue 3149)."""
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        extensions: dict[str, Any] = self.scope.setdefault("extensions", {})
        extensions[RESET_EXTENSION] = self.reset

    def reset(self) -> None:
        """Close the connection at once with no response: an RST, as a peer that crashed or a
        proxy that gave up sends. The request's cycle counts as disconnected, so what the
        application still sends is dropped and uvicorn adds no 500 of its own."""
        if self.cycle is not None:
            self.cycle.disconnected = True
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            # linger 0: close() sends RST instead of FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()

    def send_400_response(self, msg: str) -> None:
        self.transport.write(unparsable_response(list(self.server_state.default_headers)))
        self.transport.close()
