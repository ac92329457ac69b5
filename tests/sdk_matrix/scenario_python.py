"""The SDK matrix's scenario for one stripe-python version and one way of calling it.

Run by `test_stripe_python.py` with the interpreter of a virtualenv that holds that version
alone, so it imports nothing from this project and only what every version has:

    python scenario_python.py BASE_URL API_KEY PDF_PATH (module|client|module_async|client_async)

Upload, link create/retrieve/update/list (auto-paging forward and backward), expand, errors
mapped to the SDK's exception classes (a publishable key's PermissionError, an over-long
Idempotency-Key's IdempotencyError among them), an idempotent retry, and the link URL's bytes. A failed
check raises (exit status 1); at the end one JSON line says what was seen.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import sys
import urllib.request
import uuid

import stripe

BASE, KEY, PDF_PATH, API = sys.argv[1:5]
ASYNC = API.endswith("_async")
VERSION = getattr(stripe, "VERSION", None) or stripe.version.VERSION  # 4.x: stripe.version
seen: dict[str, object] = {"stripe": VERSION, "api": API}


def check(condition: bool, what: str) -> None:
    if not condition:
        raise AssertionError(what)


def error_class(name: str) -> type[Exception]:
    found = getattr(stripe, name, None)  # 8.x on; before, only in stripe.error
    if found is None:
        found = getattr(stripe.error, name)
    return found


def plain(obj: object) -> dict[str, object]:
    """A StripeObject as a dict (16.x is no longer a dict itself)."""
    to_dict = getattr(obj, "to_dict", None)
    return dict(to_dict()) if to_dict is not None else dict(obj)


def headers_of(obj: object) -> dict[str, str]:
    response = obj.last_response
    return {str(k).lower(): v for k, v in dict(response.headers).items()}


async def done(value: object) -> object:
    """A sync SDK call's result, or an async one's, awaited."""
    if inspect.isawaitable(value):
        return await value
    return value


class Module:
    """The module-level API: `stripe.File.create(...)`, `stripe.FileLink.list(...)`."""

    def __init__(self, asynchronous: bool) -> None:
        stripe.api_key = KEY
        stripe.api_base = BASE
        stripe.upload_api_base = BASE
        self.suffix = "_async" if asynchronous else ""

    def call(self, resource: object, method: str, *args: object, **params: object) -> object:
        return getattr(resource, method + self.suffix)(*args, **params)

    def upload(self, fp: object) -> object:
        return self.call(stripe.File, "create", purpose="dispute_evidence", file=fp)

    def retrieve_file(self, file_id: str) -> object:
        return self.call(stripe.File, "retrieve", file_id)

    def create_link(self, options: dict[str, str] | None = None, **params: object) -> object:
        return self.call(stripe.FileLink, "create", **params, **(options or {}))

    def retrieve_link(self, link_id: str, **params: object) -> object:
        return self.call(stripe.FileLink, "retrieve", link_id, **params)

    def update_link(self, link_id: str, **params: object) -> object:
        return self.call(stripe.FileLink, "modify", link_id, **params)

    def list_links(self, **params: object) -> object:
        return self.call(stripe.FileLink, "list", **params)

    def list_files(self, **params: object) -> object:
        return self.call(stripe.File, "list", **params)

    def with_key(self, key: str) -> object:
        return self.call(stripe.FileLink, "list", api_key=key)


class Client:
    """`StripeClient` (8.x on), through `client.v1` where the version has it."""

    def __init__(self, asynchronous: bool) -> None:
        self.client = self.make(KEY)
        self.suffix = "_async" if asynchronous else ""

    @staticmethod
    def make(key: str) -> object:
        client = stripe.StripeClient(key, base_addresses={"api": BASE, "files": BASE})
        return getattr(client, "v1", client)

    def call(self, service: object, method: str, *args: object, **kw: object) -> object:
        return getattr(service, method + self.suffix)(*args, **kw)

    def upload(self, fp: object) -> object:
        params = {"purpose": "dispute_evidence", "file": fp}
        return self.call(self.client.files, "create", params=params)

    def retrieve_file(self, file_id: str) -> object:
        return self.call(self.client.files, "retrieve", file_id)

    def create_link(self, options: dict[str, str] | None = None, **params: object) -> object:
        links = self.client.file_links
        return self.call(links, "create", params=params, options=options or {})

    def retrieve_link(self, link_id: str, **params: object) -> object:
        links = self.client.file_links
        return self.call(links, "retrieve", link_id, params=params)

    def update_link(self, link_id: str, **params: object) -> object:
        links = self.client.file_links
        return self.call(links, "update", link_id, params=params)

    def list_links(self, **params: object) -> object:
        return self.call(self.client.file_links, "list", params=params)

    def list_files(self, **params: object) -> object:
        return self.call(self.client.files, "list", params=params)

    def with_key(self, key: str) -> object:
        return self.call(self.make(key).file_links, "list")


async def ids_of(page: object) -> list[str]:
    """Every id the SDK's auto-pager yields from `page` on."""
    pager = page.auto_paging_iter()
    if ASYNC:
        return [item.id async for item in pager]
    return [item.id for item in pager]


async def raises(name: str, call: object) -> Exception:
    try:
        await done(call() if callable(call) else call)
    except error_class(name) as error:
        return error
    raise AssertionError(f"no {name}")


async def scenario(api: Module | Client) -> None:
    with open(PDF_PATH, "rb") as fp:
        pdf = fp.read()
        fp.seek(0)
        file = await done(api.upload(fp))
    check(file.object == "file" and file.id.startswith("file_"), f"upload: {file}")
    check(file.size == len(pdf), "upload: size")
    check((await done(api.retrieve_file(file.id))).id == file.id, "retrieve file")
    version = headers_of(file).get("stripe-version")
    seen["stripe_version_sent"] = stripe.api_version
    seen["stripe_version_echoed"] = version
    if stripe.api_version:  # the version this SDK pins is accepted and echoed
        check(version == stripe.api_version, f"Stripe-Version echoed: {version}")

    link = await done(api.create_link(file=file.id, metadata={"order": "6735", "step": "1"}))
    check(link.object == "file_link" and link.file == file.id, f"create link: {link}")
    check(link.expired is False and link.livemode is False, "create link: flags")
    expanded = await done(api.retrieve_link(link.id, expand=["file"]))
    check(isinstance(expanded.file, stripe.File), "expand file")
    check(expanded.file.id == file.id, "expand file: id")
    updated = await done(
        api.update_link(link.id, metadata={"step": "", "note": "paid"}, expires_at=4_000_000_000)
    )
    check(plain(updated.metadata) == {"order": "6735", "note": "paid"}, f"update: {updated}")
    check(updated.expires_at == 4_000_000_000, "update: expires_at")
    with urllib.request.urlopen(link.url) as public:
        check(public.read() == pdf, "the link URL serves the bytes")

    created = [link]
    for _ in range(4):
        created.append(await done(api.create_link(file=file.id)))
    newest_first = [item.id for item in reversed(created)]
    forward = await ids_of(await done(api.list_links(file=file.id, limit=2)))
    check(forward == newest_first, f"auto-paging forward: {forward}")
    backward = await ids_of(
        await done(api.list_links(file=file.id, limit=2, ending_before=created[0].id))
    )
    check(backward == [item.id for item in created[1:]], f"auto-paging backward: {backward}")
    listed = await done(api.list_links(file=file.id, limit=1, expand=["data.file"]))
    check(listed.has_more is True, "list: has_more")
    check(listed.data[0].file.id == file.id, "list: expand data.file")
    files = await ids_of(await done(api.list_files(limit=1, purpose="dispute_evidence")))
    check(files == [file.id], f"files auto-paging: {files}")

    missing = await raises("InvalidRequestError", lambda: api.retrieve_link("link_missing"))
    check(missing.http_status == 404, "missing link: 404")
    check(missing.code == "resource_missing" and missing.param == "id", "missing link: code")
    too_long = await raises("InvalidRequestError", lambda: api.create_link(file="f" * 5001))
    check(too_long.param == "file", "a 5001-character file id: param")
    check("must be at most 5000 characters" in str(too_long), "5001 characters: message")
    bad_key = await raises("AuthenticationError", lambda: api.with_key("not a key"))
    check(bad_key.http_status == 401, "bad key: 401")
    publishable = await raises("PermissionError", lambda: api.with_key("pk_test_" + "p" * 24))
    check(publishable.http_status == 403, "publishable key: 403")
    check(publishable.json_body["error"]["code"] == "secret_key_required", "publishable: code")
    long_key = await raises(
        "IdempotencyError", lambda: api.create_link({"idempotency_key": "k" * 256}, file=file.id)
    )
    check(long_key.http_status == 400, "a 256-character Idempotency-Key: 400")
    check("Idempotent key length is 256" in str(long_key), "256-character key: message")

    key = str(uuid.uuid4())
    first = await done(api.create_link({"idempotency_key": key}, file=file.id))
    retried = await done(api.create_link({"idempotency_key": key}, file=file.id))
    check(retried.id == first.id, "idempotent retry: same link")
    check(headers_of(retried).get("idempotent-replayed") == "true", "idempotent retry: replayed")
    check(headers_of(first).get("idempotency-key") == key, "idempotency key echoed")
    seen["ok"] = True


def main() -> None:
    api: Module | Client = (Module if API.startswith("module") else Client)(ASYNC)
    asyncio.run(scenario(api))
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
