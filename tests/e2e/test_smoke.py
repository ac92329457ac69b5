import io

from tests import samples


def test_sdk_upload_and_link_roundtrip(sdk, client, http):
    uploaded = client.v1.files.create(
        params={"purpose": "dispute_evidence", "file": io.BytesIO(samples.pdf())}
    )
    link = sdk.FileLink.create(file=uploaded.id, metadata={"a": "b"})
    assert link.file == uploaded.id
    assert http.get(link.url).content == samples.pdf()
