"""Every id, token and request id comes from here, from `secrets`."""

from __future__ import annotations

import functools
import hashlib
import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def _base62(data: bytes, length: int) -> str:
    number = int.from_bytes(data, "big")
    chars = []
    for _ in range(length):
        number, rest = divmod(number, 62)
        chars.append(_ALPHABET[rest])
    return "".join(chars)


def file_id() -> str:
    return "file_" + _base62(secrets.token_bytes(18), 24)


def file_link_id() -> str:
    return "link_" + _base62(secrets.token_bytes(18), 24)


def fault_rule_id() -> str:
    return "fault_" + _base62(secrets.token_bytes(18), 24)


def link_token() -> str:
    """The secret in a public link URL: 256 random bits, unrelated to any id."""
    return secrets.token_urlsafe(32)


def request_id() -> str:
    return "req_" + _base62(secrets.token_bytes(11), 14)


@functools.lru_cache(maxsize=4096)
def account_for_key(api_key: str) -> str:
    """A stable account id for a key in open mode, so each distinct key is its own account."""
    return "acct_" + _base62(hashlib.sha256(api_key.encode()).digest(), 16)
