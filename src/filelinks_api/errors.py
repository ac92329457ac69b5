"""Stripe's errors as values with a status; `wire.envelope` alone renders them as JSON."""

from __future__ import annotations

SUPPORT = "Please see https://stripe.com/docs or we can help at https://support.stripe.com/."


class StripeError(Exception):
    status: int = 400
    type: str = "invalid_request_error"
    # Stripe-Should-Retry, when Stripe sends it: True for what a retry may change (a lock, an
    # outage, a request in flight), False for a final answer (a 500 is replayed, not redone).
    should_retry: bool | None = None

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        should_retry: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param
        if status is not None:
            self.status = status
        self.headers = headers or {}
        if should_retry is not None:
            self.should_retry = should_retry

    def to_dict(self) -> dict[str, str]:
        body: dict[str, str] = {}
        if self.code is not None:
            body["code"] = self.code
            body["doc_url"] = "https://stripe.com/docs/error-codes/" + self.code.replace("_", "-")
        body["message"] = self.message
        if self.param is not None:
            body["param"] = self.param
        body["type"] = self.type
        return body


class InvalidRequestError(StripeError):
    pass


class ResourceMissing(StripeError):
    """`No such <object>: '<id>'`: 404 for an id in the path, 400 for one in the parameters."""

    NAMES = {"file": "file upload", "file_link": "file link", "request_log": "request log entry"}

    @classmethod
    def for_object(
        cls, kind: str, object_id: str, *, param: str, other_mode: bool | None = None
    ) -> ResourceMissing:
        """`other_mode`: the livemode of an object of the caller's account with that id, when
        only the other mode has one; Stripe then says so, naming both modes."""
        status = 404 if param == "id" else 400
        name = cls.NAMES.get(kind, kind)
        message = f"No such {name}: '{object_id}'"
        if other_mode is not None:
            there, here = ("live", "test") if other_mode else ("test", "live")
            message += (
                f"; a similar object exists in {there} mode, but a {here} mode key was used to"
                " make this request."
            )
        return cls(message, code="resource_missing", param=param, status=status)


class AuthenticationError(StripeError):
    status = 401


class PermissionDenied(StripeError):
    status = 403


PUBLISHABLE_KEY = (
    "This API call cannot be made with a publishable API key. Please use a secret API key. You"
    " can find a list of your API keys at https://dashboard.stripe.com/account/apikeys."
)


def publishable_key_refused() -> PermissionDenied:
    """A 403 (the SDKs' permission error) since at least 2023; it was a 401 in 2016."""
    return PermissionDenied(PUBLISHABLE_KEY, code="secret_key_required")


class RouteNotFound(StripeError):
    status = 404

    @classmethod
    def for_request(cls, method: str, path: str) -> RouteNotFound:
        if path.endswith("/") and path != "/":
            hint = (
                " If you are trying to list objects, remove the trailing slash. If you are trying"
                " to retrieve an object, make sure you passed a valid (non-empty) identifier in"
                " your code."
            )
        else:
            hint = ""
        return cls(f"Unrecognized request URL ({method}: {path}).{hint} {SUPPORT}")


class PayloadTooLarge(StripeError):
    status = 413


class RequestTimeout(StripeError):
    """The request body did not arrive in time; the connection is closed after the answer."""

    status = 408

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"The request body was not received within {seconds:g} seconds. Send the whole"
            " request without pausing, or retry it.",
            headers={"Connection": "close"},
        )


class IdempotencyError(StripeError):
    type = "idempotency_error"


class LockTimeout(StripeError):
    status = 429

    def __init__(self) -> None:
        super().__init__(
            "This object cannot be accessed right now because another API request or Stripe"
            " process is currently accessing it. If you see this error intermittently, retry the"
            " request. If you see this error frequently and are making multiple concurrent"
            " requests to a single object, make your requests serially or at a lower rate.",
            code="lock_timeout",
            should_retry=True,
        )


class ApiError(StripeError):
    status = 500
    type = "api_error"
    should_retry = False

    def __init__(self, request_id: str) -> None:
        super().__init__(
            f"An unexpected error occurred while processing request {request_id}. The error has"
            " been logged; if it persists, please report it.",
        )


class ServiceUnavailable(StripeError):
    status = 503
    type = "api_error"
    should_retry = True
