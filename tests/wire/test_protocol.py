"""wire/protocol: uvicorn's HTTP protocol as `filelinks-api serve` runs it."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from filelinks_api.wire.protocol import StripeHttpToolsProtocol


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:  # pragma: no cover
    pass


def test_a_connection_accepted_from_a_listener_passed_down_sends_without_nagles_delay() -> None:
    """`serve --workers N` binds the listening socket in the supervisor and passes it to the
    workers, with `proto` 0; asyncio's loop turns Nagle's algorithm off only on connections
    whose socket says IPPROTO_TCP (uvloop does on every TCP connection). Without uvloop (on
    Windows, say) every keep-alive response then waited for the client's delayed ACK: 43 ms a
    request, 364 req/s at 16 connections against 9,000 with one worker."""

    async def scenario() -> int:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # as uvicorn binds it
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert listener.proto == 0
        config = uvicorn.Config(_app, log_level="warning")
        loop = asyncio.get_running_loop()
        connected: asyncio.Future[asyncio.Transport] = loop.create_future()

        class Watched(StripeHttpToolsProtocol):
            def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
                super().connection_made(transport)
                connected.set_result(transport)

        server = await loop.create_server(lambda: Watched(config, ServerState(), {}), sock=listener)
        _, writer = await asyncio.open_connection(*listener.getsockname())
        transport = await asyncio.wait_for(connected, 10)
        accepted = transport.get_extra_info("socket")
        nodelay = accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        writer.close()
        server.close()
        await server.wait_closed()
        return int(nodelay)

    # asyncio's own loop, whatever the policy: uvloop turns Nagle off by itself
    with asyncio.Runner(loop_factory=asyncio.SelectorEventLoop) as runner:
        assert runner.run(scenario()) == 1
