"""/_emulator/: the per-account test clock, the data reset, Stripe-generated files."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from filelinks_api.app import create_app
from tests import samples
from tests.api.helpers import bearer, create_link, post_link, upload, uploaded
from tests.conftest import new_key


def public_status(client, url):
    return client.get(url, headers={"Authorization": ""}).status_code


class TestClock:
    def test_a_fresh_account_runs_on_real_time(self, client, clock):
        assert client.get("/_emulator/clock").json() == {
            "now": clock.now(),
            "frozen": False,
            "offset": 0,
        }

    def test_advancing_expires_a_link_everywhere_it_shows(self, client, clock):
        file_id = uploaded(client)["id"]
        link = create_link(client, file_id, expires_at=clock.now() + 3600)
        assert client.get(f"/v1/file_links/{link['id']}").json()["expired"] is False
        assert public_status(client, link["url"]) == 200

        moved = client.post("/_emulator/clock", data={"advance": 7200})

        assert moved.json() == {"now": clock.now() + 7200, "frozen": False, "offset": 7200}
        assert client.get(f"/v1/file_links/{link['id']}").json()["expired"] is True
        expired = client.get("/v1/file_links", params={"expired": "true"}).json()["data"]
        assert [item["id"] for item in expired] == [link["id"]]
        assert client.get("/v1/file_links", params={"expired": "false"}).json()["data"] == []
        assert public_status(client, link["url"]) == 404

    def test_another_accounts_clock_is_untouched(self, client, clock):
        other = bearer(new_key())
        theirs = create_link(
            client,
            uploaded(client, headers=other)["id"],
            headers=other,
            expires_at=clock.now() + 3600,
        )
        client.post("/_emulator/clock", data={"advance": 7200})
        assert client.get("/_emulator/clock", headers=other).json()["offset"] == 0
        assert (
            client.get(f"/v1/file_links/{theirs['id']}", headers=other).json()["expired"] is False
        )
        assert public_status(client, theirs["url"]) == 200

    def test_frozen_time_stands_still_and_stamps_created(self, client, clock):
        frozen = client.post("/_emulator/clock", data={"frozen_at": 1_900_000_000}).json()
        assert frozen == {
            "now": 1_900_000_000,
            "frozen": True,
            "offset": 1_900_000_000 - clock.now(),
        }
        clock.advance(500)
        assert client.get("/_emulator/clock").json()["now"] == 1_900_000_000
        file = uploaded(client)
        assert file["created"] == 1_900_000_000
        assert file["expires_at"] == 1_900_000_000 + 270 * 86400
        assert create_link(client, file["id"])["created"] == 1_900_000_000

    def test_advance_moves_a_frozen_clock_and_keeps_it_frozen(self, client):
        client.post("/_emulator/clock", data={"frozen_at": 1_900_000_000})
        moved = client.post("/_emulator/clock", data={"advance": 60}).json()
        assert moved["now"] == 1_900_000_060
        assert moved["frozen"] is True

    def test_reset_goes_back_to_real_time(self, client, clock):
        client.post("/_emulator/clock", data={"frozen_at": 1_900_000_000})
        reset = client.post("/_emulator/clock", data={"reset": "true"}).json()
        assert reset == {"now": clock.now(), "frozen": False, "offset": 0}

    def test_expires_at_in_the_future_is_judged_by_the_account_clock(self, client, clock):
        file_id = uploaded(client)["id"]
        client.post("/_emulator/clock", data={"advance": 3600})
        refused = post_link(client, file_id, expires_at=clock.now() + 60)
        assert refused.status_code == 400
        assert refused.json()["error"]["param"] == "expires_at"

    def test_file_expiry_follows_the_clock(self, client):
        file = uploaded(client, purpose="customer_signature", content=samples.png())
        client.post("/_emulator/clock", data={"advance": 7 * 86400})
        gone = client.get(f"/v1/files/{file['id']}/contents")
        assert gone.status_code == 404
        assert gone.json()["error"]["code"] == "resource_missing"

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            ({}, "Send exactly one of frozen_at"),
            ({"advance": 1, "frozen_at": 1}, "Send exactly one of frozen_at"),
            ({"advance": -5}, "only moves forward"),
            ({"advance": "soon"}, "Invalid integer: soon"),
            ({"speed": "2"}, "Received unknown parameter: speed"),
        ],
    )
    def test_bad_clock_requests_are_stripe_errors(self, client, data, message):
        response = client.post("/_emulator/clock", data=data)
        assert response.status_code == 400
        assert message in response.json()["error"]["message"]

    def test_needs_an_api_key(self, client):
        response = client.get("/_emulator/clock", headers={"Authorization": ""})
        assert response.status_code == 401


class TestResetData:
    def test_removes_exactly_the_callers_files_links_and_bytes(self, client, settings):
        other = bearer(new_key())
        mine = uploaded(client)
        create_link(client, mine["id"])
        theirs = uploaded(client, headers=other, content=samples.pdf("theirs"))
        theirs_link = create_link(client, theirs["id"], headers=other)

        reset = client.delete("/_emulator/data")

        assert reset.json() == {"deleted": True, "files": 1}
        assert client.get("/v1/files").json()["data"] == []
        assert client.get("/v1/file_links").json()["data"] == []
        assert client.get(f"/v1/files/{mine['id']}").status_code == 404
        objects = {p.name for p in settings.files_dir.rglob("file_*") if p.is_file()}
        assert objects == {theirs["id"]}
        assert client.get(f"/v1/files/{theirs['id']}/contents", headers=other).content == (
            samples.pdf("theirs")
        )
        assert public_status(client, theirs_link["url"]) == 200

    def test_puts_the_clock_back_to_real_time(self, client, clock):
        client.post("/_emulator/clock", data={"frozen_at": 1_900_000_000})
        client.delete("/_emulator/data")
        assert client.get("/_emulator/clock").json() == {
            "now": clock.now(),
            "frozen": False,
            "offset": 0,
        }
        assert uploaded(client)["created"] == clock.now()

    def test_leaves_another_accounts_clock_alone(self, client):
        other = bearer(new_key())
        client.post("/_emulator/clock", data={"frozen_at": 1_900_000_000}, headers=other)
        client.delete("/_emulator/data")
        assert client.get("/_emulator/clock", headers=other).json()["now"] == 1_900_000_000

    def test_frees_idempotency_keys(self, client):
        file_id = uploaded(client)["id"]
        first = post_link(client, file_id, {"Idempotency-Key": "k"})
        client.delete("/_emulator/data")
        file_id = uploaded(client)["id"]
        again = post_link(client, file_id, {"Idempotency-Key": "k"})
        assert again.status_code == 200
        assert "Idempotent-Replayed" not in again.headers
        assert again.json()["id"] != first.json()["id"]


class TestGeneratedFiles:
    def test_a_sigma_file_can_be_linked_and_downloaded(self, client):
        report = uploaded(
            client,
            purpose="sigma_scheduled_query",
            content=samples.csv(),
            path="/_emulator/files",
            filename="report.csv",
        )
        assert report["purpose"] == "sigma_scheduled_query"
        assert report["type"] == "csv"
        link = create_link(client, report["id"])
        downloaded = client.get(link["url"], headers={"Authorization": ""})
        assert downloaded.status_code == 200
        assert downloaded.content == samples.csv()

    @pytest.mark.parametrize(
        "purpose",
        [
            "finance_report_run",
            "financial_account_statement",
            "identity_document_downloadable",
            "selfie",
            "document_provider_identity_document",
        ],
    )
    def test_every_stripe_generated_purpose_can_be_made(self, client, purpose):
        made = uploaded(client, purpose=purpose, path="/_emulator/files")
        assert client.get(f"/v1/files/{made['id']}").json()["purpose"] == purpose

    def test_the_public_upload_still_refuses_generated_purposes(self, client):
        refused = upload(client, samples.csv(), "a.csv", purpose="sigma_scheduled_query")
        assert refused.status_code == 400
        assert refused.json()["error"]["param"] == "purpose"


def test_switched_off_the_controls_are_unrecognized_urls(settings, database, clock):
    app = create_app(
        settings.model_copy(update={"emulator_controls": False}), clock=clock, database=database
    )
    with TestClient(app, headers={"Authorization": f"Bearer {new_key()}"}) as client:
        for method, path in [("GET", "/_emulator/clock"), ("DELETE", "/_emulator/data")]:
            response = client.request(method, path)
            assert response.status_code == 404
            assert response.json()["error"]["message"].startswith(
                f"Unrecognized request URL ({method}: {path})."
            )
        assert "/_emulator/clock" not in client.get("/openapi.json").json()["paths"]
