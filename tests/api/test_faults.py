"""/_emulator/faults: fault rules, and what they do to the scope's /v1 requests (in process;
the real connection resets and the SDKs are in tests/e2e/test_faults.py)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from filelinks_api import metrics, repository
from filelinks_api.api.injection import ConnectionResetByFault
from filelinks_api.services.faults import RATE_LIMITED_TEST, UNAVAILABLE_TEST
from tests.api.helpers import bearer, create_link, error_of, invalid_request, uploaded
from tests.conftest import new_key


def add(client: TestClient, headers: dict[str, str] | None = None, **params: object) -> dict:
    response = client.post("/_emulator/faults", data=params, headers=headers)
    assert response.status_code == 200, response.text
    rule: dict = response.json()
    return rule


def rules(client: TestClient) -> list[dict]:
    data: list[dict] = client.get("/_emulator/faults").json()["data"]
    return data


def links(client: TestClient) -> list[dict]:
    data: list[dict] = client.get("/v1/file_links").json()["data"]
    return data


def log_entries(client: TestClient, **filters: str) -> list[dict]:
    data: list[dict] = client.get("/_emulator/requests", params=filters).json()["data"]
    return data


class TestRules:
    def test_an_error_rule_defaults_to_stripes_500(self, client, clock):
        rule = add(client, action="error")
        assert rule["id"].startswith("fault_")
        assert rule == {
            "id": rule["id"],
            "object": "emulator.fault",
            "action": "error",
            "method": None,
            "path": None,
            "status": 500,
            "type": "api_error",
            "code": None,
            "message": "An unknown error occurred",
            "delay_ms": None,
            "when": None,
            "times": 1,
            "remaining": 1,
            "created": clock.now(),
        }

    @pytest.mark.parametrize(
        ("status", "type_", "code", "message"),
        [
            (402, "card_error", "card_declined", "Your card was declined."),
            (429, "invalid_request_error", "rate_limit", RATE_LIMITED_TEST),
            (503, "api_error", None, UNAVAILABLE_TEST),
            (502, "api_error", None, "An unknown error occurred"),
        ],
    )
    def test_each_status_defaults_to_what_stripe_sends(self, client, status, type_, code, message):
        rule = add(client, action="error", status=status)
        assert (rule["type"], rule["code"], rule["message"]) == (type_, code, message)

    def test_given_type_code_and_message_are_kept(self, client):
        rule = add(
            client, action="error", status=400, type="invalid_request_error", code="x", message="m"
        )
        assert (rule["type"], rule["code"], rule["message"]) == ("invalid_request_error", "x", "m")

    def test_the_list_is_newest_first_and_keeps_spent_rules(self, client):
        first = add(client, action="error", path="/v1/file_links")
        second = add(client, action="delay", delay_ms=0, method="post", times=3)
        client.get("/v1/file_links")
        listed = client.get("/_emulator/faults").json()
        assert listed["object"] == "list"
        assert listed["url"] == "/_emulator/faults"
        assert [(r["id"], r["remaining"]) for r in listed["data"]] == [
            (second["id"], 3),
            (first["id"], 0),
        ]
        assert listed["data"][0]["method"] == "POST"

    def test_deleting_one_rule_and_all(self, client):
        first = add(client, action="error")
        add(client, action="error")
        gone = client.delete(f"/_emulator/faults/{first['id']}")
        assert gone.json() == {"id": first["id"], "object": "emulator.fault", "deleted": True}
        assert len(rules(client)) == 1
        assert client.delete("/_emulator/faults").json() == {"deleted": True, "faults": 1}
        assert rules(client) == []
        assert links(client) == []  # nothing acts any more

    def test_deleting_an_unknown_rule_is_resource_missing(self, client):
        error = error_of(client.delete("/_emulator/faults/fault_nope"), 404)
        assert error["code"] == "resource_missing"
        assert error["param"] == "id"

    def test_the_data_reset_removes_the_rules(self, client):
        add(client, action="error")
        client.delete("/_emulator/data")
        assert rules(client) == []
        assert client.get("/v1/file_links").status_code == 200

    def test_rules_belong_to_their_scope(self, client):
        other = bearer(new_key())
        connected = {"Stripe-Account": "acct_1Connected0000001"}
        add(client, action="error", times=5)
        assert client.get("/v1/file_links", headers=other).status_code == 200
        assert client.get("/v1/file_links", headers=connected).status_code == 200
        assert client.get("/_emulator/faults", headers=other).json()["data"] == []
        assert client.get("/v1/file_links").status_code == 500


class TestBadRules:
    @pytest.mark.parametrize(
        ("params", "param"),
        [
            ({}, "action"),
            ({"action": "explode"}, "action"),
            ({"action": "error", "status": 399}, "status"),
            ({"action": "error", "status": 600}, "status"),
            ({"action": "error", "type": "card_errors"}, "type"),
            ({"action": "delay"}, "delay_ms"),
            ({"action": "delay", "delay_ms": -1}, "delay_ms"),
            ({"action": "delay", "delay_ms": 60_001}, "delay_ms"),
            ({"action": "delay", "delay_ms": 10, "status": 500}, "status"),
            ({"action": "error", "when": "after"}, "when"),
            ({"action": "error", "delay_ms": 10}, "delay_ms"),
            ({"action": "reset"}, "when"),
            ({"action": "reset", "when": "during"}, "when"),
            ({"action": "reset", "when": "after", "message": "x"}, "message"),
            ({"action": "error", "times": 0}, "times"),
            ({"action": "error", "times": "many"}, "times"),
            ({"action": "error", "method": "PATCH"}, "method"),
            ({"action": "error", "path": "/_emulator"}, "path"),
            ({"action": "error", "flavour": "x"}, "flavour"),
        ],
    )
    def test_a_bad_rule_is_a_400_naming_the_parameter(self, client, params, param):
        error = invalid_request(client.post("/_emulator/faults", data=params))
        assert error["param"] == param
        assert rules(client) == []


class TestErrors:
    def test_a_500_on_a_read_is_stripes_envelope_and_fires_once(self, client):
        add(client, action="error")
        response = client.get("/v1/file_links")
        assert response.headers["stripe-should-retry"] == "false"
        assert response.headers["request-id"].startswith("req_")
        assert error_of(response, 500) == {
            "message": "An unknown error occurred",
            "type": "api_error",
        }
        assert client.get("/v1/file_links").status_code == 200
        assert rules(client)[0]["remaining"] == 0

    def test_a_500_is_kept_for_the_idempotency_key_and_replayed(self, client):
        file_id = uploaded(client)["id"]
        add(client, action="error", method="POST", path="/v1/file_links")
        key = {"Idempotency-Key": "k-500"}
        first = client.post("/v1/file_links", data={"file": file_id}, headers=key)
        again = client.post("/v1/file_links", data={"file": file_id}, headers=key)
        assert first.status_code == again.status_code == 500
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
        assert links(client) == []

    @pytest.mark.parametrize("status", [503, 409])
    def test_a_retryable_error_releases_the_key(self, client, status):
        file_id = uploaded(client)["id"]
        add(client, action="error", status=status, path="/v1/file_links")
        key = {"Idempotency-Key": f"k-{status}"}
        first = client.post("/v1/file_links", data={"file": file_id}, headers=key)
        assert first.status_code == status
        assert first.headers["stripe-should-retry"] == "true"
        again = client.post("/v1/file_links", data={"file": file_id}, headers=key)
        assert again.status_code == 200
        assert "idempotent-replayed" not in again.headers
        assert [link["id"] for link in links(client)] == [again.json()["id"]]

    def test_a_rate_limit_429_comes_before_the_idempotency_layer(self, client):
        file_id = uploaded(client)["id"]
        add(client, action="error", status=429)
        key = {"Idempotency-Key": "k-429"}
        first = client.post("/v1/file_links", data={"file": file_id}, headers=key)
        assert error_of(first, 429) == {
            "code": "rate_limit",
            "doc_url": "https://stripe.com/docs/error-codes/rate-limit",
            "message": RATE_LIMITED_TEST,
            "type": "invalid_request_error",
        }
        assert first.headers["stripe-should-retry"] == "false"
        again = client.post("/v1/file_links", data={"file": file_id}, headers=key)
        assert again.status_code == 200
        assert "idempotent-replayed" not in again.headers

    def test_a_lock_timeout_429_is_retryable(self, client):
        add(client, action="error", status=429, code="lock_timeout")
        response = client.get("/v1/file_links")
        assert error_of(response, 429)["code"] == "lock_timeout"
        assert response.headers["stripe-should-retry"] == "true"

    def test_a_402_is_a_declined_card(self, client):
        add(client, action="error", status=402)
        assert error_of(client.get("/v1/files"), 402) == {
            "code": "card_declined",
            "decline_code": "generic_decline",
            "doc_url": "https://stripe.com/docs/error-codes/card-declined",
            "message": "Your card was declined.",
            "type": "card_error",
        }

    def test_an_invalid_request_is_refused_before_any_rule(self, client):
        add(client, action="error")
        assert client.post("/v1/file_links", data={}).status_code == 400
        assert rules(client)[0]["remaining"] == 1


class TestMatching:
    def test_method_and_path_prefix_select_the_requests(self, client):
        file_id = uploaded(client)["id"]
        add(client, action="error", method="POST", path="/v1/file_links")
        assert client.get("/v1/file_links").status_code == 200
        assert client.get(f"/v1/files/{file_id}").status_code == 200
        assert client.post("/v1/file_links", data={"file": file_id}).status_code == 500

    def test_rules_apply_oldest_first_one_per_request(self, client):
        add(client, action="error", status=503)
        add(client, action="error", status=402, times=2)
        statuses = [client.get("/v1/file_links").status_code for _ in range(4)]
        assert statuses == [503, 402, 402, 200]

    def test_emulator_and_health_routes_are_never_touched(self, client):
        add(client, action="error", times=10)
        assert client.get("/_emulator/faults").status_code == 200
        assert client.get("/_emulator/requests").status_code == 200
        assert client.get("/healthz").status_code == 200
        assert rules(client)[0]["remaining"] == 10


class TestDelayAndReset:
    def test_a_delay_answers_normally(self, client):
        add(client, action="delay", delay_ms=1)
        assert client.get("/v1/file_links").status_code == 200
        assert rules(client)[0]["remaining"] == 0

    def test_reset_before_applies_nothing(self, client):
        file_id = uploaded(client)["id"]
        add(client, action="reset", when="before")
        with pytest.raises(ConnectionResetByFault):
            client.post(
                "/v1/file_links", data={"file": file_id}, headers={"Idempotency-Key": "k-b"}
            )
        assert links(client) == []
        retry = client.post(
            "/v1/file_links", data={"file": file_id}, headers={"Idempotency-Key": "k-b"}
        )
        assert retry.status_code == 200
        assert "idempotent-replayed" not in retry.headers

    def test_reset_after_applies_and_keeps_the_result_for_the_key(self, client):
        file_id = uploaded(client)["id"]
        add(client, action="reset", when="after", path="/v1/file_links")
        key = {"Idempotency-Key": "k-a"}
        with pytest.raises(ConnectionResetByFault):
            client.post("/v1/file_links", data={"file": file_id}, headers=key)
        [link] = links(client)
        retry = client.post("/v1/file_links", data={"file": file_id}, headers=key)
        assert retry.headers["idempotent-replayed"] == "true"
        assert retry.json()["id"] == link["id"]


class TestSeen:
    def test_the_request_log_records_the_fault(self, client):
        file_id = uploaded(client)["id"]
        error_rule = add(client, action="error", method="GET")
        reset_rule = add(client, action="reset", when="after", method="POST")
        client.get("/v1/file_links")
        with pytest.raises(ConnectionResetByFault):
            client.post("/v1/file_links", data={"file": file_id})
        reset_entry, error_entry = log_entries(client, path="/v1/file_links")
        assert error_entry["fault"] == {"id": error_rule["id"], "action": "error"}
        assert error_entry["status"] == 500
        # applied: its status and object are there, though the client never got them
        assert reset_entry["fault"] == {"id": reset_rule["id"], "action": "reset"}
        assert reset_entry["status"] == 200
        assert reset_entry["response"]["object"] == "file_link"
        untouched = log_entries(client, path="/v1/files")[0]
        assert untouched["fault"] is None

    def test_reset_before_is_logged_with_no_response(self, client):
        rule = add(client, action="reset", when="before")
        with pytest.raises(ConnectionResetByFault):
            client.get("/v1/files")
        [entry] = log_entries(client)
        assert (entry["status"], entry["response"], entry["fault"]) == (
            0,
            None,
            {"id": rule["id"], "action": "reset"},
        )

    def test_metrics_count_faults_by_action(self, client):
        before = metrics.FAULTS_INJECTED.labels("delay")._value.get()
        add(client, action="delay", delay_ms=0, times=2)
        client.get("/v1/files")
        client.get("/v1/files")
        assert metrics.FAULTS_INJECTED.labels("delay")._value.get() == before + 2
        assert 'filelinks_faults_injected_total{action="delay"}' in client.get("/metrics").text


def test_a_request_in_a_scope_without_rules_never_reads_them(client, monkeypatch):
    """The hot path of every /v1 request: one set lookup, no query."""
    other = bearer(new_key())
    add(client, action="error", headers=other)
    reads = []
    original = repository.fault_rules_of
    monkeypatch.setattr(
        repository, "fault_rules_of", lambda *a, **kw: reads.append(a) or original(*a, **kw)
    )
    create_link(client, uploaded(client)["id"])
    client.get("/v1/file_links")
    assert reads == []
    assert client.get("/v1/file_links", headers=other).status_code == 500
    assert len(reads) == 1
    # spent: the scope is forgotten, its next requests read nothing either
    assert client.get("/v1/file_links", headers=other).status_code == 200
    assert len(reads) == 1
