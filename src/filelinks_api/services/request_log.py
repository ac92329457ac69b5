"""The request log: what each authenticated `/v1` request and each public link hit sent and
got back, kept per scope (account, connected account, mode) as Stripe's Dashboard keeps its
logs, for `/_emulator/requests` and the dashboard.

Not Stripe's API. Entries are recorded in batches (one transaction for all the entries that
arrived while the previous batch was committing) and pruned to the newest `keep` per scope
every `prune_every(keep)` entries a process records for that scope, so a scope may briefly
hold up to that many more per process; the whole log is kept to its total bound by
services/housekeeping.py. Prunes delete in slices, a transaction each (services/slices.py).
API keys and the Authorization header are never part of an entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import String

from filelinks_api import repository
from filelinks_api.errors import ResourceMissing
from filelinks_api.models import RequestLogRow, request_log
from filelinks_api.repository import Executor, Page, Scope
from filelinks_api.schemas import ListRequestLogParams
from filelinks_api.services.pager import list_page
from filelinks_api.services.slices import delete_in_slices
from filelinks_api.wire.params import expansions

if TYPE_CHECKING:
    from filelinks_api.db import Database


def prune_every(keep: int) -> int:
    """How many entries a process records for a scope between two prunes: a tenth of `keep`,
    at most 1,000. A prune walks `keep` index entries, so pruning every 100 of 10,000 cost
    a logged request more than its own insert (bench/asgi_cost.py --concurrency 8)."""
    return max(1, min(1000, keep // 10))


# Each text column's length (None: unbounded). An entry's texts come from the request as
# sent (a decoded path may hold a NUL, which PostgreSQL refuses in any text, and would fail
# the whole batch with it): each is stored with NUL as U+FFFD, cut to its column.
_TEXT_COLUMNS = {
    column.name: column.type.length for column in request_log.c if isinstance(column.type, String)
}


def storable(entry: dict[str, Any]) -> dict[str, Any]:
    """The entry as it can be stored on any database, whatever the request held."""
    cleaned = entry
    for name, limit in _TEXT_COLUMNS.items():
        value = entry.get(name)
        if not isinstance(value, str):
            continue
        fitted = value.replace("\x00", "\ufffd") if "\x00" in value else value
        if limit is not None and len(fitted) > limit:
            fitted = fitted[:limit]
        if fitted is not value:
            if cleaned is entry:
                cleaned = dict(entry)
            cleaned[name] = fitted
    return cleaned


def record(session: Executor, entries: Sequence[dict[str, Any]]) -> None:
    """Insert the entries (the log writer prunes on its own, api/request_log.py)."""
    repository.insert_request_logs(session, [storable(entry) for entry in entries])


async def prune_scope(db: Database, scope: Scope, *, keep: int) -> int:
    """Keep the scope's newest `keep` entries; how many were deleted. The cut is found once;
    the entries past it are deleted oldest first, in slices (services/slices.py)."""
    position = await db.read(repository.request_log_cut, scope, keep)
    if position is None:
        return 0
    return await delete_in_slices(db, repository.delete_request_log_through, scope, position)


async def prune_total(db: Database, keep: int) -> int:
    """Keep the newest `keep` entries of the whole log, the others deleted in slices."""
    return await delete_in_slices(db, repository.prune_request_log_total, keep)


def list_entries(
    session: Executor, scope: Scope, params: ListRequestLogParams
) -> Page[RequestLogRow]:
    expansions(params.expand, {}, on_list=True)
    column = request_log.c
    conditions = repository.created_filter(request_log, params.created)
    if params.method is not None:
        conditions.append(column.method == params.method.upper())
    if params.path is not None:
        conditions.append(column.path.startswith(params.path, autoescape=True))
    if params.status is not None:
        if params.status.endswith("xx"):
            low = int(params.status[0]) * 100
            conditions += [column.status >= low, column.status < low + 100]
        else:
            conditions.append(column.status == int(params.status))
    if params.idempotency_key is not None:
        conditions.append(column.idempotency_key == params.idempotency_key)
    return list_page(
        session, request_log, RequestLogRow, scope, conditions, params, kind="request_log"
    )


def get_entry(session: Executor, scope: Scope, request_id: str) -> RequestLogRow:
    entry = repository.get_request_log(session, scope, request_id)
    if entry is None:
        raise ResourceMissing.for_object("request_log", request_id, param="id")
    return entry


def clear(session: Executor, scope: Scope) -> int:
    return repository.delete_request_log(session, scope)
