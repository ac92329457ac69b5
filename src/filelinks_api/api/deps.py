"""What every route gets injected: the caller, a session, the clock, storage, its params.

All dependencies are `async def`: a sync dependency would cost a threadpool hop per request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from filelinks_api.config import Settings
from filelinks_api.db import Database
from filelinks_api.repository import Scope
from filelinks_api.services.controls import ClockBook
from filelinks_api.storage import LocalStorage
from filelinks_api.wire.params import StripeParams, parse
from filelinks_api.wire.request import Caller, authenticate, read_params, require_secret_key


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_settings(request: Request) -> Settings:
    return settings_of(request)


async def get_session(request: Request) -> AsyncIterator[Session]:
    db: Database = request.app.state.db
    # Writes begin with the write lock on SQLite (BEGIN IMMEDIATE); reads never wait for it.
    maker = db.reader if request.method in ("GET", "HEAD") else db.writer
    session = maker()
    try:
        yield session
    finally:
        session.close()


async def get_uploader(request: Request) -> Caller:
    """The caller, publishable keys included (browsers upload directly). Every other
    dependency builds on this one, so a request is authenticated once."""
    caller = authenticate(
        request.headers.get("authorization"),
        request.headers.get("stripe-account"),
        settings_of(request).api_keys,
        allow_publishable=True,
    )
    request.scope["state"]["account"] = caller.account
    return caller


async def get_caller(caller: Annotated[Caller, Depends(get_uploader)]) -> Caller:
    """The caller of an endpoint that needs a secret key."""
    require_secret_key(caller)
    return caller


async def get_scope(caller: Annotated[Caller, Depends(get_caller)]) -> Scope:
    return Scope(caller.account, caller.livemode)


async def get_clocks(request: Request) -> ClockBook:
    clocks: ClockBook = request.app.state.clocks
    return clocks


async def get_now(
    caller: Annotated[Caller, Depends(get_uploader)],
    clocks: Annotated[ClockBook, Depends(get_clocks)],
) -> int:
    """The caller's time: real time, or its account's test clock."""
    return clocks.now(Scope(caller.account, caller.livemode))


async def get_base_url(request: Request) -> str:
    return settings_of(request).public_url or str(request.base_url).rstrip("/")


async def get_storage(request: Request) -> LocalStorage:
    storage: LocalStorage = request.app.state.storage
    return storage


_P = TypeVar("_P", bound=StripeParams)


def params_of(model: type[_P]) -> Callable[..., Awaitable[_P]]:
    """A dependency decoding the request's parameters into `model` (after authentication)."""

    async def dependency(request: Request, _caller: Annotated[Scope, Depends(get_scope)]) -> _P:
        data: dict[str, Any] = await read_params(request, settings_of(request).max_body_bytes)
        params = parse(model, data)
        # Valid parameters, kept for the idempotency layer's "same parameters" check.
        request.scope["state"]["params"] = data
        return params

    return dependency


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
CallerDep = Annotated[Caller, Depends(get_caller)]
UploaderDep = Annotated[Caller, Depends(get_uploader)]
ScopeDep = Annotated[Scope, Depends(get_scope)]
NowDep = Annotated[int, Depends(get_now)]
ClocksDep = Annotated[ClockBook, Depends(get_clocks)]
BaseUrlDep = Annotated[str, Depends(get_base_url)]
StorageDep = Annotated[LocalStorage, Depends(get_storage)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
