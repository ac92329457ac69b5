"""Stripe's list rule shared by both resources: a cursor naming no object of the caller's
is `resource_missing` on that cursor's parameter."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table

from filelinks_api import repository
from filelinks_api.repository import CursorNotFound, Executor, Page, R, Scope
from filelinks_api.services.missing import missing
from filelinks_api.wire.params import ListParams


def list_page(
    session: Executor,
    table: Table,
    row: type[R],
    scope: Scope,
    conditions: list[Any],
    params: ListParams,
    *,
    kind: str,
) -> Page[R]:
    try:
        return repository.page(
            session,
            table,
            row,
            scope,
            conditions,
            limit=params.limit,
            starting_after=params.starting_after,
            ending_before=params.ending_before,
        )
    except CursorNotFound as cursor:
        raise missing(session, scope, kind, cursor.object_id, param=cursor.param) from None
