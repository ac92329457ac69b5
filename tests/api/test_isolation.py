"""Isolation: no request sees or touches another account's objects, another connected
account's, or the other mode's. A foreign id is simply `resource_missing`, lists never hold
foreign objects, and a public link token opens its file's bytes and nothing else.

Strict key mode (FILELINKS_API_KEYS) throughout, so the same account has a test and a live key.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from filelinks_api.config import Settings
from filelinks_api.errors import AuthenticationError
from filelinks_api.wire.request import authenticate
from tests import samples
from tests.api.helpers import create_link, upload, uploaded

A_TEST = "sk_test_51AlphaTestKeyForIsolation00000000"
A_LIVE = "sk_live_51AlphaLiveKeyForIsolation00000000"
B_TEST = "sk_test_51BravoTestKeyForIsolation00000000"
KEYS = {A_TEST: "acct_1Alpha", A_LIVE: "acct_1Alpha", B_TEST: "acct_1Bravo"}


@pytest.fixture
def settings(tmp_path: Path, backend_url: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        data_dir=tmp_path / "data", database_url=backend_url, api_keys=KEYS, _env_file=None
    )


@pytest.fixture
def http(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@dataclass(frozen=True)
class Caller:
    key: str
    connected: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.key}"}
        if self.connected:
            headers["Stripe-Account"] = self.connected
        return headers


PLATFORM = Caller(A_TEST)
CONNECTED = Caller(A_TEST, "acct_1Connected")

# For each owner, everyone who must not see its objects.
FOREIGN: dict[str, tuple[Caller, dict[str, Caller]]] = {
    "platform": (
        PLATFORM,
        {
            "other account": Caller(B_TEST),
            "other mode": Caller(A_LIVE),
            "its connected account": CONNECTED,
        },
    ),
    "connected": (
        CONNECTED,
        {
            "the platform itself": PLATFORM,
            "another connected account": Caller(A_TEST, "acct_1Other"),
            "other mode": Caller(A_LIVE, "acct_1Connected"),
            "other platform, same connected id": Caller(B_TEST, "acct_1Connected"),
        },
    ),
}
CASES = [
    pytest.param(owner, foreign, id=f"{owner_name}-vs-{foreign_name}")
    for owner_name, (owner, foreigners) in FOREIGN.items()
    for foreign_name, foreign in foreigners.items()
]


@dataclass
class Owned:
    file: dict[str, Any]
    link: dict[str, Any]
    content: bytes

    @property
    def token_path(self) -> str:
        return "/links/" + self.link["url"].rsplit("/", 1)[1]


def make_objects(http: TestClient, owner: Caller) -> Owned:
    content = samples.pdf(f"owned by {owner}")
    file = uploaded(
        http,
        content,
        "report.pdf",
        headers={**owner.headers, "Idempotency-Key": "shared-key"},
        content_type="application/pdf",
    )
    link = create_link(http, file["id"], owner.headers, **{"metadata[owner]": "yes"})
    return Owned(file, link, content)


# (method, path, form data, expected status, expected param); {file} and {link} are filled in.
ID_ENDPOINTS = [
    ("GET", "/v1/files/{file}", None, 404, "id"),
    ("GET", "/v1/files/{file}?expand[]=links", None, 404, "id"),
    ("GET", "/v1/files/{file}/contents", None, 404, "id"),
    ("GET", "/v1/file_links/{link}", None, 404, "id"),
    ("GET", "/v1/file_links/{link}?expand[]=file", None, 404, "id"),
    ("POST", "/v1/file_links/{link}", {"metadata[owner]": "mallory"}, 404, "id"),
    ("POST", "/v1/file_links/{link}", {"expires_at": "now"}, 404, "id"),
    ("POST", "/v1/file_links/{link}", {"metadata": ""}, 404, "id"),
    ("POST", "/v1/file_links", {"file": "{file}"}, 400, "file"),
    ("GET", "/v1/files?starting_after={file}", None, 400, "starting_after"),
    ("GET", "/v1/files?ending_before={file}", None, 400, "ending_before"),
    ("GET", "/v1/file_links?starting_after={link}", None, 400, "starting_after"),
    ("GET", "/v1/file_links?ending_before={link}", None, 400, "ending_before"),
]
LISTS = [
    "/v1/files",
    "/v1/files?purpose=dispute_evidence",
    "/v1/files?limit=100&expand[]=data.links",
    "/v1/file_links",
    "/v1/file_links?file={file}",
    "/v1/file_links?expired=false&expand[]=data.file",
]


class TestForeignIds:
    @pytest.mark.parametrize(("owner", "foreign"), CASES)
    def test_are_resource_missing_on_every_endpoint(
        self, http: TestClient, owner: Caller, foreign: Caller
    ) -> None:
        owned = make_objects(http, owner)
        ids = {"file": owned.file["id"], "link": owned.link["id"]}
        for method, path, data, status, param in ID_ENDPOINTS:
            url = path.format(**ids)
            form = {k: v.format(**ids) for k, v in data.items()} if data else None
            got = http.request(method, url, data=form, headers=foreign.headers)
            assert got.status_code == status, (method, url, got.text)
            error = got.json()["error"]
            assert error["code"] == "resource_missing", (method, url, error)
            assert error["param"] == param
        head = http.head(f"/v1/files/{ids['file']}/contents", headers=foreign.headers)
        assert head.status_code == 404
        assert "content-disposition" not in head.headers
        assert_untouched(http, owner, owned)

    @pytest.mark.parametrize(("owner", "foreign"), CASES)
    def test_lists_never_include_them(
        self, http: TestClient, owner: Caller, foreign: Caller
    ) -> None:
        owned = make_objects(http, owner)
        mine = make_objects(http, foreign)
        for path in LISTS:
            url = path.format(file=owned.file["id"])
            got = http.get(url, headers=foreign.headers)
            assert got.status_code == 200, (url, got.text)
            text = got.text
            assert owned.file["id"] not in text, url
            assert owned.link["id"] not in text, url
        # and the foreign caller's own list shows exactly its own objects
        listed = http.get("/v1/files", headers=foreign.headers).json()["data"]
        assert [file["id"] for file in listed] == [mine.file["id"]]
        listed = http.get("/v1/file_links", headers=foreign.headers).json()["data"]
        assert [link["id"] for link in listed] == [mine.link["id"]]

    @pytest.mark.parametrize(("owner", "foreign"), CASES)
    def test_an_idempotency_key_is_not_shared(
        self, http: TestClient, owner: Caller, foreign: Caller
    ) -> None:
        owned = make_objects(http, owner)  # used "shared-key"
        got = upload(
            http,
            samples.pdf("foreign"),
            "mine.pdf",
            headers={**foreign.headers, "Idempotency-Key": "shared-key"},
            content_type="application/pdf",
        )
        assert got.status_code == 200, got.text
        assert "idempotent-replayed" not in got.headers
        assert got.json()["id"] != owned.file["id"]
        assert got.json()["filename"] == "mine.pdf"


def assert_untouched(http: TestClient, owner: Caller, owned: Owned) -> None:
    link = http.get(f"/v1/file_links/{owned.link['id']}", headers=owner.headers).json()
    assert link["metadata"] == {"owner": "yes"}
    assert link["expired"] is False
    assert link["expires_at"] is None
    contents = http.get(f"/v1/files/{owned.file['id']}/contents", headers=owner.headers)
    assert contents.content == owned.content
    assert http.get(owned.token_path).content == owned.content


class TestPublicLinks:
    def test_a_token_serves_its_bytes_without_auth_and_reveals_nothing_else(
        self, http: TestClient
    ) -> None:
        owned = make_objects(http, CONNECTED)
        got = http.get(owned.token_path)
        assert got.status_code == 200
        assert got.content == owned.content
        revealing = [owned.file["id"], owned.link["id"], "acct_", A_TEST, "Alpha", "Connected"]
        for name, value in got.headers.items():
            for secret in revealing:
                assert secret not in value, (name, value)
        # a foreign key changes nothing: the token alone decides
        foreign = http.get(owned.token_path, headers=Caller(B_TEST).headers)
        assert foreign.content == owned.content

    def test_a_token_is_not_an_id_anywhere(self, http: TestClient) -> None:
        owned = make_objects(http, PLATFORM)
        token = owned.token_path.rsplit("/", 1)[1]
        for path in [
            f"/v1/file_links/{token}",
            f"/v1/files/{token}",
            f"/v1/files/{token}/contents",
        ]:
            got = http.get(path, headers=PLATFORM.headers)
            assert got.status_code == 404, path
            assert got.json()["error"]["code"] == "resource_missing"
        listed = http.get("/v1/file_links", params={"file": token}, headers=PLATFORM.headers)
        assert listed.json()["data"] == []

    def test_near_miss_tokens_are_the_same_plain_404(self, http: TestClient) -> None:
        owned = make_objects(http, PLATFORM)
        token = owned.token_path.rsplit("/", 1)[1]
        unknown = http.get("/links/" + "x" * len(token)).json()
        for near in [token[:-1], token + "x", token.swapcase(), token[1:] + token[0], " " + token]:
            got = http.get("/links/" + near)
            assert got.status_code == 404, near
            assert got.json()["error"]["message"] == unknown["error"]["message"]
            assert "param" not in got.json()["error"]
        assert http.post(owned.token_path).status_code == 404  # only GET and HEAD

    def test_no_route_lists_or_finds_links_by_token_without_a_key(self, http: TestClient) -> None:
        owned = make_objects(http, PLATFORM)
        for path in ["/v1/file_links", f"/v1/file_links/{owned.link['id']}", "/v1/files"]:
            got = http.get(path)
            assert got.status_code == 401, path


class TestStrictKeys:
    @pytest.mark.parametrize(
        "key",
        [
            "sk_test_51BravoTestKeyForIsolation00000001",  # configured key, one char off
            A_TEST[:-1],
            A_TEST + "0",
            A_TEST.upper().replace("SK_TEST_", "sk_test_"),
            "sk_live_51AlphaTestKeyForIsolation00000000",  # right secret, other mode prefix
            "rk_test_51AlphaTestKeyForIsolation00000000",
            "sk_test_anything",
        ],
    )
    def test_unconfigured_keys_are_refused(self, http: TestClient, key: str) -> None:
        got = http.get("/v1/files", headers={"Authorization": f"Bearer {key}"})
        assert got.status_code == 401
        error = got.json()["error"]
        assert error["message"].startswith("Invalid API Key provided: ")
        assert key not in error["message"]

    def test_configured_keys_are_accepted(self, http: TestClient) -> None:
        for key in KEYS:
            got = http.get("/v1/files", headers={"Authorization": f"Bearer {key}"})
            assert got.status_code == 200, key

    @pytest.mark.parametrize(
        ("key", "account"),
        [
            (A_TEST, "acct_1Alpha"),  # found first
            (B_TEST, "acct_1Bravo"),  # found last
            ("sk_test_51CharlieNotConfigured0000000000", None),
        ],
        ids=["first", "last", "unknown"],
    )
    def test_every_configured_key_is_compared_every_time(
        self, monkeypatch: pytest.MonkeyPatch, key: str, account: str | None
    ) -> None:
        configured = {A_TEST: "acct_1Alpha"}
        configured.update({f"sk_test_{n:040d}": f"acct_{n}" for n in range(7)})
        configured[B_TEST] = "acct_1Bravo"
        compared: list[bytes] = []
        real = hmac.compare_digest

        def counting(a: bytes, b: bytes) -> bool:
            compared.append(b)
            return real(a, b)

        monkeypatch.setattr(hmac, "compare_digest", counting)
        if account is None:
            with pytest.raises(AuthenticationError):
                authenticate(f"Bearer {key}", None, configured)
        else:
            assert authenticate(f"Bearer {key}", None, configured).account == account
        assert sorted(compared) == sorted(known.encode() for known in configured)
