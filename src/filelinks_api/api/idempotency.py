"""The idempotency layer around every POST, and the one place a write request commits.

`idempotent()` claims the request's `Idempotency-Key` (after authentication and, except for
uploads, after parameter validation), raises `Replay` with the stored response when the key
has been answered before, and stores whatever error the endpoint ends with. `respond()` renders
the endpoint's result, stores it with the key in the endpoint's own transaction, and commits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from filelinks_api.api.deps import Context
from filelinks_api.db import is_lock_timeout
from filelinks_api.errors import ApiError, StripeError
from filelinks_api.repository import Scope
from filelinks_api.services import idempotency
from filelinks_api.services.idempotency import Claim, Stored
from filelinks_api.wire.envelope import dumps, request_id_of


class Replay(Exception):
    """The key was answered before: send that answer again."""

    def __init__(self, stored: Stored, key: str) -> None:
        super().__init__(key)
        self.stored = stored
        self.key = key

    def response(self) -> Response:
        return Response(
            self.stored.body,
            status_code=self.stored.status,
            media_type="application/json",
            headers={
                "Idempotent-Replayed": "true",
                "Original-Request": self.stored.request_id,
                "Idempotency-Key": self.key,
            },
        )


class Idempotency:
    """One request's key, and its claim once the endpoint is executing."""

    def __init__(self, session: Session, scope: Scope, key: str | None, request: Request) -> None:
        self.session = session
        self.scope = scope
        self.key = key
        self.endpoint = request.url.path
        self.request_id = request_id_of(request)
        self.claim: Claim | None = None
        self.digest: str | None = None
        # False until the parameters are known to be valid: a failure before that is not stored.
        self.executing = False

    def begin(self, params: dict[str, Any] | None, *, now: int) -> None:
        if self.key is None:
            return
        self.digest = None if params is None else idempotency.digest(params)
        outcome = idempotency.claim(
            self.session,
            self.scope,
            self.key,
            endpoint=self.endpoint,
            params_digest=self.digest,
            now=now,
            request_id=self.request_id,
        )
        self._take(outcome)
        self.executing = params is not None

    def validated(self, params: dict[str, Any], file_sha256: str | None = None) -> None:
        """For uploads: the parameters (and bytes) are now known and valid."""
        self.executing = True
        if self.key is None:
            return
        self.digest = idempotency.digest(params, file_sha256)
        if self.claim is None:  # the key was answered before: same parameters?
            existing = idempotency.lookup(self.session, self.scope, self.key)
            self._take(idempotency.compare(existing, self.key, self.digest))

    def _take(self, outcome: Claim | Stored | None) -> None:
        if isinstance(outcome, Stored):
            assert self.key is not None
            raise Replay(outcome, self.key)
        self.claim = outcome

    def release(self) -> None:
        if self.claim is not None:
            self.session.rollback()
            idempotency.release(self.session, self.claim)
            self.claim = None

    def store_failure(self, error: StripeError) -> None:
        if self.claim is None:
            return
        if not self.executing or error.status == 429:
            self.release()
            return
        self.session.rollback()
        body = dumps({"error": error.to_dict()})
        idempotency.store(self.session, self.claim, error.status, body, digest=self.digest)
        self.session.commit()

    def headers(self) -> dict[str, str]:
        if self.key is None:
            return {}
        return {"Idempotency-Key": self.key, "Original-Request": self.request_id}


@asynccontextmanager
async def idempotent(
    context: Context, session: Session, params: dict[str, Any] | None
) -> AsyncIterator[Idempotency]:
    """Claim the request's key around a write; `params` is None for an upload, whose
    parameters are known only once its body has been read (see `Idempotency.validated`)."""
    request = context.request
    key = request.headers.get("idempotency-key")
    if key is not None:
        idempotency.check_key(key)
    idem = Idempotency(session, context.scope, key, request)
    idem.begin(params, now=context.now)
    if params is not None:
        # The claim committed its own transaction: the work begins the next one, waiting
        # for SQLite's write lock without blocking the loop (uploads do so after their body).
        await context.runtime.db.begin_write(session)
    try:
        yield idem
    except StripeError as error:
        idem.store_failure(error)
        raise
    except Replay:
        raise
    except Exception as exc:
        if is_lock_timeout(exc):
            idem.release()  # a 429 is not stored: the client's retry may succeed
        else:
            idem.store_failure(ApiError(idem.request_id))
        raise


def respond(session: Session, idem: Idempotency, content: dict[str, Any]) -> Response:
    """Commit the endpoint's work together with its stored response, then answer."""
    body = dumps(content)
    if idem.claim is not None:
        idempotency.store(session, idem.claim, 200, body, digest=idem.digest)
    session.commit()
    return Response(body, media_type="application/json", headers=idem.headers())
