"""`resource_missing` for a file or file link id, as Stripe words it.

An id naming an object of the caller's account in the other mode (a test key reading a
live-mode object, or the reverse) gets Stripe's suffix saying so; integrations and their logs
look for it. The modes still never meet: only the message tells. Another account's object is
plainly missing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from filelinks_api import repository
from filelinks_api.errors import ResourceMissing
from filelinks_api.repository import Executor, Scope

_LOOKUPS: dict[str, Callable[[Executor, Scope, str], Any]] = {
    "file": repository.get_file,
    "file_link": repository.get_file_link,
}


def missing(
    session: Executor, scope: Scope, kind: str, object_id: str, *, param: str
) -> ResourceMissing:
    other = Scope(scope.account, not scope.livemode)
    lookup = _LOOKUPS.get(kind)  # request log entries: no suffix
    elsewhere = lookup is not None and lookup(session, other, object_id) is not None
    return ResourceMissing.for_object(
        kind, object_id, param=param, other_mode=other.livemode if elsewhere else None
    )
