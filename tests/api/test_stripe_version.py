"""The Stripe-Version header: refused unless plausible, echoed as the version in effect."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.helpers import bearer, error_of, upload, uploaded
from tests.conftest import new_key

DEFAULT_VERSION = "2026-06-24.dahlia"


def refused(value: str) -> dict[str, str]:
    return {"message": f"Invalid Stripe API version: {value}", "type": "invalid_request_error"}


class TestRefusal:
    def test_a_malformed_version_is_stripes_400(self, client: TestClient) -> None:
        response = client.get("/v1/file_links", headers={"Stripe-Version": "2019-2-19"})

        assert error_of(response) == refused("2019-2-19")
        assert response.headers["content-type"] == "application/json"
        assert response.headers["request-id"].startswith("req_")
        # the refused value is not echoed back: the version in effect is the default
        assert response.headers.get_list("stripe-version") == [DEFAULT_VERSION]

    def test_the_error_links_to_its_request_log_entry(self, client: TestClient) -> None:
        response = client.get("/v1/files", headers={"Stripe-Version": "latest"})

        error = response.json()["error"]
        assert error["request_log_url"].endswith(
            f"/dashboard/logs/{response.headers['request-id']}"
        )
        [entry] = client.get("/_emulator/requests", params={"limit": 1}).json()["data"]
        assert (entry["status"], entry["stripe_version"]) == (400, "latest")
        assert entry["error"]["message"] == "Invalid Stripe API version: latest"

    def test_the_value_is_echoed_as_sent(self, client: TestClient) -> None:
        value = "2018-11-21 accounts_upgrade=true"
        response = client.get("/v1/files", headers={"Stripe-Version": value})
        assert error_of(response) == refused(value)

    def test_two_headers_are_joined_as_stripe_does(self, client: TestClient) -> None:
        response = client.get(
            "/v1/file_links",
            headers=[("Stripe-Version", "2019-05-16"), ("Stripe-Version", "2019-12-03")],
        )
        assert error_of(response) == refused("2019-05-16, 2019-12-03")

    def test_a_date_in_the_future_is_refused(self, client: TestClient) -> None:
        response = client.get("/v1/file_links", headers={"Stripe-Version": "2099-01-01"})
        assert error_of(response) == refused("2099-01-01")

    def test_on_every_authenticated_route(self, client: TestClient) -> None:
        bad = {"Stripe-Version": "2024-09-30.Acacia"}
        file = uploaded(client)
        responses = [
            upload(client, headers=bad),
            client.get(f"/v1/files/{file['id']}", headers=bad),
            client.get(f"/v1/files/{file['id']}/contents", headers=bad),
            client.post("/v1/file_links", data={"file": file["id"]}, headers=bad),
            client.get("/v1/file_links/link_x", headers=bad),
            client.post("/v1/file_links/link_x", headers=bad),
            client.get("/_emulator/requests", headers=bad),
        ]
        for response in responses:
            assert error_of(response) == refused("2024-09-30.Acacia"), response.request.url
        # nothing was created by the refused requests
        assert client.get("/v1/file_links").json()["data"] == []
        assert [f["id"] for f in client.get("/v1/files").json()["data"]] == [file["id"]]

    def test_a_missing_key_is_a_401_first(self, anonymous: TestClient) -> None:
        response = anonymous.get("/v1/file_links", headers={"Stripe-Version": "nope"})
        assert response.status_code == 401
        assert response.headers["stripe-version"] == DEFAULT_VERSION

    def test_a_refusal_is_not_kept_for_its_idempotency_key(self, client: TestClient) -> None:
        file = uploaded(client)
        headers = {"Idempotency-Key": "version-retry"}

        first = client.post(
            "/v1/file_links",
            data={"file": file["id"]},
            headers={**headers, "Stripe-Version": "2024-9-30"},
        )
        second = client.post("/v1/file_links", data={"file": file["id"]}, headers=headers)

        assert error_of(first) == refused("2024-9-30")
        assert second.status_code == 200
        assert "idempotent-replayed" not in second.headers


class TestAccepted:
    def test_a_codename_version_is_echoed(self, client: TestClient) -> None:
        response = client.get("/v1/file_links", headers={"Stripe-Version": "2026-10-28.endive"})
        assert response.status_code == 200
        assert response.headers.get_list("stripe-version") == ["2026-10-28.endive"]

    def test_a_date_only_version_is_echoed(self, client: TestClient) -> None:
        response = client.get("/v1/files", headers={"Stripe-Version": "2024-06-20"})
        assert response.status_code == 200
        assert response.headers["stripe-version"] == "2024-06-20"

    def test_the_objects_are_the_same_in_every_version(self, client: TestClient) -> None:
        file = uploaded(client)
        link = client.post("/v1/file_links", data={"file": file["id"]}).json()
        shapes = set()
        for version in ("2018-09-24", "2020-08-27", "2024-09-30.acacia", "2026-10-28.endive"):
            got = client.get(f"/v1/file_links/{link['id']}", headers={"Stripe-Version": version})
            assert got.status_code == 200
            shapes.add(tuple(got.json()))
        assert len(shapes) == 1

    def test_no_header_gets_the_default(self, client: TestClient) -> None:
        assert client.get("/v1/file_links").headers["stripe-version"] == DEFAULT_VERSION

    def test_a_public_link_is_not_checked(self, client: TestClient, anonymous: TestClient) -> None:
        file = uploaded(client)
        link = client.post("/v1/file_links", data={"file": file["id"]}).json()
        path = link["url"].removeprefix("http://testserver")
        response = anonymous.get(path, headers={"Stripe-Version": "garbage"})
        assert response.status_code == 200
        assert response.headers["stripe-version"] == DEFAULT_VERSION

    def test_another_accounts_key_sees_its_own_echo(self, client: TestClient) -> None:
        response = client.get(
            "/v1/file_links", headers={**bearer(new_key()), "Stripe-Version": "2020-08-27"}
        )
        assert response.status_code == 200
        assert response.headers["stripe-version"] == "2020-08-27"
