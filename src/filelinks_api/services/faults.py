"""Fault rules: failures on demand, to test an integration's retries (emulator, not Stripe).

A rule belongs to a scope (account, connected account, mode) and acts on that scope's `/v1`
requests that match its `method` and `path` prefix, `times` times, oldest rule first, one
rule per request. What it does:

- `error`: answers Stripe's error envelope for `status`, with Stripe's own body and
  `Stripe-Should-Retry` for that status unless `type`, `code` or `message` are given
  (`DEFAULTS`, sources in docs/stripe-behavior.md §15). Where it happens decides whether the
  request's `Idempotency-Key` keeps it: a rate-limit 429 comes before the idempotency layer, as
  Stripe's rate limiters do, and is never kept; every other error happens once the endpoint
  has begun, after the key's claim, and is settled like any failure there
  (`api/idempotency.Idempotent.fail`, `failures.keeps_result`): a 500 or a 402 is kept and
  replayed, a retryable 503, 409 or lock_timeout 429 releases the key.
- `delay`: the request runs and commits, and its response leaves `delay_ms` later (a slow
  answer: a client whose timeout is shorter retries a request that was applied).
- `reset`: the connection is closed with no response, `before` the request is applied, or
  `after` (it ran, committed and its idempotent result was stored: the lost response).

Rules live in the database, so every worker and replica applies them, and a rule is spent
with an atomic decrement (`repository.spend_fault_rule`): `times=1` fires once across all of
them. Each process keeps the set of scopes that have rules still acting (`FaultBook`), so a
request in any other scope pays one set lookup; the set is reloaded with the test clocks
(services/clock_sync.py carries both: a rule added anywhere is known everywhere before the
POST that added it returns).

Where it stops: rules act only on requests that authenticated and passed parameter
validation (a request refused before that is refused as usual); a request answered from its
key's stored response spends a matching `error` rule without effect (Stripe replays without
running the endpoint); `reset` needs the server's HTTP protocol (`filelinks-api serve`), and
an in-process test client sees a `ConnectionResetError` instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from filelinks_api import ids, repository
from filelinks_api.errors import InvalidRequestError, LockTimeout, ResourceMissing, StripeError
from filelinks_api.models import FaultRuleRow
from filelinks_api.repository import Executor, Scope
from filelinks_api.schemas import CreateFaultParams

if TYPE_CHECKING:
    from filelinks_api.db import Database
    from filelinks_api.services.clock_sync import ClockSync

MAX_DELAY_MS = 60_000
MAX_TIMES = 1_000_000
LOCK_TIMEOUT = "lock_timeout"

RATE_LIMITED_TEST = (
    "Testmode request rate limit exceeded, the rate limits in testmode are lower than livemode."
    " You can learn more about rate limits here https://stripe.com/docs/rate-limits."
)
RATE_LIMITED_LIVE = (
    "Request rate limit exceeded. You can learn more about rate limits here"
    " https://stripe.com/docs/rate-limits."
)
UNAVAILABLE_TEST = (
    "Test mode requests are temporarily disabled due to exceptionally high traffic. Please"
    " contact us via https://support.stripe.com/contact for more information if this problem"
    " persists."
)
UNAVAILABLE_LIVE = (
    "Requests are temporarily disabled due to exceptionally high traffic. Please contact us via"
    " https://support.stripe.com/contact for more information if this problem persists."
)
UNKNOWN_ERROR = "An unknown error occurred"
CARD_DECLINED = "Your card was declined."


@dataclass(frozen=True)
class Body:
    type: str
    code: str | None
    message: str


def default_body(status: int, code: str | None, livemode: bool, rule_id: str) -> Body:
    """What Stripe sends for `status` (docs/stripe-behavior.md §15)."""
    if status == 402:
        return Body("card_error", "card_declined", CARD_DECLINED)
    if status == 429:
        if code == LOCK_TIMEOUT:
            return Body("invalid_request_error", LOCK_TIMEOUT, LockTimeout().message)
        return Body(
            "invalid_request_error",
            "rate_limit",
            RATE_LIMITED_LIVE if livemode else RATE_LIMITED_TEST,
        )
    if status == 503:
        return Body("api_error", None, UNAVAILABLE_LIVE if livemode else UNAVAILABLE_TEST)
    if status >= 500:
        return Body("api_error", None, UNKNOWN_ERROR)
    # [EMULATOR] no Stripe body for this status: say where it comes from
    return Body(
        "invalid_request_error",
        None,
        f"The request failed with status {status}: emulator fault rule {rule_id} answered it.",
    )


def should_retry(status: int, code: str | None) -> bool:
    """`Stripe-Should-Retry`: true where a retry may succeed (a lock, an outage, a conflict),
    false for a final answer and for rate limiting (the SDKs do not retry it)."""
    return code == LOCK_TIMEOUT or status in (409, 502, 503, 504)


def before_idempotency(status: int, code: str | None) -> bool:
    """Stripe's rate limiters run before its idempotency layer: such a 429 is never kept."""
    return status == 429 and code != LOCK_TIMEOUT


class InjectedError(StripeError):
    """An error answered by a fault rule; a declined card carries Stripe's `decline_code`."""

    def __init__(self, rule: FaultRuleRow) -> None:
        assert rule.status is not None
        assert rule.message is not None
        super().__init__(
            rule.message,
            code=rule.code,
            status=rule.status,
            should_retry=should_retry(rule.status, rule.code),
        )
        self.type = rule.type or "api_error"

    def to_dict(self) -> dict[str, str]:
        body = super().to_dict()
        if self.code == "card_declined":
            body = {"code": "card_declined", "decline_code": "generic_decline", **body}
        return body


@dataclass(frozen=True)
class Fault:
    """A rule that acts on this request."""

    rule: FaultRuleRow

    @property
    def action(self) -> str:
        return self.rule.action

    @property
    def delay_seconds(self) -> float:
        return (self.rule.delay_ms or 0) / 1000

    @property
    def reset_before(self) -> bool:
        return self.rule.action == "reset" and self.rule.reset_when == "before"

    @property
    def reset(self) -> bool:
        return self.rule.action == "reset"

    @property
    def before_idempotency(self) -> bool:
        rule = self.rule
        return rule.status is not None and before_idempotency(rule.status, rule.code)

    def error(self) -> InjectedError:
        return InjectedError(self.rule)

    def log(self) -> dict[str, Any]:
        """What the request log records."""
        return {"id": self.rule.id, "action": self.rule.action}


# --- the rules ----------------------------------------------------------------------------------


def _refuse(message: str, param: str) -> InvalidRequestError:
    return InvalidRequestError(message, param=param)


def _only_for(param: str, action: str) -> InvalidRequestError:
    return _refuse(f"{param} is only for action={action}; remove it from this rule.", param)


def _check(params: CreateFaultParams) -> None:
    action = params.action
    given = {
        "status": params.status,
        "type": params.type,
        "code": params.code,
        "message": params.message,
    }
    if action != "error":
        for name, value in given.items():
            if value is not None:
                raise _only_for(name, "error")
    if action != "delay" and params.delay_ms is not None:
        raise _only_for("delay_ms", "delay")
    if action != "reset" and params.when is not None:
        raise _only_for("when", "reset")
    if action == "error" and params.status is not None and not 400 <= params.status <= 599:
        raise _refuse(
            f"Invalid status: {params.status}. An error rule answers an HTTP error status"
            " from 400 to 599.",
            "status",
        )
    if action == "delay":
        if params.delay_ms is None:
            raise InvalidRequestError(
                "Missing required param: delay_ms.", code="parameter_missing", param="delay_ms"
            )
        if not 0 <= params.delay_ms <= MAX_DELAY_MS:
            raise _refuse(
                f"Invalid delay_ms: {params.delay_ms}. Give a delay from 0 to {MAX_DELAY_MS:,}"
                " milliseconds.",
                "delay_ms",
            )
    if action == "reset" and params.when is None:
        raise InvalidRequestError(
            "Missing required param: when (before: nothing is applied; after: the request is"
            " applied and its response lost).",
            code="parameter_missing",
            param="when",
        )
    if not 1 <= params.times <= MAX_TIMES:
        raise _refuse(
            f"Invalid times: {params.times}. A rule acts on 1 to {MAX_TIMES:,} requests.", "times"
        )
    if params.path is not None and not (params.path == "/v1" or params.path.startswith("/v1/")):
        raise _refuse(
            f"Invalid path: {params.path}. Fault rules act on /v1 requests only: give a prefix"
            " of the request path that starts with /v1/ (/v1/file_links).",
            "path",
        )


def create_rule(
    session: Executor, sync: ClockSync, scope: Scope, params: CreateFaultParams, *, now: int
) -> FaultRuleRow:
    """Check and store a rule; the caller commits, then tells every process
    (`sync.published()`)."""
    _check(params)
    rule_id = ids.fault_rule_id()
    status = type_ = code = message = None
    if params.action == "error":
        status = params.status if params.status is not None else 500
        code = params.code
        body = default_body(status, code, scope.livemode, rule_id)
        type_ = params.type or body.type
        if params.code is None and params.type is None:
            code = body.code
        message = params.message or body.message
    row = repository.insert_fault_rule(
        session,
        {
            "id": rule_id,
            "account": scope.account,
            "livemode": scope.livemode,
            "created": now,
            "action": params.action,
            "method": params.method,
            "path": params.path,
            "status": status,
            "type": type_,
            "code": code,
            "message": message,
            "delay_ms": params.delay_ms,
            "reset_when": params.when,
            "times": params.times,
            "remaining": params.times,
        },
    )
    sync.mark(session)
    return row


def list_rules(session: Executor, scope: Scope) -> list[FaultRuleRow]:
    """Newest first, spent ones included."""
    return list(reversed(repository.fault_rules_of(session, scope)))


def delete_rule(session: Executor, scope: Scope, rule_id: str) -> None:
    if not repository.delete_fault_rule(session, scope, rule_id):
        raise ResourceMissing(
            f"No such emulator fault: '{rule_id}'", code="resource_missing", param="id", status=404
        )


def delete_rules(session: Executor, scope: Scope) -> int:
    return repository.delete_fault_rules(session, scope)


def matches(rule: FaultRuleRow, method: str, path: str) -> bool:
    return (rule.method is None or rule.method == method) and (
        rule.path is None or path.startswith(rule.path)
    )


def _spend_first(session: Executor, candidates: list[FaultRuleRow]) -> FaultRuleRow | None:
    """The oldest candidate that still had a use, spent; None if others took them all."""
    for rule in candidates:
        remaining = repository.spend_fault_rule(session, rule.seq)
        if remaining is not None:
            return rule._replace(remaining=remaining)
    return None


def load_scopes(session: Executor) -> list[Scope]:
    return repository.scopes_with_live_fault_rules(session)


class FaultBook:
    """Per process: the scopes that have rules still acting. `has_rules` is the whole cost of
    fault rules for a request in any other scope (a frozenset lookup)."""

    def __init__(self) -> None:
        self._scopes: frozenset[Scope] = frozenset()
        self._version = 0

    def load(self, scopes: Iterable[Scope]) -> None:
        self._scopes = frozenset(scopes)
        self._version += 1

    async def reload(self, db: Database) -> None:
        self.load(await db.read(load_scopes))

    def has_rules(self, scope: Scope) -> bool:
        return scope in self._scopes

    async def take(self, db: Database, scope: Scope, method: str, path: str) -> Fault | None:
        """The oldest live rule of `scope` matching the request, spent by one; None if none."""
        version = self._version
        rules = await db.read(repository.fault_rules_of, scope, live=True)
        candidates = [rule for rule in rules if matches(rule, method, path)]
        spent = await db.write(_spend_first, candidates) if candidates else None
        others = any(rule.remaining > 0 for rule in rules if spent is None or rule.seq != spent.seq)
        if not others and (spent is None or spent.remaining == 0) and version == self._version:
            # Nothing acts here any more: stop asking. A rule added since reloads the set
            # (the version moved, or this process reloads before its next request).
            self._scopes = self._scopes - {scope}
        return Fault(spent) if spent is not None else None
