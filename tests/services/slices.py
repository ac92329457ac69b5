"""Watching a delete go in slices (services/slices.py), the event loop turning between two."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from sqlalchemy import Engine, event


class Slices:
    """While in its `with`: the turns of the event loop (`count_turns`, a task of the test's)
    and, for each DELETE from `table` sent to any database, the turn it ran at."""

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

    async def count_turns(self) -> None:
        while True:
            self.turns += 1
            await asyncio.sleep(0)

    def sliced(self, at_least: int) -> bool:
        """At least `at_least` DELETEs, and a turn of the loop between each two."""
        turned = all(later > earlier for earlier, later in itertools.pairwise(self.deletes))
        return len(self.deletes) >= at_least and turned
