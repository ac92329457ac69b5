from tests import samples


def test_upload_then_retrieve(client):
    created = client.post(
        "/v1/files",
        data={"purpose": "dispute_evidence"},
        files={"file": ("a.pdf", samples.pdf(), "application/octet-stream")},
    )
    assert created.status_code == 200, created.text
    got = client.get(f"/v1/files/{created.json()['id']}")
    assert got.json() == created.json()
