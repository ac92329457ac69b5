"""The tables: rows as stored. Stripe's JSON shape lives in `schemas`."""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

# Stable constraint names on both engines, so migrations can refer to them.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# `seq` is the monotonic tie-breaker: lists order by (created, seq), newest first.
# BigInteger on PostgreSQL; SQLite needs plain INTEGER for the rowid alias.
_Seq = BigInteger().with_variant(Integer(), "sqlite")

files = Table(
    "files",
    metadata,
    Column("seq", _Seq, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("account", String(160), nullable=False),
    Column("livemode", Boolean, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Column("filename", String(255), nullable=True),
    Column("purpose", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("title", String(255), nullable=True),
    Column("type", String(32), nullable=True),
    Column("sha256", String(64), nullable=False),
    Index("ix_files_account_livemode_created_seq", "account", "livemode", "created", "seq"),
    Index(
        "ix_files_account_livemode_purpose_created_seq",
        "account",
        "livemode",
        "purpose",
        "created",
        "seq",
    ),
)

file_links = Table(
    "file_links",
    metadata,
    Column("seq", _Seq, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("account", String(160), nullable=False),
    Column("livemode", Boolean, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Column("file", String(64), ForeignKey("files.id"), nullable=False),
    Column("metadata", JSON, nullable=False),
    # The secret in the public URL; looked up without an account.
    Column("token", String(64), nullable=False, unique=True),
    # expires_at rides along so the `expired` filter is checked in the index while the list
    # walks it in (created, seq) order: no table lookups, no sort, flat as the table grows.
    Index(
        "ix_file_links_account_livemode_created_seq_expires_at",
        "account",
        "livemode",
        "created",
        "seq",
        "expires_at",
    ),
    Index(
        "ix_file_links_account_livemode_file_created_seq",
        "account",
        "livemode",
        "file",
        "created",
        "seq",
    ),
)

# A POST's Idempotency-Key and, once the endpoint has run, the response it gave.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("seq", _Seq, primary_key=True, autoincrement=True),
    Column("account", String(160), nullable=False),
    Column("livemode", Boolean, nullable=False),
    Column("key", String(255), nullable=False),
    Column("endpoint", String(512), nullable=False),
    # sha256 of the decoded parameters (and the uploaded bytes); null until an upload is read
    Column("digest", String(64), nullable=True),
    Column("created", BigInteger, nullable=False),
    # Wall-clock time its owner last renewed the claim (its lease), to recognise a claim
    # abandoned by a process that died mid-request.
    Column("started_at", Float, nullable=False),
    Column("status", Integer, nullable=True),  # null while the first request is executing
    Column("body", LargeBinary, nullable=True),
    Column("request_id", String(32), nullable=False),
    UniqueConstraint("account", "livemode", "key"),
    Index("ix_idempotency_keys_created", "created"),
)

# An account's test clock (emulator control): frozen at `frozen_at`, or real time + `offset_seconds`.
account_clocks = Table(
    "account_clocks",
    metadata,
    Column("account", String(160), primary_key=True),
    Column("livemode", Boolean, primary_key=True),
    Column("frozen_at", BigInteger, nullable=True),
    Column("offset_seconds", BigInteger, nullable=False),
)

# PostgreSQL only (unused on SQLite, where the clocks.epoch file does this): the clocks'
# change counter, bumped (and NOTIFYed) by every clock change, and the processes listening for
# it, each with the last change it has applied and a heartbeat. A clock change returns once
# every live listener has applied it (services/clock_sync.py).
clock_epoch = Table(
    "clock_epoch",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("epoch", BigInteger, nullable=False),
)
clock_listeners = Table(
    "clock_listeners",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("seen_epoch", BigInteger, nullable=False),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False),
)

# The request log (emulator, not Stripe): what each authenticated /v1 request and each public
# link hit sent and got back, in the caller's (or the link owner's) scope; newest N kept.
request_log = Table(
    "request_log",
    metadata,
    Column("seq", _Seq, primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),  # the response's Request-Id
    Column("account", String(160), nullable=False),
    Column("livemode", Boolean, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("method", String(8), nullable=False),
    Column("path", String(2048), nullable=False),
    Column("query", Text, nullable=False),
    Column("status", Integer, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("idempotency_key", String(255), nullable=True),
    Column("idempotent_replayed", Boolean, nullable=False),
    Column("stripe_version", String(64), nullable=True),
    Column("stripe_account", String(80), nullable=True),
    Column("client", String(255), nullable=True),
    Column("request", JSON, nullable=True),
    Column("response", Text, nullable=True),
    Column("error", JSON, nullable=True),
    # {"id", "action"} of the fault rule that acted on the request (migration 0008)
    Column("fault", JSON, nullable=True),
    Index("ix_request_log_account_livemode_created_seq", "account", "livemode", "created", "seq"),
)

# Fault rules (emulator, not Stripe): failures on demand for the scope's /v1 requests
# (services/faults.py). `remaining` counts down, atomically, as matching requests take them.
fault_rules = Table(
    "fault_rules",
    metadata,
    Column("seq", _Seq, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("account", String(160), nullable=False),
    Column("livemode", Boolean, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("action", String(16), nullable=False),
    Column("method", String(8), nullable=True),
    Column("path", String(2048), nullable=True),
    Column("status", Integer, nullable=True),
    Column("type", String(64), nullable=True),
    Column("code", String(255), nullable=True),
    Column("message", Text, nullable=True),
    Column("delay_ms", Integer, nullable=True),
    Column("reset_when", String(8), nullable=True),  # `when` on the wire
    Column("times", Integer, nullable=False),
    Column("remaining", Integer, nullable=False),
    Index("ix_fault_rules_account_livemode_seq", "account", "livemode", "seq"),
)


# --- rows as the repository returns them ------------------------------------------------------
# One named tuple per table, fields in column order (tests/test_repository.py checks them
# against the tables), so a misspelt column is a type error.


class FileRow(NamedTuple):
    seq: int
    id: str
    account: str
    livemode: bool
    created: int
    expires_at: int | None
    filename: str | None
    purpose: str
    size: int
    title: str | None
    type: str | None
    sha256: str


class FileLinkRow(NamedTuple):
    seq: int
    id: str
    account: str
    livemode: bool
    created: int
    expires_at: int | None
    file: str
    metadata: dict[str, str]
    token: str


class IdempotencyKeyRow(NamedTuple):
    seq: int
    account: str
    livemode: bool
    key: str
    endpoint: str
    digest: str | None
    created: int
    started_at: float
    status: int | None
    body: bytes | None
    request_id: str


class AccountClockRow(NamedTuple):
    account: str
    livemode: bool
    frozen_at: int | None
    offset_seconds: int


class RequestLogRow(NamedTuple):
    seq: int
    id: str
    account: str
    livemode: bool
    created: int
    method: str
    path: str
    query: str
    status: int
    duration_ms: float
    idempotency_key: str | None
    idempotent_replayed: bool
    stripe_version: str | None
    stripe_account: str | None
    client: str | None
    request: dict[str, Any] | None
    response: str | None
    error: dict[str, Any] | None
    fault: dict[str, Any] | None


class FaultRuleRow(NamedTuple):
    seq: int
    id: str
    account: str
    livemode: bool
    created: int
    action: str
    method: str | None
    path: str | None
    status: int | None
    type: str | None
    code: str | None
    message: str | None
    delay_ms: int | None
    reset_when: str | None
    times: int
    remaining: int


ROW_TYPES: dict[str, type[Any]] = {
    "request_log": RequestLogRow,
    "files": FileRow,
    "file_links": FileLinkRow,
    "idempotency_keys": IdempotencyKeyRow,
    "account_clocks": AccountClockRow,
    "fault_rules": FaultRuleRow,
}
