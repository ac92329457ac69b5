"""Stripe's bracket notation: flat (key, value) pairs to nested dicts and lists.

`metadata[order_id]=6735` -> {"metadata": {"order_id": "6735"}}
`expand[]=a&expand[]=b` and `expand[0]=a&expand[1]=b` -> {"expand": ["a", "b"]}
`created[gte]=1` -> {"created": {"gte": "1"}}

Indexed arrays come back as `IndexedList`, a list that remembers its keys were indices, so a
hash parameter (metadata) can still take "0", "1" as keys. A repeated scalar key keeps the
last value, as Stripe does. Pure functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from filelinks_api.errors import InvalidRequestError

MAX_PARAMS = 1000
MAX_DEPTH = 8
MAX_KEY_LENGTH = 5000


# An array index: canonical decimal ("0", "7", not "07" or a Unicode digit), short enough to
# convert cheaply. Anything else in brackets is a hash key, so `metadata[007]` keeps its key.
_INDEX = re.compile(r"0|[1-9][0-9]{0,8}")


class IndexedList(list[Any]):
    """A list sent as `name[0]=..&name[1]=..`; `as_dict()` gives it back as the hash it was
    sent as ({"0": .., "1": ..}), exactly, because only canonical indices become a list."""

    def as_dict(self) -> dict[str, Any]:
        return {str(i): v for i, v in enumerate(self)}


class _Indexed(dict[str, Any]):
    """Built while decoding `name[<digits>]` keys; turned into an IndexedList at the end."""


def _split_key(key: str) -> list[str] | None:
    """`a[b][c]` -> ["a", "b", "c"]; `a[]` -> ["a", ""]; None when brackets do not nest cleanly."""
    head, bracket, rest = key.partition("[")
    if not bracket:
        return [key]
    if not head:
        return None
    parts = [head]
    rest = "[" + rest
    while rest:
        if not rest.startswith("["):
            return None
        end = rest.find("]")
        if end < 0:
            return None
        parts.append(rest[1:end])
        rest = rest[end + 1 :]
    return parts


def _bad(message: str, param: str | None = None) -> InvalidRequestError:
    return InvalidRequestError(message, param=param)


def refuse_nul(key: str, value: str) -> None:
    """No NUL goes further: PostgreSQL refuses it in any text, and no id or key holds one."""
    if "\x00" in key or "\x00" in value:
        raise _bad("Invalid request: parameter names and values may not contain NUL bytes.")


def decode_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    count = 0
    for key, value in pairs:
        count += 1
        if count > MAX_PARAMS:
            raise _bad(f"Too many parameters: at most {MAX_PARAMS} may be sent in one request.")
        refuse_nul(key, value)
        if len(key) > MAX_KEY_LENGTH:
            raise _bad(
                f"Invalid request: a parameter name is longer than {MAX_KEY_LENGTH} characters."
            )
        parts = _split_key(key) or [key]
        if len(parts) > MAX_DEPTH:
            raise _bad(
                f"Invalid request: parameter {parts[0]} is nested more than {MAX_DEPTH} levels deep.",
                param=parts[0],
            )
        _insert(root, parts, value, key)
    finished: dict[str, Any] = _finish(root)
    return finished


def _insert(root: dict[str, Any], parts: list[str], value: str, key: str) -> None:
    node: Any = root
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        if isinstance(node, list):  # parent was `name[]`: `name[][x]` is not supported
            raise _bad(f"Invalid array: {key}", param=parts[0])
        next_part = parts[depth + 1] if not last else None
        if last:
            existing = node.get(part)
            if isinstance(existing, dict | list):
                raise _bad(
                    f"Invalid request: {key} was sent both as a hash and as a value.", param=key
                )
            node[part] = value
            return
        if next_part == "":
            # `name[]` (only valid as the last segment)
            if depth + 1 != len(parts) - 1:
                raise _bad(f"Invalid array: {key}", param=parts[0])
            child = node.get(part)
            if child is None:
                child = node[part] = []
            elif not isinstance(child, list):
                raise _bad(f"Invalid request: {key} mixes array and hash forms.", param=key)
            child.append(value)
            return
        child = node.get(part)
        wants_indexed = next_part is not None and _INDEX.fullmatch(next_part) is not None
        if child is None:
            child = node[part] = _Indexed() if wants_indexed else {}
        elif isinstance(child, _Indexed) and not wants_indexed:
            # a hash whose first keys looked like indices (metadata[0]=a&metadata[b]=c)
            child = node[part] = dict(child)
        elif not isinstance(child, dict):
            raise _bad(f"Invalid request: {key} was sent both as a hash and as a value.", param=key)
        node = child


def _finish(node: Any) -> Any:
    if isinstance(node, _Indexed):
        indices = sorted(int(k) for k in node)
        values = [_finish(node[k]) for k in sorted(node, key=int)]
        if indices == list(range(len(indices))):
            return IndexedList(values)
        return {k: _finish(v) for k, v in node.items()}
    if isinstance(node, dict):
        return {k: _finish(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_finish(v) for v in node]
    return node


def decode_query(raw: bytes | str) -> dict[str, Any]:
    """A query string or x-www-form-urlencoded body, brackets possibly percent-encoded."""
    return decode_pairs(query_pairs(raw))


def query_pairs(raw: bytes | str) -> list[tuple[str, str]]:
    """The (key, value) pairs of a query string or x-www-form-urlencoded body, undecoded."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _bad("Invalid request: the parameters are not valid UTF-8.") from None
    if not raw:
        return []
    try:
        return parse_qsl(raw, keep_blank_values=True, errors="strict", max_num_fields=MAX_PARAMS)
    except UnicodeDecodeError:
        raise _bad("Invalid request: the parameters are not valid UTF-8.") from None
    except ValueError:
        raise _bad(
            f"Too many parameters: at most {MAX_PARAMS} may be sent in one request."
        ) from None
