"""Emulator controls: the accounts' test clocks, the clocks' change channel (PostgreSQL), and
an account's data reset."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from filelinks_api.models import (
    AccountClockRow,
    account_clocks,
    clock_epoch,
    clock_listeners,
    file_links,
    files,
    idempotency_keys,
)
from filelinks_api.repository.base import (
    Executor,
    Scope,
    _dialect_name,
    _scoped,
)
from filelinks_api.repository.faults import delete_fault_rules

# --- emulator controls ------------------------------------------------------------------------


def all_account_clocks(session: Executor) -> list[AccountClockRow]:
    return [AccountClockRow._make(row) for row in session.execute(select(account_clocks))]


def _upsert_account_clock(
    session: Executor, scope: Scope, frozen_at: int | None, offset: int, changes: dict[str, Any]
) -> AccountClockRow:
    """Insert the scope's clock row, or apply `changes` to the one there, in one statement
    (two processes changing one clock at once both count, and neither hits the key)."""
    upsert = pg_insert if _dialect_name(session) == "postgresql" else sqlite_insert
    statement = upsert(account_clocks).values(
        account=scope.account,
        livemode=scope.livemode,
        frozen_at=frozen_at,
        offset_seconds=offset,
    )
    upserted = statement.on_conflict_do_update(
        index_elements=[account_clocks.c.account, account_clocks.c.livemode], set_=changes
    ).returning(*account_clocks.c)
    return AccountClockRow._make(session.execute(upserted).one())


def save_account_clock(
    session: Executor, scope: Scope, frozen_at: int | None, offset: int
) -> AccountClockRow:
    return _upsert_account_clock(
        session, scope, frozen_at, offset, {"frozen_at": frozen_at, "offset_seconds": offset}
    )


def advance_account_clock(session: Executor, scope: Scope, seconds: int) -> AccountClockRow:
    """Move the scope's clock `seconds` forward, as stored now: a frozen one's `frozen_at`
    and a running one's offset (a scope without a row runs on real time: offset 0)."""
    column = account_clocks.c
    return _upsert_account_clock(
        session,
        scope,
        None,
        seconds,
        {
            "frozen_at": column.frozen_at + seconds,
            "offset_seconds": column.offset_seconds + seconds,
        },
    )


def delete_account_clock(session: Executor, scope: Scope) -> bool:
    """Back to real time; whether the scope had a clock of its own."""
    result = session.execute(delete(account_clocks).where(_scoped(account_clocks, scope)))
    return bool(result.rowcount)  # type: ignore[attr-defined]


# --- the clocks' change channel (PostgreSQL; services/clock_sync.py) ---------------------------


def bump_clock_epoch(session: Executor, channel: str) -> int:
    """Count one more clock change and NOTIFY `channel` of it (delivered when this commits)."""
    epoch = int(
        session.execute(
            update(clock_epoch)
            .where(clock_epoch.c.id == 1)
            .values(epoch=clock_epoch.c.epoch + 1)
            .returning(clock_epoch.c.epoch)
        ).scalar_one()
    )
    session.execute(select(func.pg_notify(channel, str(epoch))))
    return epoch


def current_clock_epoch(session: Executor) -> int:
    return int(
        session.execute(select(clock_epoch.c.epoch).where(clock_epoch.c.id == 1)).scalar_one()
    )


def save_clock_listener(session: Executor, listener: str, seen_epoch: int) -> None:
    """Record (or refresh) a listener: the last change it applied, and a heartbeat now."""
    row = {"id": listener, "seen_epoch": seen_epoch, "heartbeat_at": func.now()}
    statement = pg_insert(clock_listeners).values(row)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[clock_listeners.c.id],
            set_={"seen_epoch": statement.excluded.seen_epoch, "heartbeat_at": func.now()},
        )
    )


def clock_listeners_behind(session: Executor, epoch: int, alive_seconds: float) -> int:
    """Listeners with a heartbeat in the last `alive_seconds` that have not applied `epoch`."""
    alive = clock_listeners.c.heartbeat_at > func.now() - func.make_interval(
        0, 0, 0, 0, 0, 0, alive_seconds
    )
    return int(
        session.execute(
            select(func.count())
            .select_from(clock_listeners)
            .where(clock_listeners.c.seen_epoch < epoch, alive)
        ).scalar_one()
    )


def live_clock_listeners(session: Executor, alive_seconds: float) -> set[str]:
    """The listeners with a heartbeat in the last `alive_seconds`."""
    alive = clock_listeners.c.heartbeat_at > func.now() - func.make_interval(
        0, 0, 0, 0, 0, 0, alive_seconds
    )
    return set(session.execute(select(clock_listeners.c.id).where(alive)).scalars())


def notify(session: Executor, channel: str, payload: str) -> None:
    """NOTIFY `channel` with `payload` (delivered when this commits)."""
    session.execute(select(func.pg_notify(channel, payload)))


def delete_clock_listener(session: Executor, listener: str) -> None:
    session.execute(delete(clock_listeners).where(clock_listeners.c.id == listener))


def delete_scope_data(session: Executor, scope: Scope) -> list[str]:
    """Delete a scope's links, files, idempotency keys and fault rules; returns the deleted
    file ids. (Its request log is another database's: services/request_log.clear.)"""
    file_ids = list(session.execute(select(files.c.id).where(_scoped(files, scope))).scalars())
    session.execute(delete(file_links).where(_scoped(file_links, scope)))
    session.execute(delete(files).where(_scoped(files, scope)))
    session.execute(delete(idempotency_keys).where(_scoped(idempotency_keys, scope)))
    delete_fault_rules(session, scope)
    return file_ids
