"""api/route.py: the `/v1` routes run without FastAPI's per-request handler, and answer
exactly as they did with it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Path, Request
from fastapi.routing import APIRoute, request_response
from fastapi.testclient import TestClient
from starlette.responses import JSONResponse, Response

from filelinks_api.api.route import CallRoute, add_routes, api_router
from tests.api.helpers import bearer, create_link, uploaded
from tests.conftest import new_key


def test_every_v1_route_of_the_app_is_lean(app: FastAPI) -> None:
    v1 = [r for r in app.routes if isinstance(r, APIRoute) and r.path.startswith("/v1/")]
    assert len(v1) >= 9
    assert all(isinstance(r, CallRoute) and r.lean for r in v1), [
        r.path for r in v1 if not getattr(r, "lean", False)
    ]
    # taken as the app's own, not behind a nested router
    assert all(r in app.router.routes for r in v1)


def test_the_openapi_document_keeps_the_error_envelope_on_the_apps_own_routes(
    app: FastAPI,
) -> None:
    paths = app.openapi()["paths"]
    for path, method in [("/v1/file_links/{link_id}", "get"), ("/links/{token}", "get")]:
        default = paths[path][method]["responses"]["default"]
        assert default["content"]["application/json"]["schema"]["$ref"].endswith("ErrorEnvelope")


@pytest.fixture
def fastapi_handlers(app: FastAPI) -> Iterator[None]:
    """The app's lean routes run with FastAPI's own handler for the test's duration."""
    lean = [(r, r.app) for r in app.router.routes if isinstance(r, CallRoute) and r.lean]
    assert lean
    for route, _ in lean:
        route.app = request_response(route.get_route_handler())
    yield
    for route, own in lean:
        route.app = own


_IDS = re.compile(r"\b(link|file|req)_[A-Za-z0-9]{10,}|/links/[A-Za-z0-9_-]+")


def _answer(response: httpx.Response) -> tuple[Any, ...]:
    """What a client sees, with the ids that differ from one run to the next masked."""
    kind = response.headers.get("content-type", "")
    body = (
        _IDS.sub("<id>", response.text) if kind.startswith("application/json") else response.content
    )
    kept = ("content-type", "stripe-should-retry", "idempotent-replayed", "content-disposition")
    return response.status_code, {k: response.headers.get(k) for k in kept}, body


def _script(client: TestClient) -> list[tuple[Any, ...]]:
    file = uploaded(client)
    link = create_link(client, file["id"], **{"metadata[order]": "1"})
    missing_version = {"Stripe-Version": "2001-01-01"}
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", f"/v1/file_links/{link['id']}", {}),
        ("GET", f"/v1/file_links/{link['id']}", {"params": {"expand[]": "file"}}),
        ("GET", "/v1/file_links/link_nothere", {}),
        ("GET", "/v1/file_links", {"params": {"limit": "2"}}),
        ("GET", "/v1/file_links", {"params": {"limit": "many"}}),
        ("GET", "/v1/file_links", {"params": {"colour": "red"}}),
        ("GET", f"/v1/files/{file['id']}", {}),
        ("GET", "/v1/files", {"params": {"limit": "1"}}),
        ("GET", f"/v1/files/{file['id']}/contents", {}),
        ("HEAD", f"/v1/files/{file['id']}/contents", {}),
        ("POST", f"/v1/file_links/{link['id']}", {"data": {"metadata[order]": "2"}}),
        ("POST", "/v1/file_links", {"data": {"file": "file_nothere"}}),
        ("POST", "/v1/file_links", {"data": {"file": file["id"]}}),
        ("POST", "/v1/files", {"data": {"purpose": "dispute_evidence"}}),
        ("GET", "/v1/file_links", {"headers": missing_version}),
        ("GET", "/v1/file_links", {"headers": {"Authorization": "Bearer sk_test_"}}),
        ("GET", "/v1/file_links", {"headers": {"Authorization": ""}}),
    ]
    return [_answer(client.request(method, path, **kw)) for method, path, kw in requests]


def test_lean_routes_answer_as_fastapis_handler_does(
    app: FastAPI, request: pytest.FixtureRequest
) -> None:
    # each run in an account of its own (a key of its own), from the same start
    with TestClient(app, headers=bearer(new_key())) as client:
        lean = _script(client)
    request.getfixturevalue("fastapi_handlers")
    with TestClient(app, headers=bearer(new_key())) as client:
        assert _script(client) == lean
    statuses = [status for status, _, _ in lean]
    assert statuses == [200, 200, 404, 200, 400, 400, 200, 200, 200, 200, 200, 400, 200, 400] + [
        400,
        401,
        401,
    ]


# --- the shape a route needs to run lean --------------------------------------------------


class Seen:
    def __init__(self, request: Request) -> None:
        self.path = request.scope["path"]


async def seen(request: Request) -> Seen:
    if request.headers.get("x-refuse"):
        raise LookupError("refused by the dependency")
    return Seen(request)


def _small_app() -> FastAPI:
    router = api_router(lean=True)

    @router.get("/things/{thing}/{part}")
    async def thing(thing: str, part: str, call: Annotated[Seen, Depends(seen)]) -> Response:
        return JSONResponse({"thing": thing, "part": part, "path": call.path})

    @router.get("/query/{thing}")
    async def with_query(thing: str, n: int, call: Annotated[Seen, Depends(seen)]) -> Response:
        return JSONResponse({"thing": thing, "n": n})

    @router.get("/request")
    async def with_request(request: Request, call: Annotated[Seen, Depends(seen)]) -> Response:
        return JSONResponse({"path": request.url.path})

    @router.get("/typed/{number}")
    async def typed(number: int, call: Annotated[Seen, Depends(seen)]) -> Response:
        return JSONResponse({"number": number})

    @router.get("/constrained/{thing}")
    async def constrained(
        thing: Annotated[str, Path(min_length=3)], call: Annotated[Seen, Depends(seen)]
    ) -> Response:
        return JSONResponse({"thing": thing})

    app = FastAPI()
    add_routes(app, router)

    async def refused(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": str(exc)}, status_code=418)

    app.add_exception_handler(LookupError, refused)
    return app


def test_only_the_call_shape_runs_lean_and_every_shape_answers() -> None:
    app = _small_app()
    lean = {r.path: r.lean for r in app.routes if isinstance(r, CallRoute)}
    assert lean == {
        "/things/{thing}/{part}": True,
        "/query/{thing}": False,  # a query parameter FastAPI decodes
        "/request": False,  # the Request itself
        "/typed/{number}": False,  # a path parameter FastAPI converts
        "/constrained/{thing}": False,  # a path parameter FastAPI checks
    }
    with TestClient(app) as client:
        assert client.get("/things/a%20b/c").json() == {
            "thing": "a b",
            "part": "c",
            "path": "/things/a b/c",
        }
        assert client.get("/query/x", params={"n": "3"}).json() == {"thing": "x", "n": 3}
        assert client.get("/query/x", params={"n": "three"}).status_code == 422
        assert client.get("/request").json() == {"path": "/request"}
        assert client.get("/typed/7").json() == {"number": 7}
        assert client.get("/constrained/ab").status_code == 422
        assert client.get("/constrained/abc").json() == {"thing": "abc"}
        # the dependency's exception reaches the app's handler, lean or not
        for path in ("/things/a/b", "/query/x?n=1"):
            refused = client.get(path, headers={"x-refuse": "1"})
            assert (refused.status_code, refused.json()) == (
                418,
                {"error": "refused by the dependency"},
            )
        assert client.post("/things/a/b").status_code == 405
