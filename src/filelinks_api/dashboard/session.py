"""The dashboard's session cookie and the token every form carries (CSRF). Pure: no HTTP here.

The cookie holds the API key the person pasted (and the Stripe-Account they chose), and the
key is authenticated again, with the API's own `authenticate`, on every request. Why the key
and not a signed session: every worker and replica must recognise a session with no state of
its own and no secret shared between them (replicas share only the database and the object
store), and a signature needs such a secret. The key is what the API accepts anyway, and
checking it again on every page means a key removed from FILELINKS_API_KEYS loses the
dashboard at once. The cookie is HttpOnly (no script reads it), SameSite=Strict (no other
site's page, form or link sends it), Path=/dashboard (the API never receives it), and Secure
over HTTPS.

CSRF, on top of SameSite=Strict: the cookie also holds a random session id, made anew at each
sign-in, and every form carries HMAC(session id, key and account); a POST whose token does not
match is refused. The sign-in form is protected the same way, with a session id given before
sign-in (in a cookie of its own), so another site cannot sign a browser in to an account of its
choosing. A POST whose `Sec-Fetch-Site` or `Origin` says it came from another origin is
refused as well (dashboard/web.py), token or not.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

COOKIE = "filelinks_dashboard"
COOKIE_PATH = "/dashboard"
# The sign-in form's session id lives in a cookie of its own, sent to the sign-in page only:
# showing that page (a link from another site, whose request the browser sends without the
# SameSite=Strict session cookie) never touches the session cookie, so it never signs anyone
# out. Only a sign-in (a POST, with its token) and a sign-out set that one.
SIGNIN_COOKIE = "filelinks_signin"
SIGNIN_COOKIE_PATH = "/dashboard/signin"
_VERSION = "v1"
_SID = re.compile(r"[A-Za-z0-9_-]{32,64}")
# What may stand in a cookie value unquoted; keys and accounts are narrower still, and
# `authenticate` checks them again on every request.
_PART = re.compile(r"[A-Za-z0-9_]{1,255}")


def new_session_id() -> str:
    # ids.py makes the API's ids and tokens; this one never leaves the browser's cookie.
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Session:
    """What the cookie says: a session id, and once signed in, the key (and account)."""

    sid: str
    key: str | None = None
    stripe_account: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.key is not None

    def csrf_token(self) -> str:
        message = f"csrf\x00{self.key or ''}\x00{self.stripe_account or ''}".encode()
        return hmac.new(self.sid.encode(), message, hashlib.sha256).hexdigest()

    def accepts(self, token: object) -> bool:
        """Whether a submitted form's token is this session's."""
        return isinstance(token, str) and hmac.compare_digest(token, self.csrf_token())

    def encode(self) -> str:
        parts = [_VERSION, self.sid]
        if self.key is not None:
            parts.append(self.key)
            if self.stripe_account is not None:
                parts.append(self.stripe_account)
        return ".".join(parts)

    @classmethod
    def decode(cls, value: str | None) -> Session | None:
        """The session in a cookie value, or None for a missing or malformed one."""
        if not value:
            return None
        parts = value.split(".")
        if not 2 <= len(parts) <= 4 or parts[0] != _VERSION or not _SID.fullmatch(parts[1]):
            return None
        if not all(_PART.fullmatch(part) for part in parts[2:]):
            return None
        key = parts[2] if len(parts) > 2 else None
        account = parts[3] if len(parts) > 3 else None
        return cls(sid=parts[1], key=key, stripe_account=account)
