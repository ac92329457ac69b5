"""services/idempotency.prune: a key lives 24 hours by its own account's clock."""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from filelinks_api import repository
from filelinks_api.models import idempotency_keys
from filelinks_api.repository import Scope
from filelinks_api.services import idempotency

REAL_NOW = 1_800_000_000
HOUR = 3600
ON_REAL_TIME = Scope("acct_prune_real", False)
FROZEN_IN_THE_PAST = Scope("acct_prune_frozen", False)
MOVED_AHEAD = Scope("acct_prune_ahead", True)


def add_key(session: Session, scope: Scope, key: str, created: int) -> None:
    session.execute(
        insert(idempotency_keys).values(
            account=scope.account,
            livemode=scope.livemode,
            key=key,
            endpoint="/v1/file_links",
            digest=None,
            created=created,
            started_at=0.0,
            status=200,
            body=b"{}",
            request_id="req_x",
        )
    )


def kept(session: Session) -> set[str]:
    accounts = {scope.account for scope in (ON_REAL_TIME, FROZEN_IN_THE_PAST, MOVED_AHEAD)}
    rows = session.execute(
        select(idempotency_keys.c.key).where(idempotency_keys.c.account.in_(accounts))
    )
    return set(rows.scalars())


def test_each_key_is_pruned_by_its_accounts_clock(session: Session) -> None:
    past = REAL_NOW - 10 * 24 * HOUR
    repository.save_account_clock(session, FROZEN_IN_THE_PAST, past, past - REAL_NOW)
    repository.save_account_clock(session, MOVED_AHEAD, None, 2 * 24 * HOUR)
    add_key(session, ON_REAL_TIME, "real-25h", REAL_NOW - 25 * HOUR)
    add_key(session, ON_REAL_TIME, "real-23h", REAL_NOW - 23 * HOUR)
    add_key(session, FROZEN_IN_THE_PAST, "frozen-25h", past - 25 * HOUR)
    add_key(session, FROZEN_IN_THE_PAST, "frozen-1h", past - HOUR)
    add_key(session, MOVED_AHEAD, "ahead-25h", REAL_NOW + 23 * HOUR)
    add_key(session, MOVED_AHEAD, "ahead-1h", REAL_NOW + 47 * HOUR)

    idempotency.prune(session, REAL_NOW)

    assert kept(session) == {"real-23h", "frozen-1h", "ahead-1h"}
