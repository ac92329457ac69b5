"""Stripe's envelopes and headers: JSON bodies, error and list envelopes, Request-Id, CORS.

Every response leaves through `StripeMiddleware`, which stamps the headers Stripe sends,
reports the answered request to an observer (the access log and metrics, api/monitoring.py),
turns an unexpected exception into a 500 `api_error` envelope, and ends a request whose body
arrives too slowly (uvicorn has no body read timeout) with a 408.
FastAPI's own failures (unknown route, wrong method, validation) are rendered here too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from filelinks_api.clock import today
from filelinks_api.errors import (
    ApiError,
    InvalidRequestError,
    RequestTimeout,
    RouteNotFound,
    StripeError,
)
from filelinks_api.ids import request_id
from filelinks_api.wire.version import version_in_effect

error_log = logging.getLogger("filelinks_api.error")

DEFAULT_BODY_TIMEOUT = 30.0

# On every response, as Stripe sends them.
PLAIN_HEADERS: list[tuple[bytes, bytes]] = [
    (b"cache-control", b"no-cache, no-store"),
    (b"vary", b"Origin"),
]
# Stripe's CORS grant, on its own paths only (/v1, and the public link URLs of its files
# host): any origin, no credentials. Stripe also sends `Access-Control-Allow-Credentials:
# true`, which beside `*` is an invalid pair that browsers refuse: left out, it changes
# nothing a browser may do. The emulator's own paths (/_emulator, /dashboard, /metrics, ...)
# grant nothing, so no other site's page reads them or sends them a preflighted request.
CORS_HEADERS: list[tuple[bytes, bytes]] = [
    (b"access-control-allow-methods", b"GET, HEAD, PUT, PATCH, POST, DELETE"),
    (b"access-control-allow-origin", b"*"),
    (
        b"access-control-expose-headers",
        b"Request-Id, Stripe-Manage-Version, Stripe-Should-Retry,"
        b" X-Stripe-External-Auth-Required, X-Stripe-Privileged-Session-Required",
    ),
    (b"access-control-max-age", b"300"),
    *PLAIN_HEADERS,
]
CORS_PREFIXES = ("/v1/", "/links/")


def grants_cors(path: str) -> bool:
    return path.startswith(CORS_PREFIXES) or path == "/v1"


def dumps(content: Any) -> bytes:
    """Stripe's JSON: pretty-printed with two spaces, keys in the order they were built."""
    return orjson.dumps(content, option=orjson.OPT_INDENT_2)


class StripeJSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)


def list_envelope(data: list[Any], *, has_more: bool, url: str) -> dict[str, Any]:
    """A list body, keys in the order Stripe's docs print one (object, url, has_more, data)."""
    return {"object": "list", "url": url, "has_more": has_more, "data": data}


def error_body(error: StripeError, request_log_url: str | None = None) -> bytes:
    """The one place an error envelope's body is built; an authenticated request's error
    links to its entry in the dashboard's request log, as Stripe's link to its Dashboard."""
    content = error.to_dict()
    if request_log_url is not None:
        error_type = content.pop("type")
        content["request_log_url"] = request_log_url
        content["type"] = error_type
    return dumps({"error": content})


def request_log_url_of(request: Request) -> str | None:
    url: str | None = request.scope.get("state", {}).get("request_log_url")
    return url


def error_response(error: StripeError, request_log_url: str | None = None) -> Response:
    headers = error.headers
    if error.should_retry is not None:
        headers = {**headers, "Stripe-Should-Retry": "true" if error.should_retry else "false"}
    return Response(
        error_body(error, request_log_url),
        status_code=error.status,
        headers=headers,
        media_type="application/json",
    )


def request_id_of(request: Request) -> str:
    return request.scope.get("state", {}).get("request_id", "")


# --- handlers for failures raised inside the app ------------------------------------------


async def _stripe_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StripeError)
    return error_response(exc, request_log_url_of(request))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code in (404, 405):
        return error_response(RouteNotFound.for_request(request.method, request.url.path))
    return error_response(StripeError(str(exc.detail), status=exc.status_code))


async def _validation_error(request: Request, exc: Exception) -> Response:
    error = InvalidRequestError("Invalid request parameters.")
    return error_response(error, request_log_url_of(request))


# Told of every answered request: (scope, status, seconds, whether it was an idempotent replay).
Observer = Callable[[Scope, int, float, bool], None]
# What an exception that reached the last resort means: (the error to send, whether it is a
# bug worth a traceback). The app passes failures.py's; the wire knows no driver or store.
Classifier = Callable[[BaseException, str], tuple[StripeError, bool]]


def _internal(exc: BaseException, request_id: str) -> tuple[StripeError, bool]:
    return ApiError(request_id), True


def install_handlers(
    app: FastAPI,
    *,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
    observe: Observer | None = None,
    classify: Classifier = _internal,
) -> None:
    app.add_exception_handler(StripeError, _stripe_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(
        StripeMiddleware, body_timeout=body_timeout, observe=observe, classify=classify
    )


# --- the middleware every response passes through -----------------------------------------


class StripeMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware): headers, the body deadline, the last-resort 500, and
    the observer's report."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
        observe: Observer | None = None,
        classify: Classifier = _internal,
    ) -> None:
        self.app = app
        self.body_timeout = body_timeout
        self.observe = observe
        self.classify = classify

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = request_id()
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        versions: list[str] = []
        preflight_headers = b""
        for name, value in scope["headers"]:
            if name == b"stripe-version":
                versions.append(value.decode("latin-1"))
            elif name == b"access-control-request-headers":
                preflight_headers = value
        # The version in effect: the one asked for when valid (the routes refuse an invalid
        # one after authenticating), else the default.
        version = version_in_effect(versions, today()).encode("latin-1")
        cors = grants_cors(scope["path"])
        extra = [
            (b"request-id", rid.encode()),
            (b"stripe-version", version),
            *(CORS_HEADERS if cors else PLAIN_HEADERS),
        ]
        status = 0
        replayed = False
        # The whole body must have arrived by then. A pause per read would not do: a client
        # sending one byte a second never pauses long, and holds its upload open for ever.
        deadline = asyncio.get_running_loop().time() + self.body_timeout
        body_done = False

        async def receive_in_time() -> Message:
            nonlocal body_done
            if body_done or status:  # what is left is waiting for a disconnect: no deadline
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout(self.body_timeout) from None
            body_done = message["type"] != "http.request" or not message.get("more_body")
            return message

        async def send_with_headers(message: Message) -> None:
            nonlocal status, replayed
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                replayed = (b"idempotent-replayed", b"true") in headers
                # A header the response set itself (its own Cache-Control, say) wins and is not doubled.
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in extra if name not in present]
                message["headers"] = headers
            await send(message)

        try:
            if scope["method"] == "OPTIONS" and cors:  # elsewhere: no route, Stripe's 404
                if preflight_headers:
                    extra.append((b"access-control-allow-headers", preflight_headers))
                await Response(status_code=200)(scope, receive, send_with_headers)
            else:
                await self.app(scope, receive_in_time, send_with_headers)
        except ClientDisconnect:
            status = status or 499
        except Exception as exc:
            error, unexpected = self.classify(exc, rid)
            if unexpected or status != 0:
                error_log.exception("request %s failed: %s %s", rid, scope["method"], scope["path"])
            if status == 0:
                answer = error_response(error, state.get("request_log_url"))
                await answer(scope, receive, send_with_headers)
            else:
                raise
        finally:
            if self.observe is not None:
                self.observe(scope, status, time.perf_counter() - started, replayed)
