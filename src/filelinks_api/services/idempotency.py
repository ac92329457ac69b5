"""Idempotent requests, as Stripe promises them for every POST.

A POST carrying `Idempotency-Key` claims the key once its parameters are decoded and valid
(and an upload's bytes have arrived), in a transaction of its own (a row with no response
yet); the endpoint's response is stored in the same transaction as its work, so a retry gets
exactly the first status and body back and nothing is done twice, across restarts and across
processes sharing one database; a 500 is kept too, as on Stripe. Not stored, so a client may
retry: authentication failures, routing errors, parameter validation failures, requests
refused because the key is in flight (409), and what a retry may change: a lock timeout
(429), an outage (503) (failures.keeps_result).

"Same parameters" means the decoded parameters, order-insensitive, plus the sha256 of an
uploaded file. Keys are scoped to the account (with any connected account) and the mode, and
pruned 24 hours after first use, after which they behave as new.

A claim is a lease: its owner renews it every `RENEW_EVERY` seconds while it works, and a
claim not renewed for `LEASE_SECONDS` (its process died mid-request) is taken over by the
next retry. Until then a retry gets the retryable 409 with a `Retry-After` that the SDKs
honour, so their default retries land after the lease. An owner whose claim was taken over
cannot store its answer: its transaction rolls back, and at most one request's work commits.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from filelinks_api import repository
from filelinks_api.errors import IdempotencyError, InvalidRequestError
from filelinks_api.models import IdempotencyKeyRow
from filelinks_api.repository import Executor, Scope
from filelinks_api.services.slices import delete_in_slices

if TYPE_CHECKING:
    from filelinks_api.db import Database

MAX_KEY_LENGTH = 255
TTL_SECONDS = 24 * 60 * 60
LEASE_SECONDS = (
    0.8  # under the SDKs' default retries: stripe-python's third attempt comes >= 1 s in
)
RENEW_EVERY = 0.2


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
    key: str


def digest(params: Mapping[str, Any], file_sha256: str | None = None) -> str:
    """The one "same parameters" digest: the decoded parameters, order-insensitive, plus the
    sha256 of an uploaded file's bytes."""
    canonical = orjson.dumps(params, option=orjson.OPT_SORT_KEYS)
    if file_sha256 is not None:
        canonical += b"\x00file:" + file_sha256.encode()
    return hashlib.sha256(canonical).hexdigest()


def check_key(key: str) -> None:
    """Stripe's length rule, with Stripe's words and type (an empty header value included):
    stripe-python raises `IdempotencyError` for it. Docs/stripe-behavior.md §7."""
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise IdempotencyError(
            f"Idempotent key length is {len(key)} characters long, which is outside accepted"
            f" lengths. Idempotent Keys must be 1-{MAX_KEY_LENGTH} characters long. If you're"
            " looking for a decent generator, try using a UUID defined by IETF RFC 4122."
        )
    if not key.isprintable():
        raise InvalidRequestError(
            "Idempotency keys may not contain control characters. Use a key of printable"
            " characters (a UUID is a good choice)."
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
    values = {
        "account": scope.account,
        "livemode": scope.livemode,
        "key": key,
        "endpoint": endpoint,
        "digest": params_digest,
        "created": now,
        "started_at": time.time(),
        "request_id": request_id,
    }
    # A new key (the SDKs send one with every POST they may retry) is claimed by this one
    # statement.
    seq = repository.insert_idempotency_key(session, values)
    if seq is not None:
        return Claim(seq=seq, request_id=request_id, key=key)
    # the key has a row: answered, in flight, or past its 24 hours
    existing = repository.get_idempotency_key(session, scope, key)
    if existing is not None and existing.created <= now - TTL_SECONDS:
        repository.delete_idempotency_key(session, existing.seq)
        seq = repository.insert_idempotency_key(session, values)
        if seq is not None:
            return Claim(seq=seq, request_id=request_id, key=key)
        # claimed anew by another request first (PostgreSQL; SQLite writers are serialized)
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
        left = existing.started_at + LEASE_SECONDS - time.time()
        if left > 0:
            raise in_use(key, retry_after=left)
        # The owner stopped renewing its lease (its process died): its work never committed,
        # and if it is only slow, it can no longer commit (store() refuses it).
        if repository.take_over_idempotency_key(
            session, existing.seq, existing.started_at, time.time(), request_id, params_digest
        ):
            return Claim(seq=existing.seq, request_id=request_id, key=key)
        raise in_use(key)
    if existing.digest is not None and existing.digest != params_digest:
        raise IdempotencyError(
            "Keys for idempotent requests can only be used with the same parameters they were"
            f" first used with. Try using a key other than '{key}' if you meant to execute a"
            " different request."
        )
    return Stored(status=existing.status, body=existing.body, request_id=existing.request_id)


def in_use(key: str, *, retry_after: float = LEASE_SECONDS) -> IdempotencyError:
    return IdempotencyError(
        "There is currently another in-progress request using this Idempotent Key (that"
        " probably means you submitted twice, and the other request is still going through):"
        f" {key}. Please try again later.",
        code="idempotency_key_in_use",
        status=409,
        should_retry=True,
        headers={"Retry-After": str(max(1, math.ceil(retry_after)))},
    )


def store(session: Executor, claim: Claim, status: int, body: bytes) -> None:
    """Save the response; the caller commits it together with the endpoint's work. Raises
    the 409 (and so rolls the work back) if the claim was taken over meanwhile."""
    if not repository.change_idempotency_claim(
        session, claim.seq, claim.request_id, {"status": status, "body": body}
    ):
        raise in_use(claim.key)


def renew(session: Executor, claim: Claim) -> bool:
    """Extend the claim's lease; False if it was taken over. The caller commits."""
    return repository.change_idempotency_claim(
        session, claim.seq, claim.request_id, {"started_at": time.time()}
    )


def release(session: Executor, claim: Claim) -> None:
    """Forget the claim (the request failed in a way a retry may change): the client may
    retry the key. The caller commits."""
    repository.change_idempotency_claim(session, claim.seq, claim.request_id, None)


def prune(session: Executor, now: int, *, limit: int | None = None) -> int:
    """Forget keys past their 24 hours, each by its account's clock (`now` is real time);
    with `limit`, only the oldest `limit` of them. The caller commits."""
    return repository.prune_idempotency_keys(session, now, TTL_SECONDS, limit=limit)


async def prune_expired(db: Database, now: int) -> int:
    """`prune` in slices (services/slices.py): at `serve`'s start, and every
    KEYS_EVERY_SECONDS while it serves (services/housekeeping.py)."""
    return await delete_in_slices(db, prune, now)
