"""services/request_log: what a batch of entries stores, whatever an entry holds."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from filelinks_api import repository
from filelinks_api.models import request_log
from filelinks_api.repository import Scope
from filelinks_api.services import request_log as service

SCOPE = Scope("acct_log_tests", False)


def entry(request_id: str, **values: Any) -> dict[str, Any]:
    return {
        "id": request_id,
        "account": SCOPE.account,
        "livemode": SCOPE.livemode,
        "created": 1_800_000_000,
        "method": "GET",
        "path": "/v1/files",
        "query": "",
        "status": 200,
        "duration_ms": 1.0,
        "idempotency_key": None,
        "idempotent_replayed": False,
        "stripe_version": None,
        "stripe_account": None,
        "client": None,
        "request": {},
        "response": "{}",
        "error": None,
        "fault": None,
        **values,
    }


def stored(session: Session) -> dict[str, Any]:
    rows = session.execute(select(request_log).where(request_log.c.account == SCOPE.account))
    return {row.id: row for row in rows}


def test_an_entry_with_a_nul_or_overlong_text_is_stored_cleaned_beside_the_others(
    session: Session,
) -> None:
    hostile = entry(
        "req_hostile",
        method="PROPFINDX",
        path="/v1/files/\x00" + "x" * 3000,
        query="a=\x00",
        idempotency_key="k\x00" * 200,
        stripe_version="v\x00",
        stripe_account="acct_\x00",
        client="agent\x00" * 100,
        response="\x00",
    )

    service.record(session, [entry("req_before"), hostile, entry("req_after")])

    rows = stored(session)
    assert set(rows) == {"req_before", "req_hostile", "req_after"}
    kept = rows["req_hostile"]
    assert kept.path.startswith("/v1/files/\ufffdxxx")
    assert len(kept.path) == 2048
    assert kept.method == "PROPFIND"
    assert kept.query == "a=\ufffd"
    assert len(kept.idempotency_key) == 255
    assert "\x00" not in kept.idempotency_key + kept.client + kept.response
    assert kept.stripe_version == "v\ufffd"


def test_the_total_bound_keeps_the_newest_entries_of_every_scope(session: Session) -> None:
    for number in range(30):
        scope = Scope(f"{SCOPE.account}_{number % 3}", False)
        service.record(session, [entry(f"req_total_{number:02d}", account=scope.account)])

    repository.prune_request_log_total(session, 10)

    left = set(session.execute(select(request_log.c.id)).scalars())
    assert left == {f"req_total_{number:02d}" for number in range(20, 30)}
