"""log_barrier.ChannelBarrier over a channel that delivers its messages back to this process:
a log query waits for every live listener's answer, and no longer than it must."""

from __future__ import annotations

import asyncio
from typing import Any

from filelinks_api import log_barrier
from filelinks_api.log_barrier import ChannelBarrier


class Listeners:
    """`clock_listeners` as the barrier reads it: the live ones, changed by the test."""

    def __init__(self, *live: str) -> None:
        self.live = set(live)

    async def read(self, work: Any, *args: Any) -> set[str]:
        return set(self.live)


class LoopbackChannel:
    """A channel whose every message reaches this process's own handlers, on the loop."""

    def __init__(self, listeners: Listeners, *, listening: bool = True) -> None:
        self.id = "this-process"
        self.db = listeners
        self.listening = listening
        self.topics: dict[str, Any] = {}
        self.sent: list[tuple[str, str]] = []

    def subscribe(self, topic: str, handler: Any) -> None:
        self.topics[topic] = handler

    async def send(self, topic: str, body: str) -> None:
        self.sent.append((topic, body))
        asyncio.get_running_loop().call_soon(self.topics[topic], body)


class Writer:
    """A log writer whose entries are written when the test says so."""

    def __init__(self) -> None:
        self.flushed = asyncio.Event()

    async def written(self) -> None:
        await self.flushed.wait()


def test_a_query_waits_until_this_process_has_written_what_it_was_handed() -> None:
    async def scenario() -> None:
        writer = Writer()
        channel = LoopbackChannel(Listeners("this-process"))
        barrier = ChannelBarrier(channel, writer.written)  # type: ignore[arg-type]
        query = asyncio.ensure_future(barrier.settle(5))
        # asked, and not answered: the writer has not written
        assert not (await asyncio.wait([query], timeout=0.05))[0]
        writer.flushed.set()
        assert await asyncio.wait_for(query, 1) is True
        topics = [topic for topic, _ in channel.sent]
        assert topics == [log_barrier.ASK, log_barrier.ANSWER]
        await barrier.close()

    asyncio.run(scenario())


def test_a_listener_that_never_answers_holds_a_query_up_to_its_timeout_only() -> None:
    async def scenario() -> None:
        writer = Writer()
        writer.flushed.set()
        channel = LoopbackChannel(Listeners("this-process", "a-silent-process"))
        barrier = ChannelBarrier(channel, writer.written)  # type: ignore[arg-type]
        started = asyncio.get_running_loop().time()
        assert await barrier.settle(0.6) is False
        took = asyncio.get_running_loop().time() - started
        assert 0.6 <= took < 1.0
        # asked again meanwhile, for a listener that was reconnecting
        assert [body for topic, body in channel.sent if topic == log_barrier.ASK].count(
            channel.sent[0][1]
        ) >= 2
        await barrier.close()

    asyncio.run(scenario())


def test_a_listener_whose_heartbeat_stops_is_no_longer_waited_for() -> None:
    async def scenario() -> None:
        writer = Writer()
        writer.flushed.set()
        listeners = Listeners("this-process", "a-killed-process")
        barrier = ChannelBarrier(LoopbackChannel(listeners), writer.written)  # type: ignore[arg-type]
        query = asyncio.ensure_future(barrier.settle(5))
        assert not (await asyncio.wait([query], timeout=0.05))[0]  # the other has not answered
        listeners.live.discard("a-killed-process")  # its heartbeat aged out
        assert await asyncio.wait_for(query, 1) is True  # at the next look, within 0.25 s
        await barrier.close()

    asyncio.run(scenario())


def test_not_listening_a_query_waits_for_this_process_only_and_says_so() -> None:
    async def scenario() -> None:
        writer = Writer()  # never writes
        channel = LoopbackChannel(Listeners("this-process"), listening=False)
        barrier = ChannelBarrier(channel, writer.written)  # type: ignore[arg-type]
        assert await barrier.settle(0.05) is False  # no exception: the query goes on
        assert channel.sent == []  # no one would hear the answers
        writer.flushed.set()
        assert await barrier.settle(1) is False
        await barrier.close()

    asyncio.run(scenario())
