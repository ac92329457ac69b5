"""A TCP proxy the test controls, between the service and PostgreSQL or the object store.

`cut()` closes every connection and refuses new ones (a server that went down);
`blackhole()` keeps connections open and accepts new ones but forwards nothing either way (a
silent link: the kernel acknowledges, no answer ever comes); `restore()` forwards again
(connections blackholed meanwhile are closed, as a link that comes back after a long silence
would find them reset). It runs its own event loop in a thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tests.s3 import free_port


class Proxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self.mode = "pass"
        self._loop = asyncio.new_event_loop()
        self._writers: set[asyncio.StreamWriter] = set()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-proxy", daemon=True)
        self._server: asyncio.Server | None = None

    def start(self) -> Proxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the proxy did not start")
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._accept, "127.0.0.1", self.port)
        )
        self._ready.set()
        self._loop.run_forever()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "cut":
            writer.close()
            return
        self._writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            self._writers.discard(writer)
            return
        self._writers.add(up_writer)
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )
        for each in (writer, up_writer):
            each.close()
            self._writers.discard(each)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                while self.mode == "blackhole":
                    await asyncio.sleep(0.01)  # swallow: nothing goes through
                    if writer.is_closing():
                        return
                if writer.is_closing():
                    return
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    def _call(self, action: str) -> None:
        async def apply() -> None:
            self.mode = action if action != "restore" else "pass"
            if action in ("cut", "restore"):
                for writer in list(self._writers):
                    writer.close()
                self._writers.clear()

        asyncio.run_coroutine_threadsafe(apply(), self._loop).result(10)

    def cut(self) -> None:
        self._call("cut")

    def blackhole(self) -> None:
        self._call("blackhole")

    def restore(self) -> None:
        self._call("restore")

    def stop(self) -> None:
        if self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
        self._call("cut")
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@contextmanager
def proxy_to(host: str, port: int) -> Iterator[Proxy]:
    proxy = Proxy(host, port).start()
    try:
        yield proxy
    finally:
        proxy.stop()
