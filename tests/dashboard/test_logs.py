"""/dashboard/logs and /dashboard: whatever an entry holds, its pages render."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import update

from filelinks_api.models import request_log
from tests.api.helpers import create_link, uploaded


def test_an_error_without_a_message_renders(browser, client, anonymous, session):
    link = create_link(client, uploaded(client)["id"])
    got = anonymous.get(urlsplit(link["url"]).path)
    # an error that is not Stripe's JSON (a proxy's, say) is logged without a message
    session.execute(
        update(request_log)
        .where(request_log.c.id == got.headers["request-id"])
        .values(status=502, response=None, error={"type": "api_error", "message": None})
    )

    for path in ("/dashboard/logs", "/dashboard", f"/dashboard/logs/{got.headers['request-id']}"):
        page = browser.get(path)
        assert page.status_code == 200, (path, page.text[-2000:])
        assert "None" not in page.text
