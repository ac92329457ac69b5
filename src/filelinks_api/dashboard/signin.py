"""/dashboard/signin and /dashboard/signout: an API key in, a session cookie out."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import RedirectResponse, Response

from filelinks_api.api.deps import Runtime
from filelinks_api.dashboard.session import (
    COOKIE,
    SIGNIN_COOKIE,
    SIGNIN_COOKIE_PATH,
    Session,
    new_session_id,
)
from filelinks_api.dashboard.web import (
    SIGNIN_PATH,
    bounce,
    checked_form,
    clear_session,
    linked_from_another_site,
    page_router,
    query,
    render,
    safe_next,
    set_session,
    text,
)
from filelinks_api.errors import StripeError
from filelinks_api.wire.request import authenticate

router = page_router()


def _signin_page(
    request: Request,
    form_session: Session,
    *,
    next_path: str | None,
    stripe_account: str = "",
    error: StripeError | None = None,
    notice: str | None = None,
) -> Response:
    response = render(
        "signin.html",
        request,
        viewer=None,
        status=error.status if error else 200,
        csrf_token=form_session.csrf_token(),
        next_path=next_path or "",
        stripe_account=stripe_account,
        strict=Runtime.of(request).settings.api_keys is not None,
        error=error,
        notice=notice,
    )
    set_session(response, request, form_session, name=SIGNIN_COOKIE, path=SIGNIN_COOKIE_PATH)
    return response


def _form_session(request: Request) -> Session | None:
    """The sign-in form's own session (its token's key), never the signed-in one's."""
    return Session.decode(request.cookies.get(SIGNIN_COOKIE))


def _accepted(request: Request, session: Session) -> bool:
    try:
        authenticate(
            f"Bearer {session.key}",
            session.stripe_account,
            Runtime.of(request).settings.api_keys,
        )
    except StripeError:
        return False
    return True


@router.get(SIGNIN_PATH)
async def signin_form(request: Request) -> Response:
    current = Session.decode(request.cookies.get(COOKIE))
    next_path = safe_next(request.query_params.get("next"))
    if current is not None and current.signed_in and _accepted(request, current):
        return RedirectResponse(next_path or "/dashboard", status_code=303)
    if linked_from_another_site(request):  # a signed-in browser held its cookie back
        return bounce(SIGNIN_PATH + query(next=next_path))
    # The form's token needs a session id before there is a key: keep the one the browser
    # has, or give it one. (A session cookie whose key is no longer accepted, after
    # FILELINKS_API_KEYS changed, stays until a sign-in replaces it.)
    form_session = _form_session(request) or Session(sid=new_session_id())
    notice = "You are signed out." if request.query_params.get("signed_out") else None
    return _signin_page(request, form_session, next_path=next_path, notice=notice)


@router.post(SIGNIN_PATH)
async def signin(request: Request) -> Response:
    runtime = Runtime.of(request)
    form_session = _form_session(request)
    data = await checked_form(request, form_session)
    assert form_session is not None  # checked_form refuses a form without a session
    key = text(data, "api_key")
    stripe_account = text(data, "stripe_account")
    next_path = safe_next(text(data, "next"))
    try:
        caller = authenticate(f"Bearer {key}", stripe_account or None, runtime.settings.api_keys)
    except StripeError as error:
        # The key is never shown back; the account the person typed is.
        return _signin_page(
            request, form_session, next_path=next_path, stripe_account=stripe_account, error=error
        )
    account = caller.account.partition("/")[2] or None  # as authenticate read it
    # A new session id at each sign-in: a token from before it is worth nothing after.
    session = Session(sid=new_session_id(), key=key, stripe_account=account)
    response = RedirectResponse(next_path or "/dashboard", status_code=303)
    set_session(response, request, session)
    clear_session(response, request, name=SIGNIN_COOKIE, path=SIGNIN_COOKIE_PATH)
    return response


@router.post("/dashboard/signout")
async def signout(request: Request) -> Response:
    await checked_form(request, Session.decode(request.cookies.get(COOKIE)))
    response = RedirectResponse(f"{SIGNIN_PATH}?signed_out=1", status_code=303)
    clear_session(response, request)
    return response
