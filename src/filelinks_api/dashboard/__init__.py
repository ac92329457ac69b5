"""The web dashboard at /dashboard: the request log, files, file links, the clock and the fault
rules of the signed-in key's scope, server-rendered from `templates/` with one stylesheet and one small
script from `static/`, nothing from outside. A face over the same services as the API: no SQL
and no Stripe rule of its own. Served with the emulator controls (FILELINKS_EMULATOR_CONTROLS).
"""

from __future__ import annotations

from fastapi import APIRouter

from filelinks_api.dashboard import clock, faults, file_links, files, home, logs, signin, web

router = APIRouter(include_in_schema=False)
for _pages in (signin, home, logs, files, file_links, clock, faults):
    router.include_router(_pages.router)
router.include_router(web.assets)
router.include_router(web.not_found)
