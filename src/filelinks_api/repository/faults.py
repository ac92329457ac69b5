"""Fault rules (emulator): stored per scope, spent atomically."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    delete,
    insert,
    select,
    update,
)

from filelinks_api.models import (
    FaultRuleRow,
    fault_rules,
)
from filelinks_api.repository.base import (
    Executor,
    Scope,
    _scoped,
    _storable,
)

# --- fault rules (emulator) ------------------------------------------------------------------


def insert_fault_rule(session: Executor, values: dict[str, Any]) -> FaultRuleRow:
    return FaultRuleRow._make(
        session.execute(insert(fault_rules).returning(*fault_rules.c), values).one()
    )


def fault_rules_of(session: Executor, scope: Scope, *, live: bool = False) -> list[FaultRuleRow]:
    """The scope's rules, oldest first (the order they apply in); with `live`, only those
    that still act (the scope's index, then a few rows)."""
    query = select(fault_rules).where(_scoped(fault_rules, scope)).order_by(fault_rules.c.seq)
    if live:
        query = query.where(fault_rules.c.remaining > 0)
    return [FaultRuleRow._make(row) for row in session.execute(query)]


def get_fault_rule(session: Executor, scope: Scope, rule_id: str) -> FaultRuleRow | None:
    if not _storable(rule_id):
        return None
    row = session.execute(
        select(fault_rules).where(_scoped(fault_rules, scope), fault_rules.c.id == rule_id)
    ).first()
    return FaultRuleRow._make(row) if row is not None else None


def spend_fault_rule(session: Executor, seq: int) -> int | None:
    """Count one use of a rule: its `remaining` after, or None if it had none left. Atomic
    on both engines: the guard is re-checked on the row as it is when the update takes it
    (PostgreSQL re-reads a row another transaction changed; SQLite writers are serialized)."""
    remaining = session.execute(
        update(fault_rules)
        .where(fault_rules.c.seq == seq, fault_rules.c.remaining > 0)
        .values(remaining=fault_rules.c.remaining - 1)
        .returning(fault_rules.c.remaining)
    ).scalar_one_or_none()
    return None if remaining is None else int(remaining)


def scopes_with_live_fault_rules(session: Executor) -> list[Scope]:
    rows = session.execute(
        select(fault_rules.c.account, fault_rules.c.livemode)
        .where(fault_rules.c.remaining > 0)
        .distinct()
    )
    return [Scope(account, livemode) for account, livemode in rows]


def delete_fault_rule(session: Executor, scope: Scope, rule_id: str) -> bool:
    if not _storable(rule_id):
        return False
    result = session.execute(
        delete(fault_rules).where(_scoped(fault_rules, scope), fault_rules.c.id == rule_id)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def delete_fault_rules(session: Executor, scope: Scope) -> int:
    result = session.execute(delete(fault_rules).where(_scoped(fault_rules, scope)))
    return int(result.rowcount)  # type: ignore[attr-defined]
