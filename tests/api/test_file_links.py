"""POST/GET /v1/file_links and /v1/file_links/{id}, through the real app on each backend.

Time is the app's FakeClock: `created` is frozen by not moving it, and links expire by
advancing it, never by sleeping.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from filelinks_api import ids, repository
from filelinks_api.purposes import DAY
from tests import samples
from tests.api.helpers import bearer, create_link, invalid_request, post_link, uploaded
from tests.conftest import file_row, new_key

LINK_KEYS = [
    "id",
    "object",
    "created",
    "expired",
    "expires_at",
    "file",
    "livemode",
    "metadata",
    "url",
]
LINK_ID = re.compile(r"^link_[A-Za-z0-9]{24}$")

UPLOADS: dict[str, tuple[str, bytes]] = {
    "account_requirement": ("a.pdf", samples.pdf()),
    "additional_verification": ("a.pdf", samples.pdf()),
    "business_icon": ("icon.png", samples.png()),
    "business_logo": ("logo.png", samples.png()),
    "customer_signature": ("sig.png", samples.png()),
    "dispute_evidence": ("a.pdf", samples.pdf()),
    "identity_document": ("id.pdf", samples.pdf()),
    "issuing_regulatory_reporting": ("report.json", samples.json_doc()),
    "pci_document": ("pci.pdf", samples.pdf()),
    "platform_terms_of_service": ("tos.pdf", samples.pdf()),
    "tax_document_user_upload": ("tax.csv", samples.csv()),
    "terminal_android_apk": ("app.apk", samples.apk()),
    "terminal_reader_splashscreen": ("splash.png", samples.png()),
    "terminal_wifi_certificate": ("cert.pem", samples.pem()),
    "terminal_wifi_private_key": ("key.pem", samples.pem()),
}
LINKABLE_UPLOADS = [
    "business_icon",
    "business_logo",
    "customer_signature",
    "dispute_evidence",
    "issuing_regulatory_reporting",
    "pci_document",
    "tax_document_user_upload",
    "terminal_android_apk",
    "terminal_reader_splashscreen",
]
NOT_LINKABLE_UPLOADS = sorted(set(UPLOADS) - set(LINKABLE_UPLOADS))
# Files only Stripe creates: inserted as rows, since they cannot be uploaded.
LINKABLE_GENERATED = [
    "finance_report_run",
    "financial_account_statement",
    "identity_document_downloadable",
    "selfie",
    "sigma_scheduled_query",
]


def new_file(
    client, purpose: str = "dispute_evidence", headers: dict[str, str] | None = None
) -> str:
    """Upload the UPLOADS sample for `purpose`; its id."""
    name, content = UPLOADS[purpose]
    return uploaded(client, content, name, purpose=purpose, headers=headers)["id"]


def ids_of(listing: dict) -> list[str]:
    return [item["id"] for item in listing["data"]]


def insert_generated_file(session, api_key: str, purpose: str, created: int) -> str:
    file_id = ids.file_id()
    repository.insert_file(
        session,
        file_row(
            ids.account_for_key(api_key),
            id=file_id,
            created=created,
            filename=f"{purpose}.csv",
            purpose=purpose,
            size=3,
            type="csv",
        ),
    )
    session.flush()
    return file_id


@pytest.fixture
def file_id(client) -> str:
    return new_file(client)


# --- POST /v1/file_links --------------------------------------------------------------------


class TestCreateFileLink:
    def test_returns_a_file_link_with_every_field(self, client, clock, file_id):
        link = create_link(client, file_id)

        assert list(link) == LINK_KEYS
        assert LINK_ID.match(link["id"])
        assert link["object"] == "file_link"
        assert link["created"] == clock.now()
        assert link["expired"] is False
        assert link["expires_at"] is None
        assert link["file"] == file_id
        assert link["livemode"] is False
        assert link["metadata"] == {}
        assert link["url"].startswith("http://testserver/links/")

    def test_keeps_a_future_expires_at_and_metadata(self, client, clock, file_id):
        link = create_link(
            client,
            file_id,
            expires_at=clock.now() + 3600,
            **{"metadata[order]": "6735", "metadata[kind]": "receipt"},
        )

        assert link["expires_at"] == clock.now() + 3600
        assert link["expired"] is False
        assert link["metadata"] == {"order": "6735", "kind": "receipt"}

    def test_is_stored_and_retrievable(self, client, file_id):
        link = create_link(client, file_id, **{"metadata[a]": "1"})

        assert client.get(f"/v1/file_links/{link['id']}").json() == link

    def test_livemode_follows_a_live_key(self, client):
        live = bearer(new_key("live"))
        live_file = new_file(client, headers=live)

        link = create_link(client, live_file, headers=live)

        assert link["livemode"] is True

    def test_each_link_gets_its_own_id(self, client, file_id):
        first = create_link(client, file_id)
        second = create_link(client, file_id)

        assert first["id"] != second["id"]
        assert first["url"] != second["url"]

    def test_expand_file_returns_the_file_with_its_links(self, client, file_id):
        older = create_link(client, file_id)

        response = post_link(client, file_id, **{"expand[]": "file"})

        assert response.status_code == 200, response.text
        link = response.json()
        assert link["file"]["id"] == file_id
        assert link["file"]["object"] == "file"
        assert link["file"]["purpose"] == "dispute_evidence"
        assert link["file"]["links"]["url"] == f"/v1/file_links?file={file_id}"
        assert ids_of(link["file"]["links"]) == [link["id"], older["id"]]

    def test_metadata_keys_sent_empty_are_not_stored(self, client, file_id):
        link = create_link(client, file_id, **{"metadata[keep]": "x", "metadata[drop]": ""})

        assert link["metadata"] == {"keep": "x"}

    def test_metadata_empty_string_gives_empty_metadata(self, client, file_id):
        link = create_link(client, file_id, metadata="")

        assert link["metadata"] == {}

    @pytest.mark.parametrize("purpose", LINKABLE_UPLOADS)
    def test_links_every_linkable_uploaded_purpose(self, client, purpose):
        uploaded = new_file(client, purpose)

        assert create_link(client, uploaded)["file"] == uploaded

    @pytest.mark.parametrize("purpose", LINKABLE_GENERATED)
    def test_links_every_linkable_stripe_generated_purpose(
        self, client, session, clock, api_key, purpose
    ):
        generated = insert_generated_file(session, api_key, purpose, clock.now())

        assert create_link(client, generated)["file"] == generated

    @pytest.mark.parametrize("purpose", NOT_LINKABLE_UPLOADS)
    def test_refuses_a_file_whose_purpose_is_not_linkable(self, client, purpose):
        uploaded = new_file(client, purpose)

        error = invalid_request(post_link(client, uploaded))

        assert error["param"] == "file"
        assert purpose in error["message"]
        assert client.get("/v1/file_links").json()["data"] == []

    def test_refuses_a_stripe_generated_purpose_that_is_not_linkable(
        self, client, session, clock, api_key
    ):
        generated = insert_generated_file(
            session, api_key, "document_provider_identity_document", clock.now()
        )

        error = invalid_request(post_link(client, generated))

        assert error["param"] == "file"

    def test_missing_file_is_parameter_missing(self, client):
        error = invalid_request(client.post("/v1/file_links", data={"expires_at": "1900000000"}))

        assert error["code"] == "parameter_missing"
        assert error["param"] == "file"
        assert error["message"] == "Missing required param: file."

    def test_empty_file_is_parameter_invalid_empty(self, client):
        error = invalid_request(post_link(client, ""))

        assert error["code"] == "parameter_invalid_empty"
        assert error["param"] == "file"

    def test_unknown_file_is_resource_missing_on_param_file(self, client):
        error = invalid_request(post_link(client, "file_doesnotexist"))

        assert error["code"] == "resource_missing"
        assert error["param"] == "file"
        assert error["message"] == "No such file upload: 'file_doesnotexist'"

    def test_another_accounts_file_is_resource_missing(self, client, file_id):
        response = post_link(client, file_id, bearer(new_key()))

        error = invalid_request(response)
        assert error["code"] == "resource_missing"
        assert error["param"] == "file"

    def test_a_live_key_cannot_link_a_test_file(self, client, app, settings, file_id):
        test_key, live_key = new_key("test"), new_key("live")
        app.state.runtime.settings = settings.model_copy(
            update={"api_keys": {test_key: "acct_shared", live_key: "acct_shared"}}
        )
        test_file = new_file(client, headers=bearer(test_key))

        response = post_link(client, test_file, bearer(live_key))

        error = invalid_request(response)
        assert (error["code"], error["param"]) == ("resource_missing", "file")
        assert error["message"] == (
            f"No such file upload: '{test_file}'; a similar object exists in test mode, but a"
            " live mode key was used to make this request."
        )

    def test_a_link_of_the_other_mode_is_named_in_the_message(self, client, app, settings):
        test_key, live_key = new_key("test"), new_key("live")
        app.state.runtime.settings = settings.model_copy(
            update={"api_keys": {test_key: "acct_shared", live_key: "acct_shared"}}
        )
        live = create_link(client, new_file(client, headers=bearer(live_key)), bearer(live_key))
        suffix = (
            "; a similar object exists in live mode, but a test mode key was used to make this"
            " request."
        )
        as_test = bearer(test_key)
        for response in (
            client.get(f"/v1/file_links/{live['id']}", headers=as_test),
            client.post(f"/v1/file_links/{live['id']}", data={"metadata[a]": "b"}, headers=as_test),
        ):
            error = invalid_request(response, 404)
            assert error["message"] == f"No such file link: '{live['id']}'" + suffix
            assert error["param"] == "id"
        listed = client.get("/v1/file_links", params={"ending_before": live["id"]}, headers=as_test)
        error = invalid_request(listed)
        assert (error["param"], error["message"]) == (
            "ending_before",
            f"No such file link: '{live['id']}'" + suffix,
        )

    @pytest.mark.parametrize("offset", [-1, 0])
    def test_expires_at_must_be_strictly_in_the_future(self, client, clock, file_id, offset):
        response = post_link(client, file_id, expires_at=clock.now() + offset)

        error = invalid_request(response)
        assert error["param"] == "expires_at"
        assert client.get("/v1/file_links").json()["data"] == []

    def test_expires_at_one_second_ahead_is_accepted(self, client, clock, file_id):
        link = create_link(client, file_id, expires_at=clock.now() + 1)

        assert link["expires_at"] == clock.now() + 1
        assert link["expired"] is False

    @pytest.mark.parametrize("value", ["now", "", "soon", "1.5"])
    def test_expires_at_must_be_an_integer(self, client, file_id, value):
        response = post_link(client, file_id, expires_at=value)

        error = invalid_request(response)
        assert error["param"] == "expires_at"
        assert error["message"] == f"Invalid integer: {value}"

    def test_unknown_parameter_is_refused(self, client, file_id):
        error = invalid_request(post_link(client, file_id, color="red"))

        assert error["code"] == "parameter_unknown"
        assert error["param"] == "color"

    def test_expanding_a_non_expandable_field_is_refused(self, client, file_id):
        response = post_link(client, file_id, **{"expand[]": "metadata"})

        assert (
            invalid_request(response)["message"] == "This property cannot be expanded (metadata)."
        )

    def test_needs_an_api_key(self, anonymous, file_id):
        response = post_link(anonymous, file_id)

        assert response.status_code == 401


# --- metadata rules (create and update) --------------------------------------------------------


def metadata(count: int, prefix: str = "k") -> dict[str, str]:
    return {f"metadata[{prefix}{i}]": str(i) for i in range(count)}


class TestFileLinkMetadata:
    def test_accepts_fifty_keys(self, client, file_id):
        link = create_link(client, file_id, **metadata(50))

        assert len(link["metadata"]) == 50

    def test_refuses_fifty_one_keys_on_create(self, client, file_id):
        response = post_link(client, file_id, **metadata(51))

        assert invalid_request(response)["message"].startswith(
            "Metadata can have up to 50 keys, but you've set 51."
        )

    def test_counts_keys_after_the_merge_on_update(self, client, file_id):
        link = create_link(client, file_id, **metadata(50))

        response = client.post(f"/v1/file_links/{link['id']}", data={"metadata[extra]": "x"})

        assert invalid_request(response)["message"].startswith(
            "Metadata can have up to 50 keys, but you've set 51."
        )
        assert client.get(f"/v1/file_links/{link['id']}").json()["metadata"] == link["metadata"]

    def test_unsetting_a_key_makes_room_for_another(self, client, file_id):
        link = create_link(client, file_id, **metadata(50))

        response = client.post(
            f"/v1/file_links/{link['id']}", data={"metadata[k0]": "", "metadata[extra]": "x"}
        )

        assert response.status_code == 200, response.text
        assert len(response.json()["metadata"]) == 50
        assert "k0" not in response.json()["metadata"]
        assert response.json()["metadata"]["extra"] == "x"

    def test_accepts_a_forty_character_key_and_a_500_character_value(self, client, file_id):
        link = create_link(client, file_id, **{f"metadata[{'k' * 40}]": "v" * 500})

        assert link["metadata"] == {"k" * 40: "v" * 500}

    def test_refuses_a_forty_one_character_key(self, client, file_id):
        response = post_link(client, file_id, **{f"metadata[{'k' * 41}]": "v"})

        assert invalid_request(response)["message"].startswith(
            "Metadata keys can have up to 40 characters, but you passed in a key that is 41"
        )

    def test_refuses_a_501_character_value(self, client, file_id):
        response = post_link(client, file_id, **{"metadata[note]": "v" * 501})

        assert invalid_request(response)["message"].startswith(
            "Metadata values can have up to 500 characters, but you passed in a value that is 501"
        )

    def test_refuses_square_brackets_in_keys(self, client, file_id):
        response = client.post(
            "/v1/file_links",
            content=f"file={file_id}&metadata[a%5Bb]=x",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )

        assert "square brackets" in invalid_request(response)["message"]

    def test_refuses_a_non_string_value(self, client, file_id):
        response = post_link(client, file_id, **{"metadata[tags][]": "37018189"})

        error = invalid_request(response)
        assert error["message"] == 'Invalid value type: ["37018189"] must be a string'
        assert error["param"] == "metadata"

    def test_refuses_metadata_that_is_not_a_hash(self, client, file_id):
        response = post_link(client, file_id, metadata="plain")

        error = invalid_request(response)
        assert error["message"] == "Invalid hash"
        assert error["param"] == "metadata"

    def test_a_refused_update_leaves_metadata_unchanged(self, client, file_id):
        link = create_link(client, file_id, **{"metadata[a]": "1"})

        response = client.post(f"/v1/file_links/{link['id']}", data={"metadata[b]": "v" * 501})

        invalid_request(response)
        assert client.get(f"/v1/file_links/{link['id']}").json()["metadata"] == {"a": "1"}


# --- GET /v1/file_links/{id} -----------------------------------------------------------------


class TestRetrieveFileLink:
    def test_expand_file_returns_the_full_file_with_its_links(self, client, file_id):
        link = create_link(client, file_id)
        uploaded = client.get(f"/v1/files/{file_id}").json()

        response = client.get(f"/v1/file_links/{link['id']}", params={"expand[]": "file"})

        assert response.status_code == 200, response.text
        expanded = response.json()["file"]
        assert expanded == uploaded
        assert ids_of(expanded["links"]) == [link["id"]]
        assert expanded["links"]["data"][0] == link

    def test_expanded_file_embeds_the_first_ten_links_newest_first(self, client, file_id):
        created = [create_link(client, file_id)["id"] for _ in range(11)]

        response = client.get(f"/v1/file_links/{created[0]}", params={"expand[]": "file"})

        links = response.json()["file"]["links"]
        assert ids_of(links) == created[:0:-1]
        assert links["has_more"] is True

    def test_expand_file_links_is_accepted(self, client, file_id):
        link = create_link(client, file_id)

        response = client.get(f"/v1/file_links/{link['id']}", params={"expand[]": "file.links"})

        assert response.status_code == 200, response.text
        assert ids_of(response.json()["file"]["links"]) == [link["id"]]

    def test_expanding_data_on_a_single_object_is_refused(self, client, file_id):
        link = create_link(client, file_id)

        response = client.get(f"/v1/file_links/{link['id']}", params={"expand[]": "data.file"})

        assert invalid_request(response)["message"] == "This property cannot be expanded (data)."

    def test_unknown_id_is_404_resource_missing_on_param_id(self, client):
        error = invalid_request(client.get("/v1/file_links/link_doesnotexist"), status=404)

        assert error["code"] == "resource_missing"
        assert error["param"] == "id"
        assert error["message"] == "No such file link: 'link_doesnotexist'"

    @pytest.mark.parametrize("method", ["GET", "POST"])
    def test_an_id_with_a_nul_byte_is_404_not_a_crash(self, client, method):
        error = invalid_request(client.request(method, "/v1/file_links/link_%00x"), status=404)

        assert error["code"] == "resource_missing"
        assert error["param"] == "id"

    def test_another_accounts_link_is_404(self, client, file_id):
        link = create_link(client, file_id)

        response = client.get(f"/v1/file_links/{link['id']}", headers=bearer(new_key()))

        assert invalid_request(response, status=404)["code"] == "resource_missing"

    def test_a_live_key_of_the_same_account_cannot_see_a_test_link(self, client, app, settings):
        test_key, live_key = new_key("test"), new_key("live")
        app.state.runtime.settings = settings.model_copy(
            update={"api_keys": {test_key: "acct_shared", live_key: "acct_shared"}}
        )
        link = create_link(client, new_file(client, headers=bearer(test_key)), bearer(test_key))

        assert client.get(f"/v1/file_links/{link['id']}", headers=bearer(test_key)).is_success
        response = client.get(f"/v1/file_links/{link['id']}", headers=bearer(live_key))
        assert invalid_request(response, status=404)["code"] == "resource_missing"

    def test_a_connected_account_is_a_separate_namespace(self, client, file_id):
        platform_link = create_link(client, file_id)
        connected = {"Stripe-Account": "acct_1ConnectedAcct01"}
        connected_link = create_link(client, new_file(client, headers=connected), connected)

        hidden = client.get(f"/v1/file_links/{platform_link['id']}", headers=connected)

        assert invalid_request(hidden, status=404)["code"] == "resource_missing"
        assert ids_of(client.get("/v1/file_links", headers=connected).json()) == [
            connected_link["id"]
        ]
        assert ids_of(client.get("/v1/file_links").json()) == [platform_link["id"]]

    def test_expired_is_computed_when_read(self, client, clock, file_id):
        link = create_link(client, file_id, expires_at=clock.now() + 60)

        clock.advance(59)
        assert client.get(f"/v1/file_links/{link['id']}").json()["expired"] is False
        clock.advance(1)
        after = client.get(f"/v1/file_links/{link['id']}").json()

        assert after["expired"] is True
        assert after["expires_at"] == link["expires_at"]

    def test_a_link_without_expires_at_never_expires(self, client, clock, file_id):
        link = create_link(client, file_id)

        clock.advance(10 * 365 * DAY)

        assert client.get(f"/v1/file_links/{link['id']}").json()["expired"] is False

    def test_unknown_parameter_is_refused(self, client, file_id):
        link = create_link(client, file_id)

        response = client.get(f"/v1/file_links/{link['id']}", params={"limit": "3"})

        assert invalid_request(response)["code"] == "parameter_unknown"


# --- POST /v1/file_links/{id} ----------------------------------------------------------------


def update(client, link_id: str, headers: dict[str, str] | None = None, **data: Any):
    return client.post(f"/v1/file_links/{link_id}", data=data, headers=headers)


class TestUpdateFileLink:
    def test_sets_a_future_expires_at(self, client, clock, file_id):
        link = create_link(client, file_id)

        response = update(client, link["id"], expires_at=clock.now() + 600)

        assert response.status_code == 200, response.text
        assert response.json()["expires_at"] == clock.now() + 600
        assert response.json()["expired"] is False
        stored = client.get(f"/v1/file_links/{link['id']}").json()
        assert stored["expires_at"] == clock.now() + 600

    def test_expires_at_now_expires_the_link_immediately(self, client, clock, file_id):
        link = create_link(client, file_id, expires_at=clock.now() + 600)

        updated = update(client, link["id"], expires_at="now").json()

        assert updated["expires_at"] == clock.now()
        assert updated["expired"] is True
        assert client.get(f"/v1/file_links/{link['id']}").json()["expired"] is True

    def test_expires_at_empty_makes_the_link_never_expire(self, client, clock, file_id):
        link = create_link(client, file_id, expires_at=clock.now() + 600)

        updated = update(client, link["id"], expires_at="").json()

        assert updated["expires_at"] is None
        assert updated["expired"] is False
        clock.advance(700)
        assert client.get(f"/v1/file_links/{link['id']}").json()["expired"] is False

    @pytest.mark.parametrize("offset", [-1, 0])
    def test_expires_at_must_be_strictly_in_the_future(self, client, clock, file_id, offset):
        link = create_link(client, file_id, expires_at=clock.now() + 600)

        response = update(client, link["id"], expires_at=clock.now() + offset)

        assert invalid_request(response)["param"] == "expires_at"
        assert client.get(f"/v1/file_links/{link['id']}").json() == link

    @pytest.mark.parametrize("value", ["later", "NOW", "1.0"])
    def test_expires_at_must_be_an_integer_now_or_empty(self, client, file_id, value):
        link = create_link(client, file_id)

        error = invalid_request(update(client, link["id"], expires_at=value))

        assert error["param"] == "expires_at"
        assert error["message"] == f"Invalid integer: {value}"

    def test_metadata_merges_into_the_existing_keys(self, client, file_id):
        link = create_link(client, file_id, **{"metadata[a]": "1", "metadata[b]": "2"})

        updated = update(client, link["id"], **{"metadata[b]": "3", "metadata[c]": "4"}).json()

        assert updated["metadata"] == {"a": "1", "b": "3", "c": "4"}

    def test_metadata_key_set_to_empty_is_removed(self, client, file_id):
        link = create_link(client, file_id, **{"metadata[a]": "1", "metadata[b]": "2"})

        updated = update(client, link["id"], **{"metadata[a]": ""}).json()

        assert updated["metadata"] == {"b": "2"}

    def test_removing_an_absent_metadata_key_is_harmless(self, client, file_id):
        link = create_link(client, file_id, **{"metadata[a]": "1"})

        updated = update(client, link["id"], **{"metadata[zzz]": ""}).json()

        assert updated["metadata"] == {"a": "1"}

    def test_metadata_empty_string_removes_every_key(self, client, file_id):
        link = create_link(client, file_id, **{"metadata[a]": "1", "metadata[b]": "2"})

        updated = update(client, link["id"], metadata="").json()

        assert updated["metadata"] == {}
        assert client.get(f"/v1/file_links/{link['id']}").json()["metadata"] == {}

    def test_params_not_sent_stay_unchanged(self, client, clock, file_id):
        link = create_link(client, file_id, expires_at=clock.now() + 600, **{"metadata[a]": "1"})

        only_metadata = update(client, link["id"], **{"metadata[b]": "2"}).json()
        assert only_metadata["expires_at"] == clock.now() + 600
        only_expiry = update(client, link["id"], expires_at=clock.now() + 900).json()
        assert only_expiry["metadata"] == {"a": "1", "b": "2"}
        nothing = update(client, link["id"]).json()

        assert nothing == only_expiry
        assert nothing["created"] == link["created"]
        assert nothing["url"] == link["url"]
        assert nothing["file"] == link["file"]

    def test_an_expired_link_cannot_be_updated(self, client, clock, file_id):
        link = create_link(client, file_id, expires_at=clock.now() + 60, **{"metadata[a]": "1"})
        clock.advance(60)

        for attempt in ({"metadata[a]": "2"}, {"expires_at": ""}, {"expires_at": clock.now() + 60}):
            invalid_request(update(client, link["id"], **attempt))

        stored = client.get(f"/v1/file_links/{link['id']}").json()
        assert stored["metadata"] == {"a": "1"}
        assert stored["expires_at"] == link["expires_at"]
        assert stored["expired"] is True

    def test_a_link_expired_with_now_cannot_be_brought_back(self, client, file_id):
        link = create_link(client, file_id)
        update(client, link["id"], expires_at="now")

        error = invalid_request(update(client, link["id"], expires_at=""))

        assert "expired" in error["message"]
        assert client.get(f"/v1/file_links/{link['id']}").json()["expired"] is True

    def test_expand_file_works_on_update(self, client, file_id):
        link = create_link(client, file_id)

        response = client.post(
            f"/v1/file_links/{link['id']}", data={"metadata[a]": "1", "expand[]": "file"}
        )

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["file"]["id"] == file_id
        assert body["file"]["links"]["data"][0]["metadata"] == {"a": "1"}

    def test_unknown_id_is_404_resource_missing_on_param_id(self, client):
        error = invalid_request(update(client, "link_doesnotexist", **{"metadata[a]": "1"}), 404)

        assert error["code"] == "resource_missing"
        assert error["param"] == "id"
        assert error["message"] == "No such file link: 'link_doesnotexist'"

    def test_another_account_cannot_update_a_link(self, client, file_id):
        link = create_link(client, file_id)

        response = update(client, link["id"], bearer(new_key()), expires_at="now")

        assert invalid_request(response, status=404)["code"] == "resource_missing"
        assert client.get(f"/v1/file_links/{link['id']}").json()["expired"] is False

    def test_the_file_cannot_be_changed(self, client, file_id):
        link = create_link(client, file_id)

        error = invalid_request(update(client, link["id"], file=new_file(client)))

        assert error["code"] == "parameter_unknown"
        assert error["param"] == "file"


# --- GET /v1/file_links ----------------------------------------------------------------------


def make_links(client, file_id: str, count: int) -> list[str]:
    """`count` links in creation order (oldest first)."""
    return [create_link(client, file_id)["id"] for _ in range(count)]


class TestListFileLinks:
    def test_lists_newest_first_in_a_list_envelope(self, client, clock, file_id):
        first = create_link(client, file_id)
        clock.advance(5)
        second = create_link(client, file_id)

        listing = client.get("/v1/file_links").json()

        assert listing == {
            "object": "list",
            "data": [second, first],
            "has_more": False,
            "url": "/v1/file_links",
        }

    def test_a_list_body_has_stripes_key_order(self, client, file_id):
        create_link(client, file_id)
        # As Stripe's docs print a list (docs/stripe-behavior.md §13), for snapshot tests.
        assert list(client.get("/v1/file_links").json()) == ["object", "url", "has_more", "data"]
        assert list(client.get("/v1/files").json()) == ["object", "url", "has_more", "data"]

    def test_empty_account_gives_an_empty_list(self, client):
        listing = client.get("/v1/file_links").json()

        assert listing["data"] == []
        assert listing["has_more"] is False

    def test_pages_through_same_second_objects(self, client, clock, file_id):
        created = make_links(client, file_id, 25)
        newest_first = created[::-1]

        seen, pages, cursor = [], [], None
        while True:
            params = {"limit": 10} | ({"starting_after": cursor} if cursor else {})
            page = client.get("/v1/file_links", params=params).json()
            pages.append((len(page["data"]), page["has_more"]))
            seen += ids_of(page)
            if not page["has_more"]:
                break
            cursor = page["data"][-1]["id"]

        assert {
            item["created"]
            for item in client.get("/v1/file_links", params={"limit": 100}).json()["data"]
        } == {clock.now()}
        assert pages == [(10, True), (10, True), (5, False)]
        assert seen == newest_first

    def test_pages_backwards_through_same_second_objects(self, client, file_id):
        created = make_links(client, file_id, 26)
        anchor, rest = created[0], created[1:]

        seen, pages, cursor = [], [], anchor
        while True:
            page = client.get(
                "/v1/file_links", params={"limit": 10, "ending_before": cursor}
            ).json()
            pages.append((len(page["data"]), page["has_more"]))
            seen = ids_of(page) + seen
            if not page["has_more"]:
                break
            cursor = page["data"][0]["id"]

        assert pages == [(10, True), (10, True), (5, False)]
        assert seen == rest[::-1]

    def test_ending_before_returns_the_items_just_newer_in_newest_first_order(
        self, client, file_id
    ):
        created = make_links(client, file_id, 6)

        page = client.get("/v1/file_links", params={"limit": 2, "ending_before": created[2]})

        assert ids_of(page.json()) == [created[4], created[3]]
        assert page.json()["has_more"] is True

    def test_has_more_is_exact_when_the_last_page_is_full(self, client, file_id):
        created = make_links(client, file_id, 4)

        full = client.get("/v1/file_links", params={"limit": 4}).json()
        after = client.get("/v1/file_links", params={"limit": 2, "starting_after": created[2]})
        before = client.get("/v1/file_links", params={"limit": 3, "ending_before": created[0]})

        assert full["has_more"] is False
        assert ids_of(after.json()) == [created[1], created[0]]
        assert after.json()["has_more"] is False
        assert ids_of(before.json()) == [created[3], created[2], created[1]]
        assert before.json()["has_more"] is False

    def test_starting_after_the_oldest_gives_an_empty_page(self, client, file_id):
        created = make_links(client, file_id, 2)

        page = client.get("/v1/file_links", params={"starting_after": created[0]}).json()

        assert page["data"] == []
        assert page["has_more"] is False

    def test_limit_defaults_to_ten(self, client, file_id):
        make_links(client, file_id, 11)

        page = client.get("/v1/file_links").json()

        assert len(page["data"]) == 10
        assert page["has_more"] is True

    @pytest.mark.parametrize("limit", ["0", "101", "-1"])
    def test_limit_must_be_between_1_and_100(self, client, limit):
        assert (
            invalid_request(client.get("/v1/file_links", params={"limit": limit}))["param"]
            == "limit"
        )

    @pytest.mark.parametrize("limit", ["0", "-1"])
    def test_limit_below_1_gets_stripes_minimum_message(self, client, limit):
        error = invalid_request(client.get("/v1/file_links", params={"limit": limit}))
        assert error["message"] == "This value must be greater than or equal to 1."

    def test_limit_must_be_an_integer(self, client):
        error = invalid_request(client.get("/v1/file_links", params={"limit": "ten"}))

        assert error["code"] == "parameter_invalid_integer"
        assert error["message"] == "Invalid integer: ten"

    def test_both_cursors_are_refused(self, client, file_id):
        created = make_links(client, file_id, 2)

        response = client.get(
            "/v1/file_links", params={"starting_after": created[0], "ending_before": created[1]}
        )

        assert invalid_request(response)["message"] == (
            "Received both starting_after and ending_before parameters. Please pass in only one."
        )

    @pytest.mark.parametrize("cursor", ["starting_after", "ending_before"])
    def test_unknown_cursor_is_resource_missing(self, client, cursor):
        error = invalid_request(client.get("/v1/file_links", params={cursor: "link_doesnotexist"}))

        assert error["code"] == "resource_missing"
        assert error["param"] == cursor
        assert error["message"] == "No such file link: 'link_doesnotexist'"

    def test_another_accounts_link_is_not_a_cursor(self, client, file_id):
        foreign = bearer(new_key())
        foreign_link = create_link(client, new_file(client, headers=foreign), foreign)
        make_links(client, file_id, 1)

        response = client.get("/v1/file_links", params={"starting_after": foreign_link["id"]})

        assert invalid_request(response)["code"] == "resource_missing"

    def test_another_account_lists_none_of_these_links(self, client, file_id):
        make_links(client, file_id, 3)

        listing = client.get("/v1/file_links", headers=bearer(new_key())).json()

        assert listing["data"] == []

    def test_a_live_key_does_not_list_test_links(self, client, app, settings):
        test_key, live_key = new_key("test"), new_key("live")
        app.state.runtime.settings = settings.model_copy(
            update={"api_keys": {test_key: "acct_shared", live_key: "acct_shared"}}
        )
        test_link = create_link(
            client, new_file(client, headers=bearer(test_key)), bearer(test_key)
        )
        live_link = create_link(
            client, new_file(client, headers=bearer(live_key)), bearer(live_key)
        )

        assert ids_of(client.get("/v1/file_links", headers=bearer(live_key)).json()) == [
            live_link["id"]
        ]
        assert ids_of(client.get("/v1/file_links", headers=bearer(test_key)).json()) == [
            test_link["id"]
        ]

    @pytest.fixture
    def timeline(self, client, clock, file_id) -> dict[int, str]:
        """Links created at t, t+10 and t+20 (keyed by created)."""
        links = {}
        for _ in range(3):
            link = create_link(client, file_id)
            links[link["created"]] = link["id"]
            clock.advance(10)
        return links

    @pytest.mark.parametrize(
        ("params", "offsets"),
        [
            ({"created": "{t10}"}, [10]),
            ({"created[gt]": "{t10}"}, [20]),
            ({"created[gte]": "{t10}"}, [20, 10]),
            ({"created[lt]": "{t10}"}, [0]),
            ({"created[lte]": "{t10}"}, [10, 0]),
            ({"created[gt]": "{t0}", "created[lt]": "{t20}"}, [10]),
            ({"created[gte]": "{t0}", "created[lte]": "{t20}"}, [20, 10, 0]),
            ({"created": "{t5}"}, []),
        ],
    )
    def test_filters_by_created(self, client, timeline, params, offsets):
        t0 = min(timeline)
        values = {f"t{n}": t0 + n for n in (0, 5, 10, 20)}
        query = {key: value.format(**values) for key, value in params.items()}

        listing = client.get("/v1/file_links", params=query).json()

        assert ids_of(listing) == [timeline[t0 + offset] for offset in offsets]

    def test_created_must_be_an_integer(self, client):
        error = invalid_request(client.get("/v1/file_links", params={"created": "yesterday"}))

        assert error["param"] == "created"
        assert error["message"] == "Invalid integer: yesterday"

    def test_created_range_bounds_must_be_integers(self, client):
        error = invalid_request(client.get("/v1/file_links", params={"created[gte]": "x"}))

        assert error["param"] == "created[gte]"

    def test_created_refuses_unknown_operators(self, client):
        error = invalid_request(client.get("/v1/file_links", params={"created[after]": "1"}))

        assert error["code"] == "parameter_unknown"
        assert error["param"] == "created[after]"

    def test_filters_by_expired(self, client, clock, file_id):
        never = create_link(client, file_id)
        soon = create_link(client, file_id, expires_at=clock.now() + 60)
        later = create_link(client, file_id, expires_at=clock.now() + 600)
        killed = create_link(client, file_id)
        update(client, killed["id"], expires_at="now")
        clock.advance(60)  # `soon` expires exactly now

        expired = client.get("/v1/file_links", params={"expired": "true"}).json()
        unexpired = client.get("/v1/file_links", params={"expired": "false"}).json()
        everything = client.get("/v1/file_links").json()

        assert ids_of(expired) == [killed["id"], soon["id"]]
        assert all(item["expired"] for item in expired["data"])
        assert ids_of(unexpired) == [later["id"], never["id"]]
        assert not any(item["expired"] for item in unexpired["data"])
        assert len(everything["data"]) == 4

    def test_expired_filter_pages_through(self, client, clock, file_id):
        expiring = []
        for index in range(7):
            link = create_link(client, file_id, expires_at=clock.now() + 30)
            if index % 2 == 0:
                expiring.append(link["id"])
            else:
                update(client, link["id"], expires_at="")
        clock.advance(30)

        first = client.get("/v1/file_links", params={"expired": "true", "limit": 3}).json()
        second = client.get(
            "/v1/file_links",
            params={"expired": "true", "limit": 3, "starting_after": first["data"][-1]["id"]},
        ).json()

        assert ids_of(first) + ids_of(second) == expiring[::-1]
        assert (first["has_more"], second["has_more"]) == (True, False)

    def test_expired_must_be_a_boolean(self, client):
        error = invalid_request(client.get("/v1/file_links", params={"expired": "yes"}))

        assert error["param"] == "expired"
        assert error["message"] == "Invalid boolean: yes"

    def test_filters_by_file(self, client, file_id):
        other_file = new_file(client)
        mine = make_links(client, file_id, 2)
        make_links(client, other_file, 2)

        listing = client.get("/v1/file_links", params={"file": file_id}).json()

        assert ids_of(listing) == mine[::-1]
        assert {item["file"] for item in listing["data"]} == {file_id}
        assert listing["url"] == "/v1/file_links"

    def test_file_filter_pages_with_the_filter_kept(self, client, file_id):
        other_file = new_file(client)
        mine = []
        for _ in range(5):
            mine.append(create_link(client, file_id)["id"])
            create_link(client, other_file)

        first = client.get("/v1/file_links", params={"file": file_id, "limit": 3}).json()
        rest = client.get(
            "/v1/file_links",
            params={"file": file_id, "limit": 3, "starting_after": first["data"][-1]["id"]},
        ).json()

        assert ids_of(first) + ids_of(rest) == mine[::-1]
        assert (first["has_more"], rest["has_more"]) == (True, False)

    def test_file_filter_with_another_accounts_file_lists_nothing(self, client, file_id):
        foreign = bearer(new_key())
        foreign_file = new_file(client, headers=foreign)
        create_link(client, foreign_file, foreign)
        make_links(client, file_id, 1)

        listing = client.get("/v1/file_links", params={"file": foreign_file}).json()

        assert listing["data"] == []

    def test_filters_combine(self, client, clock, file_id):
        other_file = new_file(client)
        create_link(client, file_id, expires_at=clock.now() + 10)
        clock.advance(100)
        wanted = create_link(client, file_id, expires_at=clock.now() + 10)
        create_link(client, other_file, expires_at=clock.now() + 10)
        create_link(client, file_id)
        clock.advance(10)

        listing = client.get(
            "/v1/file_links",
            params={"file": file_id, "expired": "true", "created[gte]": wanted["created"]},
        ).json()

        assert ids_of(listing) == [wanted["id"]]

    def test_expand_data_file_expands_each_file(self, client, file_id):
        other_file = new_file(client, "business_logo")
        first = create_link(client, file_id)
        second = create_link(client, other_file)

        listing = client.get("/v1/file_links", params={"expand[]": "data.file"}).json()

        files = [item["file"] for item in listing["data"]]
        assert [f["id"] for f in files] == [other_file, file_id]
        assert [f["object"] for f in files] == ["file", "file"]
        assert ids_of(files[0]["links"]) == [second["id"]]
        assert ids_of(files[1]["links"]) == [first["id"]]
        assert files[1] == client.get(f"/v1/files/{file_id}").json()

    def test_expand_without_data_prefix_is_refused(self, client):
        error = invalid_request(client.get("/v1/file_links", params={"expand[]": "file"}))

        assert error["message"] == (
            "This property cannot be expanded (file). You may want to try expanding 'data.file'"
            " instead."
        )

    def test_unknown_parameter_is_refused(self, client):
        error = invalid_request(
            client.get("/v1/file_links", params={"purpose": "dispute_evidence"})
        )

        assert error["code"] == "parameter_unknown"
        assert error["param"] == "purpose"
