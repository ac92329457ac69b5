"""The Stripe API's routes, run lean: `CallRoute` and `add_routes`.

Every `/v1` endpoint has one shape: its path parameters (plain `str`) and one `Call`, from
`call_of(...)`'s dependency (api/deps.py), returning a `Response` it made itself. For that
shape FastAPI's per-request handler does nothing the endpoint needs (no body field, no
response model to serialize, no dependency with `yield`) and costs about a quarter of a
retrieve (`bench/asgi_cost.py --profile retrieve`: solving the one dependency, two exit
stacks, its own exception wrapper). A `CallRoute` of that shape runs the dependency and the
endpoint itself; FastAPI still builds the route (OpenAPI, matching, 405s) and a route of any
other shape keeps FastAPI's handler. An exception goes up to the app's exception middleware,
whose handlers (wire/envelope.py, app.py) answer it as they answer any other route's.

This relies on FastAPI's `APIRoute.dependant` and `APIRoute.app`, and on how
`include_router` nests a router (0.165): pyproject pins FastAPI to the releases tested.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from filelinks_api.schemas import ERROR_RESPONSES

CALL_PARAMETER = "call"


class CallRoute(APIRoute):
    """An APIRoute whose endpoint, when it takes path parameters and one `Call`, is run
    without FastAPI's per-request handler (`lean` tells whether it is)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        lean = lean_app(self)
        self.lean = lean is not None
        if lean is not None:
            self.app = lean


def lean_app(route: APIRoute) -> ASGIApp | None:
    """The route's ASGI app without FastAPI's handler, or None when its shape needs it."""
    dependant: Dependant = route.dependant
    if (
        dependant.query_params
        or dependant.header_params
        or dependant.cookie_params
        or dependant.body_params
        or _takes_more(dependant)
        or route.dependencies  # the router's or the decorator's own
        or route.body_field is not None
        or route.dependency_overrides_provider is not None
        or len(dependant.dependencies) != 1
        or not inspect.iscoroutinefunction(route.endpoint)
    ):
        return None
    call_of = dependant.dependencies[0]
    if (
        call_of.name != CALL_PARAMETER
        or call_of.call is None
        or not inspect.iscoroutinefunction(call_of.call)
        or call_of.dependencies
        or call_of.path_params
        or call_of.query_params
        or call_of.header_params
        or call_of.cookie_params
        or call_of.body_params
        or call_of.request_param_name is None
        or _takes_more(call_of, but_request=True)
    ):
        return None
    if any(
        field.field_info.annotation is not str
        or field.alias != field.name
        or field.field_info.metadata  # a constraint FastAPI would check
        for field in dependant.path_params
    ):
        return None
    dependency: Callable[[Request], Awaitable[Any]] = call_of.call
    endpoint: Callable[..., Awaitable[Response]] = route.endpoint
    names = tuple(field.name for field in dependant.path_params)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        call = await dependency(Request(scope, receive, send))
        path_params = scope["path_params"]
        arguments = {name: path_params[name] for name in names}
        response = await endpoint(**arguments, call=call)
        await response(scope, receive, send)

    return app


def _takes_more(dependant: Dependant, *, but_request: bool = False) -> bool:
    """Whether the function takes one of what FastAPI hands a function besides parameters
    and dependencies (the request, the response, the connection, background tasks...)."""
    return bool(
        (dependant.request_param_name and not but_request)
        or dependant.websocket_param_name
        or dependant.http_connection_param_name
        or dependant.response_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
    )


def api_router(*, lean: bool = False) -> APIRouter:
    """A router for `add_routes`; with `lean`, of CallRoutes (the `/v1` endpoints')."""
    return APIRouter(route_class=CallRoute if lean else APIRoute, responses=ERROR_RESPONSES)


def add_routes(app: FastAPI, router: APIRouter) -> None:
    """The router's routes as the app's own, in order. `app.include_router` keeps a router
    nested (FastAPI 0.165): each request matched the router, then its routes, twice over
    (~20 µs of a retrieve), and a nested route runs an app FastAPI builds for the inclusion,
    not the route's own (a CallRoute's). Taken this way, the routes do not see
    `app.dependency_overrides` (the service sets none)."""
    app.router.routes.extend(router.routes)
