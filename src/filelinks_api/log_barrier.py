"""Read-your-requests across replicas on PostgreSQL, without holding answers back for their
log entries.

Replicas share nothing but the database, where the request log is a table: a logged response
goes out as soon as its entry is handed to its process's log writer, which commits entries in
the background, batch after batch (api/request_log.py). What keeps read-your-requests (once a
client has its response, any log query that starts afterwards, through any replica, finds the
entry) is a barrier over the channel every serving process already listens on
(services/clock_sync.ClockChannel):

1. the querying process reads which listeners are alive (`clock_listeners`, a heartbeat in
   the last ALIVE_SECONDS), then NOTIFYs "log-settle:<token>";
2. each process, on that message, waits until its writer has settled every entry it was
   handed before the message came (written or given up), and NOTIFYs
   "log-settled:<token>:<its listener id>";
3. the query goes on once every listener of step 1 has answered. One whose heartbeat stops
   meanwhile (a killed replica) is no longer waited for; the question is asked again every
   ASK_AGAIN_SECONDS (a listener that was reconnecting missed it); and after the writer's
   settle timeout the query goes on anyway, with a warning.

Any entry a client has the answer of was handed before the client sent its log query, so
before step 1's message reached its process: step 2 covers it. The listeners are read before
the question is sent: a listener in that set listened before its row was written, so it hears
the question.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable

from filelinks_api import repository
from filelinks_api.services.clock_sync import ALIVE_SECONDS, ClockChannel

log = logging.getLogger("filelinks_api.error")

ASK = "log-settle"
ANSWER = "log-settled"
ASK_AGAIN_SECONDS = 0.25


class ChannelBarrier:
    """This process's side of the barrier: it answers the others' questions once `written`
    (its log writer's) returns, and asks them all before a log query (`settle`)."""

    def __init__(self, channel: ClockChannel, written: Callable[[], Awaitable[None]]) -> None:
        self.channel = channel
        self.written = written
        self._asked: dict[str, tuple[set[str], asyncio.Event]] = {}  # token: who answered
        self._answering: set[asyncio.Task[None]] = set()
        channel.subscribe(ASK, self._on_ask)
        channel.subscribe(ANSWER, self._on_answer)

    async def settle(self, timeout: float) -> bool:
        """Returns once every live process has settled what it was handed before the call:
        True, or False after `timeout` seconds (or at once, if this process is not listening,
        and so cannot hear the answers)."""
        if not self.channel.listening:
            with contextlib.suppress(TimeoutError):  # this process's own entries, at least
                await asyncio.wait_for(self.written(), timeout)
            return False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        token = secrets.token_hex(8)
        answered: set[str] = set()
        arrived = asyncio.Event()
        self._asked[token] = (answered, arrived)
        try:
            db = self.channel.db
            expected = await db.read(repository.live_clock_listeners, ALIVE_SECONDS)
            await self.channel.send(ASK, token)
            ask_again = loop.time() + ASK_AGAIN_SECONDS
            while not expected <= answered:
                now = loop.time()
                if now >= deadline:
                    return False
                if now >= ask_again:
                    # no longer waited for once its heartbeat stops; asked again, for one that
                    # was reconnecting
                    expected &= await db.read(repository.live_clock_listeners, ALIVE_SECONDS)
                    await self.channel.send(ASK, token)
                    ask_again = loop.time() + ASK_AGAIN_SECONDS
                    continue
                arrived.clear()
                try:
                    await asyncio.wait_for(arrived.wait(), min(ask_again, deadline) - now)
                except TimeoutError:
                    pass
            return True
        finally:
            del self._asked[token]

    async def close(self) -> None:
        answering, self._answering = self._answering, set()
        for task in answering:
            task.cancel()
        await asyncio.gather(*answering, return_exceptions=True)

    def _on_ask(self, token: str) -> None:
        task = asyncio.get_running_loop().create_task(self._answer(token))
        self._answering.add(task)
        task.add_done_callback(self._answering.discard)

    async def _answer(self, token: str) -> None:
        try:
            await self.written()
            await self.channel.send(ANSWER, f"{token}:{self.channel.id}")
        except Exception as exc:  # the asker waits for its timeout, or asks again
            log.warning("could not answer a request log query's barrier: %s", exc)

    def _on_answer(self, body: str) -> None:
        token, _, listener = body.partition(":")
        asked = self._asked.get(token)
        if asked is not None:
            answered, arrived = asked
            answered.add(listener)
            arrived.set()
