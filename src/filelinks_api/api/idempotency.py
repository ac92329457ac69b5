"""The idempotency layer around every POST of the Stripe API.

`idempotent(call)` claims the request's `Idempotency-Key` in a write transaction of its own
(its parameters are decoded and valid by then, an upload's bytes have arrived), raises
`Replay` with the stored response when the key has been answered before, renews the claim's
lease while the request works, and settles the key when the endpoint fails: a final answer is
stored, a retryable one releases the key (failures.keeps_result). `Idempotent.respond(work)`
runs the endpoint's database work in one write transaction, stores the rendered response with
the key in it, and commits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.responses import Response

from filelinks_api import metrics
from filelinks_api.api import injection
from filelinks_api.api.deps import Call
from filelinks_api.errors import StripeError
from filelinks_api.failures import Kind, classify, keeps_result
from filelinks_api.repository import Executor
from filelinks_api.services import idempotency
from filelinks_api.services.idempotency import Claim, Stored
from filelinks_api.wire.envelope import dumps, error_body, request_id_of, request_log_url_of

log = logging.getLogger("filelinks_api.error")


class Replay(Exception):
    """The key was answered before: send that answer again."""

    def __init__(self, stored: Stored, key: str) -> None:
        super().__init__(key)
        self.stored = stored
        self.key = key

    def response(self) -> Response:
        metrics.IDEMPOTENT_REPLAYS.inc()
        return Response(
            self.stored.body,
            status_code=self.stored.status,
            media_type="application/json",
            headers={
                "Stripe-Should-Retry": "false",
                "Idempotent-Replayed": "true",
                "Original-Request": self.stored.request_id,
                "Idempotency-Key": self.key,
            },
        )


class Idempotent:
    """One write request: its key (if any), its claim, and its response."""

    def __init__(self, call: Call[Any], key: str | None) -> None:
        self.call = call
        self.key = key
        self.request_id = request_id_of(call.request)
        self.claim: Claim | None = None

    async def take(self) -> None:
        """Claim the key (its own transaction), or raise Replay with the first answer."""
        assert self.key is not None
        call = self.call
        outcome = await call.db.write(
            idempotency.claim,
            call.scope,
            self.key,
            endpoint=call.request.url.path,
            params_digest=call.digest(),
            now=call.now,
            request_id=self.request_id,
        )
        if isinstance(outcome, Stored):
            raise Replay(outcome, self.key)
        self.claim = outcome

    async def keep_lease(self) -> None:
        """Renew the claim while the request works (a task, cancelled when it ends): most
        requests end long before the first renewal."""
        while True:
            await asyncio.sleep(idempotency.RENEW_EVERY)
            claim = self.claim
            if claim is None:
                return
            try:
                if not await self.call.db.write(idempotency.renew, claim):
                    return  # taken over: store() will refuse this request's answer
            except Exception as exc:  # the next renewal may succeed; the lease says how long
                metrics.IDEMPOTENCY_UNSETTLED.inc()
                log.warning(
                    "could not renew the idempotency claim of %s: %s", claim.request_id, exc
                )

    async def respond(self, work: Callable[[Executor], dict[str, Any]]) -> Response:
        """Run `work` (it returns the Stripe object) in one write transaction, store its
        response with the key in the same transaction, commit, answer."""
        claim = self.claim

        def unit(executor: Executor) -> bytes:
            body = dumps(work(executor))
            if claim is not None:
                idempotency.store(executor, claim, 200, body)
            return body

        body = await self.call.db.write(unit)
        headers = {"Stripe-Should-Retry": "false"}  # what Stripe sends on a POST's success
        if self.key is not None:
            headers |= {"Idempotency-Key": self.key, "Original-Request": self.request_id}
        return Response(body, media_type="application/json", headers=headers)

    async def fail(self, error: StripeError) -> None:
        """Settle the key after `error`: a final answer (failures.keeps_result) is stored and
        replayed; a retryable one releases the key, so the SDK's retry runs the request."""
        claim = self.claim
        if claim is None:
            return
        self.claim = None
        db = self.call.db
        if keeps_result(error):
            body = error_body(error, request_log_url_of(self.call.request))
            await db.write(idempotency.store, claim, error.status, body)
        else:
            await db.write(idempotency.release, claim)


@asynccontextmanager
async def idempotent(call: Call[Any]) -> AsyncIterator[Idempotent]:
    """Claim the request's key (if it has one) around a write."""
    key = call.request.headers.get("idempotency-key")
    idem = Idempotent(call, key)
    lease: asyncio.Task[None] | None = None
    if key is not None:
        idempotency.check_key(key)
        await idem.take()
        lease = asyncio.get_running_loop().create_task(idem.keep_lease())
    try:
        injection.after_claim(call)  # an error from a fault rule, settled below like any
        yield idem
    except Exception as exc:
        failure = classify(exc, idem.request_id)
        if failure.source == "database" and failure.kind is Kind.UNAVAILABLE:
            # Settling the key would wait on the database that just failed, a second timeout
            # for the client: the claim is left to its lease, free within LEASE_SECONDS.
            idem.claim = None
            raise
        try:
            await idem.fail(failure.error)
        except Exception as settling:
            # The client still gets the first failure. The claim stays until its lease runs
            # out (idempotency.LEASE_SECONDS), then a retry takes it over.
            metrics.IDEMPOTENCY_UNSETTLED.inc()
            log.warning("could not settle idempotency key of %s: %s", idem.request_id, settling)
        raise
    finally:
        if lease is not None:
            lease.cancel()
