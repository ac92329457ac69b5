"""Idempotent requests, as Stripe promises them for every POST.

A POST carrying `Idempotency-Key` claims the key once its endpoint starts executing (a row
with no response yet); the endpoint's response is stored in the same transaction as its work,
so a retry gets exactly the first status and body back and nothing is done twice, across
restarts and across processes sharing one database. Not stored, so a client may retry:
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
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from filelinks_api import repository
from filelinks_api.errors import IdempotencyError, InvalidRequestError
from filelinks_api.models import Record
from filelinks_api.repository import Scope

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


def claim(
    session: Session,
    scope: Scope,
    key: str,
    *,
    endpoint: str,
    params_digest: str | None,
    now: int,
    request_id: str,
) -> Claim | Stored | None:
    """Claim `key` for this request, or find what the first request with it did.

    Returns a Claim (go ahead), a Stored response (replay it), or None when the first request
    finished but `params_digest` is not known yet (an upload still to be read): call
    `compare()` once it is. Raises the idempotency errors. Commits its own transaction.
    """
    existing = repository.get_idempotency_key(session, scope, key)
    if existing is not None and existing.created <= now - TTL_SECONDS:
        repository.delete_idempotency_key(session, existing.seq)
        existing = None
    if existing is None:
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
        try:
            seq = repository.insert_idempotency_key(session, values)
            session.commit()
            return Claim(seq=seq, request_id=request_id)
        except IntegrityError:
            session.rollback()  # another request claimed it first
            existing = repository.get_idempotency_key(session, scope, key)
            if existing is None:  # pragma: no cover - claimed and pruned in between
                raise
    outcome = _judge(session, existing, key, endpoint, params_digest, request_id)
    session.commit()
    return outcome


def _judge(
    session: Session,
    existing: Record,
    key: str,
    endpoint: str,
    params_digest: str | None,
    request_id: str,
) -> Claim | Stored | None:
    if existing.endpoint != endpoint:
        raise IdempotencyError(
            "Keys for idempotent requests can only be used for the same endpoint they were first"
            f" used for ('{endpoint}' vs '{existing.endpoint}'). Try using a key other than"
            f" '{key}' if you meant to execute a different request."
        )
    if existing.status is None:
        if time.time() - existing.started_at < ABANDONED_AFTER:
            raise in_use(key)
        # The process that claimed it died before answering; its work never committed.
        if repository.take_over_idempotency_key(
            session, existing.seq, existing.started_at, time.time(), request_id, params_digest
        ):
            return Claim(seq=existing.seq, request_id=request_id)
        raise in_use(key)
    if params_digest is None:
        return None
    return compare(existing, key, params_digest)


def compare(existing: Record, key: str, params_digest: str) -> Stored:
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


def store(
    session: Session, claim: Claim, status: int, body: bytes, *, digest: str | None = None
) -> None:
    """Save the response; the caller commits it together with the endpoint's work."""
    values: dict[str, Any] = {"status": status, "body": body}
    if digest is not None:
        values["digest"] = digest
    repository.update_idempotency_key(session, claim.seq, values)


def lookup(session: Session, scope: Scope, key: str) -> Record:
    existing = repository.get_idempotency_key(session, scope, key)
    if existing is None:  # pruned between the claim and now: nothing to replay
        raise InvalidRequestError(f"The idempotency key '{key}' expired; retry the request.")
    return existing


def release(session: Session, claim: Claim) -> None:
    """Forget the claim (parameters failed validation): the client may retry the key."""
    repository.delete_idempotency_key(session, claim.seq)
    session.commit()


def prune(session: Session, now: int) -> int:
    removed = repository.prune_idempotency_keys(session, now - TTL_SECONDS)
    session.commit()
    return removed
