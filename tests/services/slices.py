"""Watching a delete go in slices (services/slices.py), the event loop turning between two."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable
from typing import Any, TypeVar

from sqlalchemy import Engine, event

T = TypeVar("T")


class Slices:
    """While `during` awaits some work: the turns of the event loop (a task of its own
    counts them) and, for each DELETE from `table` sent to any database, the turn it ran at."""

    def __init__(self, table: str) -> None:
        self.prefix = f"DELETE FROM {table.upper()}"
        self.turns = 0
        self.deletes: list[int] = []

    def __enter__(self) -> Slices:
        event.listen(Engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(Engine, "before_cursor_execute", self._seen)

    def _seen(self, connection: Any, cursor: Any, statement: str, *rest: Any) -> None:
        if statement.lstrip().upper().startswith(self.prefix):
            self.deletes.append(self.turns)

    async def during(self, work: Awaitable[T]) -> T:
        """Await `work` with the DELETEs watched and the loop's turns counted."""
        with self:
            turns = asyncio.ensure_future(self._count_turns())
            try:
                return await work
            finally:
                turns.cancel()

    async def _count_turns(self) -> None:
        while True:
            self.turns += 1
            await asyncio.sleep(0)

    def sliced(self, at_least: int) -> bool:
        """At least `at_least` DELETEs, and a turn of the loop between each two."""
        turned = all(later > earlier for earlier, later in itertools.pairwise(self.deletes))
        return len(self.deletes) >= at_least and turned
