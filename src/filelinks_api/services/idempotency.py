"""Idempotent requests, as Stripe promises them for every POST.

A POST carrying `Idempotency-Key` claims the key once its parameters are decoded and valid
(and an upload's bytes have arrived), in a transaction of its own (a row with no response
yet); the endpoint's response is stored in the same transaction as its work, so a retry gets
exactly the first status and body back and nothing is done twice, across restarts and across
processes sharing one database. Not stored, so a client may retry:
authentication failures, routing errors, parameter validation failures, and requests refused
because the key is in flight (409).

"Same parameters" means the decoded parameters, order-insensitive, plus the sha256 of an
uploaded file. Keys are scoped to the account (with any connected account) and the mode, and
pruned 24 hours after first use, after which they behave as new.

Limits: a claim left behind by a process killed mid-request is taken over after
`ABANDONED_AFTER` seconds, so a retry within that window gets the retryable 409.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from filelinks_api import repository
from filelinks_api.errors import IdempotencyError, InvalidRequestError
from filelinks_api.models import IdempotencyKeyRow
from filelinks_api.repository import Executor, Scope

MAX_KEY_LENGTH = 255
TTL_SECONDS = 24 * 60 * 60
ABANDONED_AFTER = 60.0


@dataclass(frozen=True)
class Stored:
    """The first request's response, to be replayed."""

    status: int
    body: bytes
    request_id: str


@dataclass(frozen=True)
class Claim:
    """This request owns the key: its response will be stored under `seq`."""

    seq: int
    request_id: str


def digest(params: Mapping[str, Any], file_sha256: str | None = None) -> str:
    """The one "same parameters" digest: the decoded parameters, order-insensitive, plus the
    sha256 of an uploaded file's bytes."""
    canonical = orjson.dumps(params, option=orjson.OPT_SORT_KEYS)
    if file_sha256 is not None:
        canonical += b"\x00file:" + file_sha256.encode()
    return hashlib.sha256(canonical).hexdigest()


def check_key(key: str) -> None:
    if not key.isprintable():
        raise InvalidRequestError(
            "Idempotency keys may not contain control characters. Use a key of printable"
            " characters (a UUID is a good choice)."
        )
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidRequestError(
            f"Idempotency keys can be at most {MAX_KEY_LENGTH} characters long, but the one you"
            f" sent is {len(key)} characters. Use a shorter key (a UUID is a good choice)."
        )


MAX_ENDPOINT_LENGTH = 512  # the column's


def stored_endpoint(path: str) -> str:
    """The path as the key's row keeps it: whole when it fits its column and holds no NUL
    (which PostgreSQL refuses in text), else its head and a digest of all of it, so two such
    paths still differ (a path id may be any length, and hold anything)."""
    if len(path) <= MAX_ENDPOINT_LENGTH and "\x00" not in path:
        return path
    tail = "...#" + hashlib.sha256(path.encode("utf-8", "replace")).hexdigest()
    return path.replace("\x00", "\ufffd")[: MAX_ENDPOINT_LENGTH - len(tail)] + tail


def claim(
    session: Executor,
    scope: Scope,
    key: str,
    *,
    endpoint: str,
    params_digest: str,
    now: int,
    request_id: str,
) -> Claim | Stored:
    """Claim `key` for this request (go ahead), or find the first request's response (replay
    it). Raises the idempotency errors. The caller commits."""
    endpoint = stored_endpoint(endpoint)
    existing = repository.get_idempotency_key(session, scope, key)
    if existing is not None and existing.created <= now - TTL_SECONDS:
        repository.delete_idempotency_key(session, existing.seq)
        existing = None
    if existing is None:
        seq = repository.insert_idempotency_key(
            session,
            {
                "account": scope.account,
                "livemode": scope.livemode,
                "key": key,
                "endpoint": endpoint,
                "digest": params_digest,
                "created": now,
                "started_at": time.time(),
                "request_id": request_id,
            },
        )
        if seq is not None:
            return Claim(seq=seq, request_id=request_id)
        # another request claimed it first (PostgreSQL; SQLite writers are serialized)
        existing = repository.get_idempotency_key(session, scope, key)
        if existing is None:  # pragma: no cover - claimed and pruned in between
            raise in_use(key)
    return _judge(session, existing, key, endpoint, params_digest, request_id)


def _judge(
    session: Executor,
    existing: IdempotencyKeyRow,
    key: str,
    endpoint: str,
    params_digest: str,
    request_id: str,
) -> Claim | Stored:
    if existing.endpoint != endpoint:
        raise IdempotencyError(
            "Keys for idempotent requests can only be used for the same endpoint they were first"
            f" used for ('{endpoint}' vs '{existing.endpoint}'). Try using a key other than"
            f" '{key}' if you meant to execute a different request."
        )
    if existing.status is None or existing.body is None:
        if time.time() - existing.started_at < ABANDONED_AFTER:
            raise in_use(key)
        # The process that claimed it died before answering; its work never committed.
        if repository.take_over_idempotency_key(
            session, existing.seq, existing.started_at, time.time(), request_id, params_digest
        ):
            return Claim(seq=existing.seq, request_id=request_id)
        raise in_use(key)
    if existing.digest is not None and existing.digest != params_digest:
        raise IdempotencyError(
            "Keys for idempotent requests can only be used with the same parameters they were"
            f" first used with. Try using a key other than '{key}' if you meant to execute a"
            " different request."
        )
    return Stored(status=existing.status, body=existing.body, request_id=existing.request_id)


def in_use(key: str) -> IdempotencyError:
    return IdempotencyError(
        "There is currently another in-progress request using this Idempotent Key (that"
        " probably means you submitted twice, and the other request is still going through):"
        f" {key}. Please try again later.",
        code="idempotency_key_in_use",
        status=409,
        headers={"Stripe-Should-Retry": "true"},
    )


def store(session: Executor, claim: Claim, status: int, body: bytes) -> None:
    """Save the response; the caller commits it together with the endpoint's work."""
    repository.update_idempotency_key(session, claim.seq, {"status": status, "body": body})


def release(session: Executor, claim: Claim) -> None:
    """Forget the claim (the request was refused before executing, or timed out on a lock):
    the client may retry the key. The caller commits."""
    repository.delete_idempotency_key(session, claim.seq)


def prune(session: Executor, now: int) -> int:
    """Forget keys past their 24 hours, each by its account's clock (`now` is real time).
    Run at `serve`'s start and every PRUNE_EVERY_SECONDS while it serves
    (services/housekeeping.py). The caller commits."""
    return repository.prune_idempotency_keys(session, now, TTL_SECONDS)
