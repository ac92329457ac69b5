"""File Links through the real `stripe` SDK against a real server, the way users drive it.

The server's clock is real time here: links created back to back share `created` seconds,
and the one expiry test waits for a link to expire on its own.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import httpx
import pytest
import stripe

from tests import samples
from tests.conftest import new_key
from tests.e2e.conftest import STORAGE_PARAMS, server_on_each_storage

# upload, download, link URL and HEAD on each storage backend too
server = pytest.fixture(scope="session", params=STORAGE_PARAMS)(server_on_each_storage)

PDF = samples.pdf("e2e link")


@pytest.fixture
def file_id(client: stripe.StripeClient) -> str:
    uploaded = client.v1.files.create(
        params={"purpose": "dispute_evidence", "file": io.BytesIO(PDF)}
    )
    return uploaded.id


@pytest.fixture
def public(server) -> Iterator[httpx.Client]:
    """No Authorization header: the public URL must not need one."""
    with httpx.Client(timeout=30) as plain:
        yield plain


def make_links(client: stripe.StripeClient, file_id: str, count: int) -> list[stripe.FileLink]:
    """`count` links created back to back, oldest first."""
    return [client.v1.file_links.create(params={"file": file_id}) for _ in range(count)]


def assert_shares_a_second(links: list[stripe.FileLink]) -> None:
    # Created back to back, at least two of them land in one second: the tie-break is exercised.
    assert len({link.created for link in links}) < len(links)


class TestFileLinkModuleApi:
    def test_create_retrieve_modify_list(self, sdk, file_id):
        expires_at = int(time.time()) + 3600

        link = sdk.FileLink.create(file=file_id, expires_at=expires_at, metadata={"order": "6735"})
        retrieved = sdk.FileLink.retrieve(link.id)
        modified = sdk.FileLink.modify(link.id, metadata={"order": "", "note": "paid"})
        listed = sdk.FileLink.list(file=file_id)

        assert isinstance(link, stripe.FileLink)
        assert link.id.startswith("link_")
        assert (link.file, link.expires_at, link.expired) == (file_id, expires_at, False)
        assert link.livemode is False
        assert link.metadata.to_dict() == {"order": "6735"}
        assert retrieved.to_dict() == link.to_dict()
        assert modified.metadata.to_dict() == {"note": "paid"}
        assert modified.expires_at == expires_at
        assert [item.id for item in listed.data] == [link.id]
        assert listed.url == "/v1/file_links"

    def test_retrieve_with_expanded_file(self, sdk, file_id):
        link = sdk.FileLink.create(file=file_id)

        retrieved = sdk.FileLink.retrieve(link.id, expand=["file"])

        assert isinstance(retrieved.file, stripe.File)
        assert retrieved.file.id == file_id
        assert [item.id for item in retrieved.file.links.data] == [link.id]

    def test_modify_expires_at_now_then_list_expired(self, sdk, file_id):
        keep = sdk.FileLink.create(file=file_id)
        kill = sdk.FileLink.create(file=file_id)

        killed = sdk.FileLink.modify(kill.id, expires_at="now")

        assert killed.expired is True
        assert killed.expires_at <= int(time.time())
        assert [item.id for item in sdk.FileLink.list(expired=True).data] == [kill.id]
        assert [item.id for item in sdk.FileLink.list(expired=False).data] == [keep.id]

    def test_modify_expires_at_empty_makes_a_link_never_expire(self, sdk, file_id):
        link = sdk.FileLink.create(file=file_id, expires_at=int(time.time()) + 3600)

        modified = sdk.FileLink.modify(link.id, expires_at="")

        assert modified.expires_at is None
        assert modified.expired is False
        assert sdk.FileLink.retrieve(link.id).expires_at is None

    def test_live_key_makes_livemode_links(self, server, file_id):
        live = stripe.StripeClient(
            new_key("live"), base_addresses={"api": server.url, "files": server.url}
        )
        live_file = live.v1.files.create(
            params={"purpose": "dispute_evidence", "file": io.BytesIO(PDF)}
        )

        link = live.v1.file_links.create(params={"file": live_file.id})

        assert link.livemode is True

    def test_auto_paging_forward_over_same_second_links(self, sdk, client, file_id):
        links = make_links(client, file_id, 10)

        seen = [link.id for link in sdk.FileLink.list(limit=3).auto_paging_iter()]

        assert_shares_a_second(links)
        assert seen == [link.id for link in reversed(links)]

    def test_auto_paging_backward_over_same_second_links(self, sdk, client, file_id):
        links = make_links(client, file_id, 10)
        anchor, newer = links[0], links[1:]

        pager = sdk.FileLink.list(limit=3, ending_before=anchor.id).auto_paging_iter()
        seen = [link.id for link in pager]

        assert_shares_a_second(links)
        # Backwards, stripe-python yields each page reversed: oldest to newest.
        assert seen == [link.id for link in newer]


class TestFileLinkStripeClient:
    def test_create_retrieve_update_list(self, client, file_id):
        link = client.v1.file_links.create(
            params={"file": file_id, "metadata": {"a": "1", "b": "2"}}
        )
        retrieved = client.v1.file_links.retrieve(link.id, params={"expand": ["file"]})
        updated = client.v1.file_links.update(
            link.id, params={"metadata": {"a": ""}, "expires_at": int(time.time()) + 60}
        )
        listed = client.v1.file_links.list(params={"file": file_id, "expand": ["data.file"]})

        assert retrieved.file.id == file_id
        assert retrieved.file.links.data[0].id == link.id
        assert updated.metadata.to_dict() == {"b": "2"}
        assert updated.expired is False
        assert [item.id for item in listed.data] == [link.id]
        assert listed.data[0].file.id == file_id

    def test_update_metadata_empty_clears_every_key(self, client, file_id):
        link = client.v1.file_links.create(params={"file": file_id, "metadata": {"a": "1"}})

        updated = client.v1.file_links.update(link.id, params={"metadata": ""})

        assert updated.metadata.to_dict() == {}

    def test_auto_paging_forward_and_backward(self, client, file_id):
        links = make_links(client, file_id, 10)

        forward = client.v1.file_links.list(params={"limit": 3}).auto_paging_iter()
        backward = client.v1.file_links.list(
            params={"limit": 3, "ending_before": links[0].id}
        ).auto_paging_iter()

        assert [link.id for link in forward] == [link.id for link in reversed(links)]
        assert [link.id for link in backward] == [link.id for link in links[1:]]

    def test_list_filters(self, client, file_id):
        other_file = client.v1.files.create(
            params={"purpose": "dispute_evidence", "file": io.BytesIO(PDF)}
        ).id
        first = client.v1.file_links.create(params={"file": file_id})
        second = client.v1.file_links.create(params={"file": other_file})
        client.v1.file_links.update(second.id, params={"expires_at": "now"})

        def listed(**params):
            return [item.id for item in client.v1.file_links.list(params=params).data]

        assert listed(file=file_id) == [first.id]
        assert listed(file=other_file) == [second.id]
        assert listed(expired=True) == [second.id]
        assert listed(expired=False) == [first.id]
        assert listed(created={"gte": first.created}) == [second.id, first.id]
        assert listed(created={"lt": first.created}) == []
        assert listed(created=second.created)[0] == second.id

    def test_list_is_scoped_to_the_connected_account(self, client, file_id):
        connected = {"stripe_account": "acct_1ConnectedE2e001"}
        platform_link = client.v1.file_links.create(params={"file": file_id})
        connected_file = client.v1.files.create(
            params={"purpose": "dispute_evidence", "file": io.BytesIO(PDF)}, options=connected
        )
        connected_link = client.v1.file_links.create(
            params={"file": connected_file.id}, options=connected
        )

        listed = client.v1.file_links.list(options=connected)

        assert [item.id for item in listed.data] == [connected_link.id]
        with pytest.raises(stripe.InvalidRequestError):
            client.v1.file_links.retrieve(platform_link.id, options=connected)


class TestFileLinkErrors:
    def test_unknown_file_raises_invalid_request_error_on_param_file(self, client):
        with pytest.raises(stripe.InvalidRequestError) as raised:
            client.v1.file_links.create(params={"file": "file_doesnotexist"})

        assert raised.value.http_status == 400
        assert raised.value.code == "resource_missing"
        assert raised.value.param == "file"

    def test_non_linkable_purpose_raises_on_param_file(self, client):
        identity = client.v1.files.create(
            params={"purpose": "identity_document", "file": io.BytesIO(PDF)}
        )

        with pytest.raises(stripe.InvalidRequestError) as raised:
            client.v1.file_links.create(params={"file": identity.id})

        assert raised.value.http_status == 400
        assert raised.value.param == "file"

    def test_past_expires_at_raises_on_param_expires_at(self, sdk, file_id):
        with pytest.raises(stripe.InvalidRequestError) as raised:
            sdk.FileLink.create(file=file_id, expires_at=int(time.time()) - 10)

        assert raised.value.param == "expires_at"

    def test_unknown_link_raises_404_on_param_id(self, sdk):
        with pytest.raises(stripe.InvalidRequestError) as raised:
            sdk.FileLink.retrieve("link_doesnotexist")

        assert raised.value.http_status == 404
        assert raised.value.code == "resource_missing"
        assert raised.value.param == "id"
        assert raised.value.request_id.startswith("req_")

    def test_a_file_id_over_5000_characters_is_refused_on_param_file(self, client):
        long_id = "file_" + "x" * 4996

        with pytest.raises(stripe.InvalidRequestError) as raised:
            client.v1.file_links.create(params={"file": long_id})

        assert raised.value.http_status == 400
        assert raised.value.param == "file"
        assert raised.value.user_message == (
            "Invalid string: file...xxxx; must be at most 5000 characters"
        )

    def test_an_expand_item_over_5000_characters_is_refused(self, sdk, file_id):
        link = sdk.FileLink.create(file=file_id)

        with pytest.raises(stripe.InvalidRequestError) as raised:
            sdk.FileLink.retrieve(link.id, expand=["file", "x" * 5001])

        assert raised.value.param == "expand[1]"

    def test_an_invalid_stripe_version_is_an_invalid_request_error(self, server, api_key):
        odd = stripe.StripeClient(
            api_key,
            base_addresses={"api": server.url, "files": server.url},
            stripe_version="2024-9-30",
        )

        with pytest.raises(stripe.InvalidRequestError) as raised:
            odd.v1.file_links.list()

        assert raised.value.http_status == 400
        assert raised.value.user_message == "Invalid Stripe API version: 2024-9-30"
        assert raised.value.headers["stripe-version"] == "2026-06-24.dahlia"

    def test_expired_link_cannot_be_modified(self, sdk, file_id):
        link = sdk.FileLink.create(file=file_id)
        sdk.FileLink.modify(link.id, expires_at="now")

        with pytest.raises(stripe.InvalidRequestError) as raised:
            sdk.FileLink.modify(link.id, metadata={"a": "1"})

        assert raised.value.http_status == 400
        assert sdk.FileLink.retrieve(link.id).metadata.to_dict() == {}

    def test_another_key_cannot_see_update_list_or_link(self, server, client, file_id):
        link = client.v1.file_links.create(params={"file": file_id})
        other = stripe.StripeClient(
            new_key(), base_addresses={"api": server.url, "files": server.url}
        )

        with pytest.raises(stripe.InvalidRequestError) as retrieving:
            other.v1.file_links.retrieve(link.id)
        with pytest.raises(stripe.InvalidRequestError) as updating:
            other.v1.file_links.update(link.id, params={"expires_at": "now"})
        with pytest.raises(stripe.InvalidRequestError) as linking:
            other.v1.file_links.create(params={"file": file_id})

        assert (retrieving.value.http_status, updating.value.http_status) == (404, 404)
        assert linking.value.param == "file"
        assert other.v1.file_links.list().data == []
        assert client.v1.file_links.retrieve(link.id).expired is False


class TestPublicUrl:
    def test_serves_the_file_until_expires_at_now(self, client, public, file_id):
        link = client.v1.file_links.create(params={"file": file_id})

        before = public.get(link.url)
        client.v1.file_links.update(link.id, params={"expires_at": "now"})
        after = public.get(link.url)

        assert before.status_code == 200
        assert before.content == PDF
        assert before.headers["content-type"] == "application/pdf"
        assert before.headers["content-length"] == str(len(PDF))
        assert before.headers["content-disposition"].startswith("inline; filename=")
        assert after.status_code == 404
        assert after.content == public.get(f"{link.url}x").content

    def test_link_expires_as_real_time_passes(self, sdk, public, file_id):
        expires_at = int(time.time()) + 2
        link = sdk.FileLink.create(file=file_id, expires_at=expires_at)

        assert sdk.FileLink.retrieve(link.id).expired is False
        assert public.get(link.url).status_code == 200
        assert [item.id for item in sdk.FileLink.list(expired=False).data] == [link.id]

        time.sleep(max(0.0, expires_at - time.time()) + 0.05)

        assert sdk.FileLink.retrieve(link.id).expired is True
        assert public.get(link.url).status_code == 404
        assert public.head(link.url).status_code == 404
        assert [item.id for item in sdk.FileLink.list(expired=True).data] == [link.id]
        with pytest.raises(stripe.InvalidRequestError):
            sdk.FileLink.modify(link.id, expires_at="")

    def test_expires_at_empty_keeps_an_unexpired_link_served(self, client, public, file_id):
        link = client.v1.file_links.create(
            params={"file": file_id, "expires_at": int(time.time()) + 3600}
        )

        updated = client.v1.file_links.update(link.id, params={"expires_at": ""})

        assert updated.expires_at is None
        assert public.get(link.url).content == PDF
