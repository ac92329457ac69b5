"""PostgreSQL's upkeep of the service's tables (services/housekeeping.py): statistics for the
planner as the tables change, whether or not the server's autovacuum runs, and their dead
rows reclaimed when it does not.

A table never analyzed has no statistics, and its plans are guesses. Measured (bench, 2
workers, 16 connections): once one account held 10,000 links created in the last seconds, a
list of its first page planned a bitmap scan of all of them and a sort (4.7 ms at the server)
instead of a walk down the index to the first 101; 352 list requests a second, p99 98 ms.
After ANALYZE (30 ms), 1,520, p99 27 ms. Autovacuum analyzes a table once its changes pass 50
rows and a tenth of it, but at most once a minute, and this machine's server runs none at all.
Without autovacuum, nothing reclaims the rows the request log's prunes delete (one per entry
written): the table's file grows without bound though its rows are bounded.
"""

from __future__ import annotations

from sqlalchemy import TextClause, bindparam, text

from filelinks_api.models import metadata
from filelinks_api.repository.base import Executor

# A table is analyzed once this many rows, plus this share of its rows, changed since its
# last analysis (autovacuum's defaults: 50 and 0.1).
ANALYZE_BASE_ROWS = 50
ANALYZE_FRACTION = 0.1
# ... and vacuumed, when the server's autovacuum is off, once it holds this many dead rows,
# plus this share of its live ones (autovacuum's defaults: 50 and 0.2).
VACUUM_BASE_ROWS = 50
VACUUM_FRACTION = 0.2


def _past(counter: str, condition: str = "") -> TextClause:
    """The names of the service's tables (`:names`, in the current schema) whose `counter`
    in pg_stat_user_tables passes `:base` rows plus `:fraction` of their live ones."""
    return text(
        "SELECT relname FROM pg_stat_user_tables"
        f" WHERE schemaname = current_schema() AND relname IN :names{condition}"
        f" AND {counter} > :base + :fraction * greatest(n_live_tup, 0)"
        " ORDER BY relname"
    ).bindparams(bindparam("names", expanding=True))


_CHANGED = _past("n_mod_since_analyze")
_DEAD = _past("n_dead_tup", " AND current_setting('autovacuum') = 'off'")


def analyze_changed_tables(session: Executor) -> list[str]:
    """ANALYZE each of the service's tables (in the current schema) that changed enough since
    its last analysis; the names analyzed. A table another session is analyzing is skipped.
    PostgreSQL only."""
    return _each(session, "ANALYZE", _CHANGED, ANALYZE_BASE_ROWS, ANALYZE_FRACTION)


def vacuum_dead_rows(session: Executor) -> list[str]:
    """When the server's autovacuum is off: VACUUM each of the service's tables whose dead
    rows pass autovacuum's own rule; the names vacuumed. Runs outside a transaction
    (`Database.append` on PostgreSQL). PostgreSQL only."""
    return _each(session, "VACUUM", _DEAD, VACUUM_BASE_ROWS, VACUUM_FRACTION)


def _each(
    session: Executor, command: str, which: TextClause, base: int, fraction: float
) -> list[str]:
    names = [
        str(name)
        for name in session.execute(
            which, {"names": sorted(metadata.tables), "base": base, "fraction": fraction}
        ).scalars()
    ]
    for name in names:
        assert name in metadata.tables, name  # a name of our own, safe to quote into SQL
        session.execute(text(f'{command} (SKIP_LOCKED) "{name}"'))
    return names
