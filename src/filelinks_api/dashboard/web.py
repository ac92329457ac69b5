"""What every dashboard page shares: who is looking (`Viewer`), rendering a template, the
route class that turns failures into pages, forms and their CSRF check, and the assets.

The app renders every failure as Stripe's JSON envelope; a page must not. `PageRoute` catches
what a page handler raises before the app's handlers see it: a `StripeError` becomes an HTML
page with the error's status and message, a missing or rejected session a redirect to the
sign-in page, a form without its token a 403 page.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache, cached_property
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson
from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.responses import HTMLResponse, RedirectResponse, Response

from filelinks_api import __version__
from filelinks_api.api.deps import Runtime
from filelinks_api.dashboard.session import COOKIE, COOKIE_PATH, Session
from filelinks_api.errors import StripeError
from filelinks_api.repository import Scope
from filelinks_api.wire.form import refuse_nul
from filelinks_api.wire.request import Caller, authenticate, base_url, mask_key, read_params

HERE = Path(__file__).resolve().parent
SIGNIN_PATH = "/dashboard/signin"

# Pages load only what the dashboard serves itself: no inline script, nothing from outside,
# and no other site may frame them. The file preview frames /dashboard/files/{id}/contents.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
        " frame-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none';"
        " frame-ancestors 'none'"
    ),
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


class SignInRequired(Exception):
    """No session, or its key is no longer accepted: off to the sign-in page."""


class FormRefused(Exception):
    """A POST without this session's form token."""


# --- who is looking -------------------------------------------------------------------------


@dataclass
class Viewer:
    """A signed-in person on a page: their key's scope, at their account's time."""

    request: Request
    runtime: Runtime
    session: Session
    caller: Caller
    scope: Scope
    now: int

    @cached_property
    def csrf_token(self) -> str:
        """What every form of this session carries."""
        return self.session.csrf_token()

    @property
    def masked_key(self) -> str:
        return mask_key(self.session.key or "")

    @property
    def base_url(self) -> str:
        return self.runtime.settings.public_url or base_url(self.request)

    @property
    def clock(self) -> dict[str, Any]:
        return self.runtime.clocks.state(self.scope)

    async def form(self) -> dict[str, Any]:
        """The POSTed form, decoded like any request's parameters, once its token checks."""
        return await checked_form(self.request, self.session)

    def page(self, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        return render(template, self.request, viewer=self, status=status, **context)


async def checked_form(request: Request, session: Session | None) -> dict[str, Any]:
    """The POSTed form, decoded like any request's parameters, if it was sent from this
    origin and carries `session`'s token; else FormRefused (also without a session)."""
    if not from_this_origin(request):
        raise FormRefused
    data = (await read_params(request, Runtime.of(request).settings.max_body_bytes)).data
    if session is None or not session.accepts(data.get("csrf_token")):
        raise FormRefused
    return data


def from_this_origin(request: Request) -> bool:
    """What the browser says of where a form came from, when it says it: `Sec-Fetch-Site`
    must be `same-origin` (or `none`: the person's own action); a browser without it, whose
    `Origin` must be this server's (as the request addressed it, or FILELINKS_PUBLIC_URL).
    A sibling subdomain is same-site, not same-origin: refused too. (`Sec-Fetch-Site` first:
    the browser works it out itself, where `Origin` is compared with a Host header that a
    proxy may have rewritten.)"""
    headers = request.headers
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = headers.get("origin")
    if origin is None:
        return True
    public_url = Runtime.of(request).settings.public_url
    ours = {_origin(base_url(request))} | ({_origin(public_url)} if public_url else set())
    return origin.lower() in ours


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


async def signed_in(request: Request) -> Viewer:
    """The dependency of every page behind the sign-in."""
    runtime = Runtime.of(request)
    session = Session.decode(request.cookies.get(COOKIE))
    if session is None or session.key is None:
        raise SignInRequired
    for name, value in request.query_params.multi_items():  # the pages' filters
        refuse_nul(name, value)
    try:
        caller = authenticate(
            f"Bearer {session.key}", session.stripe_account, runtime.settings.api_keys
        )
    except StripeError:
        raise SignInRequired from None
    await runtime.clocks.refresh()
    scope = Scope(caller.account, caller.livemode)
    viewer = Viewer(request, runtime, session, caller, scope, runtime.clocks.now(scope))
    request.state.dashboard_viewer = viewer  # for an error page that follows
    return viewer


def set_session(
    response: Response,
    request: Request,
    session: Session,
    *,
    name: str = COOKIE,
    path: str = COOKIE_PATH,
) -> None:
    response.set_cookie(
        name,
        session.encode(),
        path=path,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_session(
    response: Response, request: Request, *, name: str = COOKIE, path: str = COOKIE_PATH
) -> None:
    response.delete_cookie(
        name,
        path=path,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def safe_next(value: object) -> str | None:
    """A page to return to after signing in: a dashboard path, never another site."""
    if not isinstance(value, str) or not re.fullmatch(
        r"/dashboard(/[^\s\\]*)?(\?[^\s\\]*)?", value
    ):
        return None
    return None if "//" in value else value


# --- rendering --------------------------------------------------------------------------------


# The Gregorian calendar repeats every 400 years, 146,097 days to the day.
_CYCLE_DAYS, _CYCLE_YEARS = 146_097, 400
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc(timestamp: int) -> tuple[int, datetime]:
    """(years to add, a datetime in range) for any integer timestamp. The API accepts any
    int64 `expires_at` and a test clock may stand anywhere, but `datetime` stops at year
    9999: a later moment is shifted back by whole 400-year cycles, which keeps its month,
    day and weekday."""
    days, seconds = divmod(timestamp, 86_400)
    cycles = 0
    if days > 2_900_000:  # past about year 9900
        cycles = (days - 2_900_000) // _CYCLE_DAYS + 1
    elif days < -700_000:  # before about year 50
        cycles = -((-700_000 - days) // _CYCLE_DAYS + 1)
    moment = _EPOCH + timedelta(days=days - cycles * _CYCLE_DAYS, seconds=seconds)
    return cycles * _CYCLE_YEARS, moment


def _format(timestamp: int, pattern: str) -> str:
    years, moment = _utc(timestamp)
    return f"{moment.year + years:04d}{moment.strftime(pattern)}"


def when(timestamp: int | None) -> str:
    if timestamp is None:
        return "never"
    return _format(timestamp, "-%m-%d %H:%M:%S UTC")


def datetime_input(timestamp: int) -> str:
    """A `datetime-local` field's value, in UTC."""
    return _format(timestamp, "-%m-%dT%H:%M:%S")


def span(seconds: int) -> str:
    """A duration as a person reads it: 42 s, 5 min, 3 h 20 min, 2 d 4 h."""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def relative(timestamp: int | None, now: int) -> str:
    if timestamp is None:
        return "never"
    if timestamp == now:
        return "now"
    return f"in {span(timestamp - now)}" if timestamp > now else f"{span(now - timestamp)} ago"


def size(count: int) -> str:
    """Bytes in Stripe's decimal units: 512 B, 12.3 kB, 4.2 MB."""
    if count < 1000:
        return f"{count} B"
    value = count / 1000
    for unit in ("kB", "MB"):
        if value < 1000:
            return f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def query(base: Mapping[str, Any] | None = None, /, **params: Any) -> str:
    """`?a=1&b=2` from `base` and `params`, without the empty ones ('' when nothing is left)."""
    merged = {**(base or {}), **params}
    kept = {name: value for name, value in merged.items() if value not in (None, "")}
    return "?" + urlencode(kept) if kept else ""


@cache
def environment() -> Environment:
    from filelinks_api.dashboard.forms import metadata_text  # forms builds on this module

    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=StrictUndefined,  # a misspelt name fails the page (and its test)
        auto_reload=False,  # templates ship in the package; no stat per page
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        when=when,
        datetime_input=datetime_input,
        relative=relative,
        span=span,
        size=size,
        pretty=pretty,
        query=query,
        metadata_text=metadata_text,
        asset=asset_url,
        version=__version__,
    )
    return env


def render(
    template: str,
    request: Request,
    *,
    viewer: Viewer | None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    context.setdefault("error", None)
    context.setdefault("notice", None)
    context.setdefault("nav", None)
    html = environment().get_template(template).render(viewer=viewer, **context)
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def error_page(request: Request, error: StripeError) -> HTMLResponse:
    viewer = getattr(request.state, "dashboard_viewer", None)
    return render("error.html", request, viewer=viewer, status=error.status, error=error)


BOUNCE = """<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url={url}">
<title>Opening the dashboard</title><p><a href="{url}">Open the dashboard</a></p>"""


def linked_from_another_site(request: Request) -> bool:
    """A link from another site (a request_log_url in a CI log, say), followed in a browser
    that held the SameSite=Strict cookie back."""
    headers = request.headers
    return (
        headers.get("sec-fetch-site") == "cross-site"
        and headers.get("sec-fetch-mode") == "navigate"
        and COOKIE not in request.cookies
    )


def bounce(path: str) -> Response:
    """Load `path` again from this site: the browser then sends the cookie, if it has one.
    Sets no cookie."""
    return HTMLResponse(BOUNCE.format(url=escape(path)), headers=PAGE_HEADERS)


def sign_in_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    wanted = safe_next(target) if request.method == "GET" else None
    if wanted is not None and linked_from_another_site(request):
        return bounce(wanted)
    location = SIGNIN_PATH + query(next=wanted if wanted != "/dashboard" else None)
    return RedirectResponse(location, status_code=303)


FORM_REFUSED = StripeError(
    "This form did not come from this dashboard, or its session has changed since the page was"
    " loaded (signed in again, or signed out). Reload the page and submit the form again.",
    status=403,
)


class PageRoute(APIRoute):
    """A dashboard route: failures become pages, never Stripe's JSON envelope."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                return sign_in_redirect(request)
            except FormRefused:
                return error_page(request, FORM_REFUSED)
            except StripeError as error:
                return error_page(request, error)

        return page_handler


def page_router() -> APIRouter:
    return APIRouter(route_class=PageRoute, include_in_schema=False)


# --- forms ------------------------------------------------------------------------------------


def text(data: Mapping[str, Any], name: str) -> str:
    """A form field as text ('' when absent, or when a crafted form sent a nested value)."""
    value = data.get(name)
    return value.strip() if isinstance(value, str) else ""


def filled(data: Mapping[str, Any], *names: str) -> dict[str, str]:
    """The named fields that were filled in, for a params model (blank means not given)."""
    return {name: text(data, name) for name in names if text(data, name)}


def pages(rows: list[Any], has_more: bool, params: Any) -> tuple[str | None, str | None]:
    """The cursors of the newer and older pages around `rows` (newest first), if any."""
    if not rows:
        return None, None
    if params.ending_before is not None:
        return (rows[0].id if has_more else None), rows[-1].id
    if params.starting_after is not None:
        return rows[0].id, (rows[-1].id if has_more else None)
    return None, (rows[-1].id if has_more else None)


# --- assets -----------------------------------------------------------------------------------

ASSETS = {
    "dashboard.css": "text/css; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}


@cache
def _asset(name: str) -> tuple[bytes, str]:
    content = (HERE / "static" / name).read_bytes()
    return content, hashlib.sha256(content).hexdigest()[:12]


def asset_url(name: str) -> str:
    """The asset's URL, naming its content, so a browser may keep it as long as it likes."""
    return f"/dashboard/assets/{name}?v={_asset(name)[1]}"


assets = APIRouter(include_in_schema=False)


@assets.get("/dashboard/assets/{name}")
async def dashboard_asset(name: str) -> Response:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise StripeError(f"No such dashboard asset: '{name[:80]}'", status=404)
    content, digest = _asset(name)
    headers = {
        "Cache-Control": "public, max-age=86400",
        "ETag": f'"{digest}"',
        "X-Content-Type-Options": "nosniff",
    }
    return Response(content, media_type=media_type, headers=headers)


# Registered last: any other path under /dashboard is a page that does not exist.
not_found = page_router()


@not_found.get("/dashboard/{rest:path}")
async def no_such_page(rest: str) -> Response:
    if not rest:  # /dashboard/
        return RedirectResponse("/dashboard", status_code=308)
    raise StripeError(f"There is no dashboard page at /dashboard/{rest[:200]}.", status=404)
