"""The per-purpose upload limit applies while the bytes stream in, before they reach the
disk: `read_params` asks for the file part's limit with the fields sent before it
(`services.files.upload_limit`), and stops writing once that is passed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from starlette.responses import Response

from filelinks_api.services.files import upload_limit
from filelinks_api.wire.envelope import StripeJSON, install_handlers
from filelinks_api.wire.request import Upload, read_params
from tests import samples
from tests.hostile.checks import MULTIPART, multipart, part, stripe_error

UPLOAD_CAP = 1_000_000
LOGO_LIMIT = 512_000


class CountingSink:
    def __init__(self) -> None:
        self.written = 0
        self.discarded = False

    def write(self, chunk: bytes) -> None:
        self.written += len(chunk)

    def discard(self) -> None:
        self.discarded = True


class TestReadMultipartWithAPurposeLimit:
    @pytest.fixture
    def sinks(self) -> list[CountingSink]:
        return []

    @pytest.fixture
    def wire(self, sinks: list[CountingSink]) -> Iterator[TestClient]:
        app = FastAPI()
        install_handlers(app)

        @app.post("/upload")
        async def receive_upload(request: Request) -> Response:
            def open_sink() -> CountingSink:
                sinks.append(CountingSink())
                return sinks[-1]

            form = await read_params(
                request,
                64_000,
                Upload(open_sink, lambda fields: upload_limit(fields, UPLOAD_CAP)),
            )
            return StripeJSON({"size": form.file.size if form.file else None})

        with TestClient(app) as test_client:
            yield test_client

    def test_purpose_first_stops_at_the_purpose_limit(
        self, wire: TestClient, sinks: list[CountingSink]
    ) -> None:
        logo = samples.png() + b"\x00" * 900_000
        body = multipart(part(b"purpose", b"business_logo"), part(b"file", logo, b"l.png"))
        got = wire.post("/upload", content=body, headers=MULTIPART)
        assert stripe_error(got, 400)["param"] == "file"
        assert str(LOGO_LIMIT) in got.json()["error"]["message"]
        assert sinks[0].written <= LOGO_LIMIT  # not a byte past the limit reached the sink
        assert sinks[0].discarded

    def test_file_first_streams_up_to_the_cap(
        self, wire: TestClient, sinks: list[CountingSink]
    ) -> None:
        logo = samples.png() + b"\x00" * 900_000
        body = multipart(part(b"file", logo, b"l.png"), part(b"purpose", b"business_logo"))
        got = wire.post("/upload", content=body, headers=MULTIPART)
        assert got.json() == {"size": len(logo)}  # the service refuses it afterwards
        body = multipart(part(b"file", logo * 2, b"l.png"), part(b"purpose", b"business_logo"))
        stripe_error(wire.post("/upload", content=body, headers=MULTIPART), 400)
        assert sinks[1].written <= UPLOAD_CAP

    @pytest.mark.parametrize(
        ("purpose", "limit"),
        [
            (b"business_icon", 512_000),
            (b"terminal_wifi_certificate", 100_000),
            (b"dispute_evidence", 5_000_000),  # over the cap: the cap wins
            (b"no_such_purpose", UPLOAD_CAP),
            (b"finance_report_run", UPLOAD_CAP),  # Stripe-generated: no limit of its own
        ],
    )
    def test_the_limit_follows_the_purpose(self, purpose: bytes, limit: int) -> None:
        assert upload_limit({"purpose": purpose.decode()}, UPLOAD_CAP) == min(limit, UPLOAD_CAP)
        assert upload_limit({}, UPLOAD_CAP) == UPLOAD_CAP
