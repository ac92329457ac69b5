"""/docs: the Swagger UI page for /openapi.json, from assets shipped in the package.

FastAPI's own page loads Swagger UI from a CDN and is blank offline; this one loads the
vendored copy in `static/swagger-ui` (see its README for the version). No authentication:
the page and its assets hold nothing about any account. There is no /redoc: Redoc 3 sends usage
data to its vendor unless told not to and loads icons from its CDN, so it is not offline as
shipped, and it would add 2.3 MB for a second view of the same document.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"
ASSETS_DIR = Path(__file__).resolve().parent.parent / "static" / "swagger-ui"

router = APIRouter()


def assets() -> StaticFiles:
    """The app mounts this at ASSETS_PATH. A missing file raises Starlette's 404, which the
    app's handlers render as Stripe's error envelope like any unknown route."""
    return StaticFiles(directory=ASSETS_DIR)


@router.get(DOCS_PATH, include_in_schema=False)
async def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    app = request.app
    return get_swagger_ui_html(
        openapi_url=f"{root}{app.openapi_url}",
        title=f"{app.title} - Swagger UI",
        swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon-32x32.png",
        swagger_ui_parameters=app.swagger_ui_parameters,
    )
