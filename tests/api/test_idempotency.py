"""Idempotency-Key on POST: replay, conflicts, what is not stored, scope and lifetime."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from filelinks_api import ids, repository
from filelinks_api.errors import IdempotencyError
from filelinks_api.repository import Scope
from filelinks_api.services import file_links as file_links_service
from filelinks_api.services import idempotency
from filelinks_api.storage import StoreUnavailable
from tests import samples
from tests.api.helpers import bearer, error_of, post_link, upload
from tests.conftest import new_key


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


def count_links(client, file_id):
    return len(client.get("/v1/file_links", params={"file": file_id, "limit": 100}).json()["data"])


class TestReplay:
    def test_same_key_and_params_replays_the_first_response_byte_for_byte(self, client):
        file_id = upload(client).json()["id"]
        first = post_link(client, file_id, keyed("k-1"), **{"metadata[a]": "b"})
        again = post_link(client, file_id, keyed("k-1"), **{"metadata[a]": "b"})
        assert first.status_code == again.status_code == 200
        assert again.content == first.content
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.headers["Original-Request"] == first.headers["Request-Id"]
        assert again.headers["Request-Id"] != first.headers["Request-Id"]
        assert again.headers["Idempotency-Key"] == "k-1"
        assert count_links(client, file_id) == 1

    def test_first_execution_echoes_the_key_and_is_its_own_original_request(self, client):
        file_id = upload(client).json()["id"]
        first = post_link(client, file_id, keyed("k-echo"))
        assert first.headers["Idempotency-Key"] == "k-echo"
        assert first.headers["Original-Request"] == first.headers["Request-Id"]
        assert "Idempotent-Replayed" not in first.headers

    def test_parameter_order_does_not_matter(self, client):
        file_id = upload(client).json()["id"]
        body_a = f"file={file_id}&metadata[x]=1&metadata[y]=2"
        body_b = f"metadata[y]=2&metadata[x]=1&file={file_id}"
        form = {"Content-Type": "application/x-www-form-urlencoded", "Idempotency-Key": "k-order"}
        first = client.post("/v1/file_links", content=body_a, headers=form)
        again = client.post("/v1/file_links", content=body_b, headers=form)
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert again.json()["id"] == first.json()["id"]

    def test_an_update_is_replayed_not_applied_twice(self, client):
        file_id = upload(client).json()["id"]
        link = post_link(client, file_id).json()
        first = client.post(
            f"/v1/file_links/{link['id']}",
            data={"metadata[n]": "1"},
            headers={"Idempotency-Key": "k-update"},
        )
        client.post(f"/v1/file_links/{link['id']}", data={"metadata[n]": "2"})
        again = client.post(
            f"/v1/file_links/{link['id']}",
            data={"metadata[n]": "1"},
            headers={"Idempotency-Key": "k-update"},
        )
        assert again.content == first.content
        assert client.get(f"/v1/file_links/{link['id']}").json()["metadata"] == {"n": "2"}

    def test_upload_with_the_same_bytes_is_replayed(self, client, settings):
        first = upload(client, headers=keyed("k-upload"))
        again = upload(client, headers=keyed("k-upload"))
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json()["id"] == first.json()["id"]
        assert len(client.get("/v1/files", params={"limit": 100}).json()["data"]) == 1
        stored = [p for p in settings.files_dir.rglob("*") if p.is_file() and "objects" in p.parts]
        assert len(stored) == 1

    def test_an_error_after_the_endpoint_started_is_replayed(self, client):
        first = post_link(client, "file_missing", keyed("k-missing"))
        again = post_link(client, "file_missing", keyed("k-missing"))
        assert first.status_code == again.status_code == 400
        assert first.json()["error"]["code"] == "resource_missing"
        assert again.content == first.content
        assert again.headers["Idempotent-Replayed"] == "true"


class TestConflicts:
    def test_same_key_with_different_parameters_is_an_idempotency_error(self, client):
        file_id = upload(client).json()["id"]
        post_link(client, file_id, keyed("k-2"), **{"metadata[a]": "b"})
        clash = post_link(client, file_id, keyed("k-2"), **{"metadata[a]": "c"})
        assert error_of(clash) == {
            "message": "Keys for idempotent requests can only be used with the same"
            " parameters they were first used with. Try using a key other than 'k-2' if you"
            " meant to execute a different request.",
            "type": "idempotency_error",
        }
        assert count_links(client, file_id) == 1

    def test_same_key_on_another_endpoint_is_an_idempotency_error(self, client):
        file_id = upload(client).json()["id"]
        link = post_link(client, file_id, keyed("k-3")).json()
        clash = client.post(
            f"/v1/file_links/{link['id']}",
            data={"metadata[a]": "b"},
            headers={"Idempotency-Key": "k-3"},
        )
        assert clash.status_code == 400
        error = clash.json()["error"]
        assert error["type"] == "idempotency_error"
        assert error["message"] == (
            "Keys for idempotent requests can only be used for the same endpoint they were first"
            f" used for ('/v1/file_links/{link['id']}' vs '/v1/file_links'). Try using a key"
            " other than 'k-3' if you meant to execute a different request."
        )

    def test_an_endpoint_longer_than_its_column_is_told_apart_by_all_of_it(self, client):
        long_id = "link_" + "x" * 595
        first = client.post(f"/v1/file_links/{long_id}", headers=keyed("k-long"))
        again = client.post(f"/v1/file_links/{long_id}", headers=keyed("k-long"))
        other = client.post(f"/v1/file_links/{long_id}y", headers=keyed("k-long"))

        assert first.status_code == 404, first.text
        assert first.json()["error"]["code"] == "resource_missing"
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.content == first.content
        assert other.status_code == 400, other.text
        assert other.json()["error"]["type"] == "idempotency_error"

    def test_an_endpoint_with_a_nul_is_kept_without_it(self, client):
        first = client.post("/v1/file_links/link_%00", headers=keyed("k-nul"))
        again = client.post("/v1/file_links/link_%00", headers=keyed("k-nul"))
        other = client.post("/v1/file_links/link_%EF%BF%BD", headers=keyed("k-nul"))

        assert first.status_code == 404, first.text
        assert again.headers["Idempotent-Replayed"] == "true"
        assert other.json()["error"]["type"] == "idempotency_error"

    def test_upload_with_different_bytes_is_an_idempotency_error(self, client):
        upload(client, samples.pdf("one"), headers=keyed("k-bytes"))
        clash = upload(client, samples.pdf("two"), headers=keyed("k-bytes"))
        assert clash.status_code == 400
        assert clash.json()["error"]["type"] == "idempotency_error"
        assert len(client.get("/v1/files").json()["data"]) == 1

    def test_a_key_longer_than_255_characters_is_an_idempotency_error(self, client):
        file_id = upload(client).json()["id"]
        refused = post_link(client, file_id, keyed("k" * 256))
        # Stripe's wording (docs/stripe-behavior.md §7): stripe-python raises IdempotencyError.
        assert error_of(refused) == {
            "message": "Idempotent key length is 256 characters long, which is outside accepted"
            " lengths. Idempotent Keys must be 1-255 characters long. If you're looking for a"
            " decent generator, try using a UUID defined by IETF RFC 4122.",
            "type": "idempotency_error",
        }
        assert count_links(client, file_id) == 0
        assert post_link(client, file_id, keyed("k" * 255)).status_code == 200

    def test_an_empty_key_is_an_idempotency_error(self, client):
        file_id = upload(client).json()["id"]
        refused = post_link(client, file_id, keyed(""))
        error = error_of(refused)
        assert error["type"] == "idempotency_error"
        assert error["message"].startswith(
            "Idempotent key length is 0 characters long, which is outside accepted lengths."
        )
        assert count_links(client, file_id) == 0

    def test_an_empty_key_on_an_upload_is_refused_too(self, client):
        refused = upload(client, headers=keyed(""))
        assert error_of(refused)["type"] == "idempotency_error"
        assert client.get("/v1/files").json()["data"] == []


class TestNotStored:
    def test_a_validation_failure_leaves_the_key_free(self, client):
        file_id = upload(client).json()["id"]
        invalid = post_link(client, file_id, keyed("k-4"), bogus="1")
        assert invalid.json()["error"]["code"] == "parameter_unknown"
        valid = post_link(client, file_id, keyed("k-4"))
        assert valid.status_code == 200
        assert "Idempotent-Replayed" not in valid.headers

    def test_an_upload_validation_failure_leaves_the_key_free(self, client):
        refused = upload(client, purpose="not_a_purpose", headers=keyed("k-5"))
        assert refused.status_code == 400
        accepted = upload(client, headers=keyed("k-5"))
        assert accepted.status_code == 200
        assert "Idempotent-Replayed" not in accepted.headers

    def test_an_authentication_failure_leaves_the_key_free(self, client):
        file_id = upload(client).json()["id"]
        denied = post_link(client, file_id, {**keyed("k-6"), **bearer("pk_test_abc")})
        assert denied.status_code == 403
        assert post_link(client, file_id, keyed("k-6")).status_code == 200

    def test_get_ignores_the_header(self, client):
        file_id = upload(client).json()["id"]
        first = client.get("/v1/files", headers={"Idempotency-Key": "k-7"})
        post_link(client, file_id)
        second = client.get(f"/v1/files/{file_id}", headers={"Idempotency-Key": "k-7"})
        assert second.status_code == 200
        assert "Idempotent-Replayed" not in second.headers
        assert first.json()["object"] == "list"


class TestScopeAndLifetime:
    def test_two_accounts_use_one_key_independently(self, client):
        other = bearer(new_key())
        mine = post_link(client, upload(client).json()["id"], keyed("shared"))
        theirs_file = upload(client, filename="b.pdf", headers=other).json()["id"]
        theirs = post_link(client, theirs_file, {**other, **keyed("shared")})
        assert theirs.status_code == 200
        assert "Idempotent-Replayed" not in theirs.headers
        assert theirs.json()["id"] != mine.json()["id"]

    def test_a_key_older_than_24_hours_behaves_as_new(self, client, clock):
        file_id = upload(client).json()["id"]
        first = post_link(client, file_id, keyed("k-old"))
        clock.advance(24 * 3600 + 1)
        again = post_link(client, file_id, keyed("k-old"))
        assert again.status_code == 200
        assert "Idempotent-Replayed" not in again.headers
        assert again.json()["id"] != first.json()["id"]
        assert count_links(client, file_id) == 2


class TestInFlight:
    """A key claimed by a request still executing (in another worker or replica)."""

    @staticmethod
    def claim_elsewhere(
        session, api_key: str, key: str, endpoint: str, digest: str, renewed: float | None = None
    ) -> None:
        repository.insert_idempotency_key(
            session,
            {
                "account": ids.account_for_key(api_key),
                "livemode": False,
                "key": key,
                "endpoint": endpoint,
                "digest": digest,
                "created": 1_800_000_000,
                "started_at": time.time() if renewed is None else renewed,
                "request_id": "req_elsewhere",
            },
        )
        session.commit()

    def test_a_retry_gets_the_retryable_409(self, client, session, api_key):
        file_id = upload(client).json()["id"]
        self.claim_elsewhere(session, api_key, "k-busy", "/v1/file_links", "0" * 64)

        retry = post_link(client, file_id, keyed("k-busy"))

        assert retry.status_code == 409
        assert retry.headers["Stripe-Should-Retry"] == "true"
        # the SDKs that honour Retry-After come back once the lease may have lapsed
        assert retry.headers["Retry-After"] == "1"
        assert retry.json()["error"]["type"] == "idempotency_error"
        assert retry.json()["error"]["code"] == "idempotency_key_in_use"
        assert count_links(client, file_id) == 0  # nothing was done

    def test_an_upload_retry_gets_the_retryable_409(self, client, session, api_key):
        self.claim_elsewhere(session, api_key, "k-busy-upload", "/v1/files", "0" * 64)

        retry = upload(client, headers=keyed("k-busy-upload"))

        assert retry.status_code == 409
        assert retry.json()["error"]["code"] == "idempotency_key_in_use"
        assert client.get("/v1/files").json()["data"] == []

    def test_a_claim_whose_lease_lapsed_is_taken_over(self, client, session, api_key):
        file_id = upload(client).json()["id"]
        lapsed = time.time() - idempotency.LEASE_SECONDS - 0.1  # its owner stopped renewing
        self.claim_elsewhere(session, api_key, "k-dead", "/v1/file_links", None, renewed=lapsed)

        retry = post_link(client, file_id, keyed("k-dead"))

        assert retry.status_code == 200
        assert count_links(client, file_id) == 1
        assert post_link(client, file_id, keyed("k-dead")).headers["Idempotent-Replayed"] == "true"

    def test_an_owner_whose_claim_was_taken_over_cannot_commit(self, session, api_key):
        claim = idempotency.claim(
            session,
            Scope(ids.account_for_key(api_key), False),
            "k-slow",
            endpoint="/v1/file_links",
            params_digest="0" * 64,
            now=1_800_000_000,
            request_id="req_slow",
        )
        assert isinstance(claim, idempotency.Claim)
        # another request takes it over (as after a lapsed lease)
        repository.change_idempotency_claim(
            session, claim.seq, "req_slow", {"request_id": "req_other"}
        )

        with pytest.raises(IdempotencyError) as refused:
            idempotency.store(session, claim, 200, b"{}")
        assert refused.value.status == 409
        assert not idempotency.renew(session, claim)


class TestAfterFailures:
    """Stripe keeps the first answer once the endpoint began executing, 500s included; what
    a retry may change (429, 503) is never kept (failures.keeps_result)."""

    def test_a_success_says_not_to_retry(self, client):
        file_id = upload(client).json()["id"]
        created = post_link(client, file_id, keyed("k-ok"))
        assert created.headers["Stripe-Should-Retry"] == "false"
        replayed = post_link(client, file_id, keyed("k-ok"))
        assert replayed.headers["Stripe-Should-Retry"] == "false"

    def test_a_retryable_failure_releases_the_key(self, client, monkeypatch):
        file_id = upload(client).json()["id"]
        real = file_links_service.create
        outage = [StoreUnavailable("connection refused")]

        def once_down(*args, **kwargs):
            if outage:
                raise outage.pop()
            return real(*args, **kwargs)

        monkeypatch.setattr(file_links_service, "create", once_down)
        failed = post_link(client, file_id, keyed("k-outage"))
        assert failed.status_code == 503
        assert failed.headers["Stripe-Should-Retry"] == "true"

        retried = post_link(client, file_id, keyed("k-outage"))

        assert retried.status_code == 200
        assert "Idempotent-Replayed" not in retried.headers
        assert count_links(client, file_id) == 1

    @pytest.mark.expect_error_log
    def test_an_internal_error_is_the_keys_answer(self, app, api_key, monkeypatch):
        with TestClient(app, raise_server_exceptions=False, headers=bearer(api_key)) as client:
            file_id = upload(client).json()["id"]

            def broken(*args, **kwargs):
                raise RuntimeError("a bug")

            monkeypatch.setattr(file_links_service, "create", broken)
            failed = post_link(client, file_id, keyed("k-bug"))
            monkeypatch.undo()
            retried = post_link(client, file_id, keyed("k-bug"))

        assert failed.status_code == 500
        assert failed.headers["Stripe-Should-Retry"] == "false"
        assert retried.status_code == 500
        assert retried.headers["Idempotent-Replayed"] == "true"
        assert retried.content == failed.content
        assert count_links(client, file_id) == 0
