"""Account-scoped SQL, by table, and the one list pager.

Lists are newest first, ordered by (created, seq): `seq` is monotonic, so objects sharing a
`created` second page through with neither a skip nor a repeat. Every query is scoped to
(account, livemode), which leads each index. Callers use the package: `repository.get_file(...)`.
"""

from __future__ import annotations

from filelinks_api.repository.base import (
    CursorNotFound,
    Executor,
    Page,
    R,
    Scope,
    created_filter,
)
from filelinks_api.repository.controls import (
    advance_account_clock,
    all_account_clocks,
    bump_clock_epoch,
    clock_listeners_behind,
    current_clock_epoch,
    delete_account_clock,
    delete_clock_listener,
    delete_scope_data,
    live_clock_listeners,
    notify,
    save_account_clock,
    save_clock_listener,
)
from filelinks_api.repository.fast import (
    _InsertMany,
    _Lookup,
)
from filelinks_api.repository.faults import (
    delete_fault_rule,
    delete_fault_rules,
    fault_rules_of,
    get_fault_rule,
    insert_fault_rule,
    scopes_with_live_fault_rules,
    spend_fault_rule,
)
from filelinks_api.repository.file_links import (
    PublicFileRow,
    expired_filter,
    find_file_link,
    find_links_of_file,
    find_public_file,
    get_file_link,
    get_public_file,
    insert_file_link,
    links_for_files,
    update_file_link,
)
from filelinks_api.repository.files import (
    existing_file_ids,
    find_file,
    get_file,
    get_files,
    insert_file,
)
from filelinks_api.repository.idempotency import (
    change_idempotency_claim,
    delete_idempotency_key,
    get_idempotency_key,
    insert_idempotency_key,
    prune_idempotency_keys,
    take_over_idempotency_key,
)
from filelinks_api.repository.paging import find_first_page, page
from filelinks_api.repository.request_log import (
    delete_request_log,
    delete_request_log_through,
    get_request_log,
    insert_request_logs,
    prune_request_log_total,
    request_log_cut,
)
from filelinks_api.repository.statistics import analyze_changed_tables, vacuum_dead_rows

__all__ = [
    "CursorNotFound",
    "Executor",
    "Page",
    "PublicFileRow",
    "R",
    "Scope",
    "_InsertMany",
    "_Lookup",
    "advance_account_clock",
    "all_account_clocks",
    "analyze_changed_tables",
    "bump_clock_epoch",
    "change_idempotency_claim",
    "clock_listeners_behind",
    "created_filter",
    "current_clock_epoch",
    "delete_account_clock",
    "delete_clock_listener",
    "live_clock_listeners",
    "notify",
    "delete_fault_rule",
    "delete_fault_rules",
    "delete_idempotency_key",
    "delete_request_log",
    "delete_request_log_through",
    "delete_scope_data",
    "existing_file_ids",
    "expired_filter",
    "fault_rules_of",
    "find_file",
    "find_file_link",
    "find_first_page",
    "find_links_of_file",
    "find_public_file",
    "get_fault_rule",
    "get_file",
    "get_file_link",
    "get_files",
    "get_idempotency_key",
    "get_public_file",
    "get_request_log",
    "insert_fault_rule",
    "insert_file",
    "insert_file_link",
    "insert_idempotency_key",
    "insert_request_logs",
    "links_for_files",
    "page",
    "prune_idempotency_keys",
    "prune_request_log_total",
    "request_log_cut",
    "save_account_clock",
    "save_clock_listener",
    "scopes_with_live_fault_rules",
    "spend_fault_rule",
    "take_over_idempotency_key",
    "update_file_link",
    "vacuum_dead_rows",
]
