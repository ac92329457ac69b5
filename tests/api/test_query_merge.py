"""A POST's query string and body are one set of parameters: a bracket key split between the
two merges deeply, as Stripe's stack does."""

from __future__ import annotations

from tests.api.helpers import upload, uploaded


def test_a_link_takes_metadata_from_both_the_query_and_the_body(client):
    file_id = uploaded(client)["id"]

    got = client.post("/v1/file_links?metadata[a]=1", data={"file": file_id, "metadata[b]": "2"})

    assert got.status_code == 200, got.text
    assert got.json()["metadata"] == {"a": "1", "b": "2"}


def test_an_upload_takes_link_metadata_from_both_the_query_and_the_body(client):
    got = upload(
        client,
        path="/v1/files?file_link_data[metadata][a]=1",
        fields={"file_link_data[create]": "true", "file_link_data[metadata][b]": "2"},
        headers={"Idempotency-Key": "merge-1"},
    )

    assert got.status_code == 200, got.text
    [link] = got.json()["links"]["data"]
    assert link["metadata"] == {"a": "1", "b": "2"}
    again = upload(
        client,
        path="/v1/files?file_link_data[metadata][a]=1",
        fields={"file_link_data[create]": "true", "file_link_data[metadata][b]": "2"},
        headers={"Idempotency-Key": "merge-1"},
    )
    assert again.headers["Idempotent-Replayed"] == "true"  # same parameters, merged the same
