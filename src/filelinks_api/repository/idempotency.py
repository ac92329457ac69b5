"""Idempotency keys: claims, their lease, stored answers, and the 24-hour prune."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Update,
    and_,
    bindparam,
    case,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from filelinks_api.models import (
    IdempotencyKeyRow,
    account_clocks,
    idempotency_keys,
)
from filelinks_api.repository.base import (
    Executor,
    Scope,
    first_of,
)
from filelinks_api.repository.fast import _by_scope_and, _lookup

_GET_IDEMPOTENCY_KEY = _by_scope_and(idempotency_keys, "key", IdempotencyKeyRow)
# A claim: the key's new row, or nothing where the key has a row already
_KEY = ("account", "livemode", "key")
_CLAIM_IDEMPOTENCY_KEY = {
    "postgresql": postgresql.insert(idempotency_keys)
    .on_conflict_do_nothing(index_elements=_KEY)
    .returning(idempotency_keys.c.seq),
    "sqlite": sqlite.insert(idempotency_keys)
    .on_conflict_do_nothing(index_elements=_KEY)
    .returning(idempotency_keys.c.seq),
}


# --- idempotency keys -----------------------------------------------------------------------


def get_idempotency_key(session: Executor, scope: Scope, key: str) -> IdempotencyKeyRow | None:
    return _lookup(session, _GET_IDEMPOTENCY_KEY, scope, key)


def insert_idempotency_key(session: Executor, values: dict[str, Any]) -> int | None:
    """The new claim's seq, or None when the key has a row already: one statement, which
    then inserts nothing (ON CONFLICT DO NOTHING), so the caller's transaction goes on
    without a savepoint around it (a SAVEPOINT and a RELEASE were two round trips of every
    keyed POST's claim on PostgreSQL)."""
    connection = session.connection() if isinstance(session, Session) else session
    seq = connection.execute(_CLAIM_IDEMPOTENCY_KEY[connection.dialect.name], values).scalar()
    return None if seq is None else int(seq)


def take_over_idempotency_key(
    session: Executor,
    seq: int,
    started_at: float,
    now: float,
    request_id: str,
    digest: str | None,
) -> bool:
    """Claim an abandoned key, unless another request took it over first."""
    result = session.execute(
        update(idempotency_keys)
        .where(
            idempotency_keys.c.seq == seq,
            idempotency_keys.c.status.is_(None),
            idempotency_keys.c.started_at == started_at,
        )
        .values(started_at=now, request_id=request_id, digest=digest)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


# The owner's claim: its row, while no answer is stored and no other request took it over.
_OWNED = (
    idempotency_keys.c.seq == bindparam("claim_seq"),
    idempotency_keys.c.request_id == bindparam("claim_owner"),
    idempotency_keys.c.status.is_(None),
)
_RELEASE_CLAIM = delete(idempotency_keys).where(*_OWNED)
# Built once per set of columns changed (an answer: status and body; a lease: started_at):
# built anew at each call, the statement cost a keyed POST more than its SQL did.
_CHANGE_CLAIM: dict[tuple[str, ...], Update] = {}


def change_idempotency_claim(
    session: Executor, seq: int, owner: str, values: dict[str, Any] | None
) -> bool:
    """Update the owner's claim with `values` (its response, a renewed lease) or, with None,
    delete it; False when the claim is no longer `owner`'s (its lease lapsed and another
    request took it over)."""
    params: dict[str, Any] = {"claim_seq": seq, "claim_owner": owner}
    if values is None:
        result = session.execute(_RELEASE_CLAIM, params)
    else:
        names = tuple(sorted(values))
        statement = _CHANGE_CLAIM.get(names)
        if statement is None:
            statement = _CHANGE_CLAIM[names] = (
                update(idempotency_keys)
                .where(*_OWNED)
                .values({name: bindparam(f"new_{name}") for name in names})
            )
        params.update((f"new_{name}", value) for name, value in values.items())
        result = session.execute(statement, params)
    return result.rowcount == 1  # type: ignore[attr-defined]


def delete_idempotency_key(session: Executor, seq: int) -> None:
    session.execute(delete(idempotency_keys).where(idempotency_keys.c.seq == seq))


def prune_idempotency_keys(
    session: Executor, real_now: int, ttl: int, *, limit: int | None = None
) -> int:
    """Delete the keys created `ttl` seconds or more before their account's time: real time
    (`real_now`), unless the scope's test clock is frozen or moved; with `limit`, only the
    oldest `limit` of them."""
    clock = account_clocks.c
    clock_now = case(
        (clock.frozen_at.is_not(None), clock.frozen_at), else_=real_now + clock.offset_seconds
    )
    latest = session.execute(select(func.max(clock_now))).scalar()
    key = idempotency_keys.c
    their_now = (
        select(clock_now)
        .where(clock.account == key.account, clock.livemode == key.livemode)
        .scalar_subquery()
    )
    expired = and_(
        # no key is older than this, whatever its clock (the index on `created`)
        key.created <= max(real_now, latest or real_now) - ttl,
        key.created <= func.coalesce(their_now, real_now) - ttl,
    )
    oldest = first_of(idempotency_keys, expired, [key.created], limit)
    result = session.execute(delete(idempotency_keys).where(oldest))
    return int(result.rowcount)  # type: ignore[attr-defined]
