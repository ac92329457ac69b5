"""filelinks_api.testing without pytest's plugin: Emulator, Account and their controls against a
real server it starts (or attaches to)."""

from __future__ import annotations

import io
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import stripe

from filelinks_api.testing import ControlError, Emulator, EmulatorError, _form_pairs
from tests import samples
from tests.s3 import free_port


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator() as running:
        yield running


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "\nState:\tZ" in status.read_text()


class TestEmulator:
    def test_started_server_answers_on_127_0_0_1(self, emulator: Emulator) -> None:
        assert emulator.url.startswith("http://127.0.0.1:")
        assert emulator.pid is not None
        assert emulator.account().clock.now() > 1_700_000_000

    def test_stop_ends_the_server_and_removes_its_temporary_dir(self) -> None:
        emulator = Emulator().start()
        pid, log = emulator.pid, emulator.log_path
        assert pid is not None
        assert log is not None
        assert log.exists()
        emulator.stop()
        assert gone(pid)
        assert not log.parent.exists()

    def test_a_given_data_dir_is_kept(self, tmp_path: Path) -> None:
        with Emulator(data_dir=tmp_path / "emulator") as emulator:
            emulator.account().clock.now()
        assert (tmp_path / "emulator" / "data" / "filelinks.db").exists()

    def test_attaches_to_a_url_without_starting_anything(self, emulator: Emulator) -> None:
        with Emulator(emulator.url) as attached:
            assert attached.pid is None
            assert attached.url == emulator.url
            attached.account().clock.now()

    def test_attaches_to_FILELINKS_URL(
        self, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("FILELINKS_URL", emulator.url + "/")
        with Emulator() as attached:
            assert (attached.pid, attached.url) == (None, emulator.url)

    def test_an_unreachable_url_is_named(self) -> None:
        url = f"http://127.0.0.1:{free_port()}"
        with pytest.raises(EmulatorError, match=rf"server at {url} is not healthy \(GET /healthz"):
            Emulator(url, startup_timeout=0.2).start()

    def test_a_crashed_server_is_reported_with_its_log(self) -> None:
        with Emulator() as emulator:
            account = emulator.account()
            assert emulator.pid is not None
            os.kill(emulator.pid, signal.SIGKILL)
            assert emulator._process is not None
            emulator._process.wait()
            with pytest.raises(EmulatorError, match=r"exited with status -9; the end of its log"):
                account.clock.now()

    def test_accounts_are_fresh(self, emulator: Emulator) -> None:
        first, second = emulator.account(), emulator.account()
        assert first.key != second.key
        assert first.key.startswith("sk_test_")


class TestAccount:
    def test_clock_methods_return_the_clocks_now(self, emulator: Emulator) -> None:
        clock = emulator.account().clock
        assert clock.freeze(1_900_000_000) == 1_900_000_000
        assert clock.advance(60) == 1_900_000_060
        assert clock.now() == 1_900_000_060
        assert abs(clock.reset() - clock.now()) <= 1
        assert clock.now() < 1_900_000_000

    def test_a_refused_control_names_the_route_and_stripes_error(self, emulator: Emulator) -> None:
        with pytest.raises(ControlError) as caught:
            emulator.account().clock.advance(-1)
        error = caught.value
        assert (error.route, error.status, error.type, error.param) == (
            "POST /_emulator/clock",
            400,
            "invalid_request_error",
            "advance",
        )
        assert str(error).startswith(
            "POST /_emulator/clock failed with 400 invalid_request_error (param: advance): "
            "The clock only moves forward"
        )

    def test_the_client_uses_the_account(self, emulator: Emulator) -> None:
        account = emulator.account()
        uploaded = account.client.v1.files.create(
            params={"purpose": "dispute_evidence", "file": io.BytesIO(samples.pdf())}
        )
        link = account.client.v1.file_links.create(params={"file": uploaded.id})
        assert link.url.startswith(emulator.url + "/links/")
        other = emulator.account()
        with pytest.raises(stripe.InvalidRequestError):
            other.client.v1.file_links.retrieve(link.id)

    def test_requests_are_newest_first_and_all_pages_are_read(self, emulator: Emulator) -> None:
        account = emulator.account()
        for limit in range(1, 13):
            account.client.v1.files.list(params={"limit": limit})
        entries = account.requests(method="GET", path="/v1/files")
        assert [entry["query"] for entry in entries] == [
            f"limit={limit}" for limit in range(12, 0, -1)
        ]
        assert len(account.requests(limit=5)) == 5

    def test_requests_filters_use_stripes_encoding(self, emulator: Emulator) -> None:
        account = emulator.account()
        now = account.clock.freeze(1_900_000_000)
        account.client.v1.files.list()
        account.clock.advance(10)
        account.client.v1.file_links.list()
        assert [e["path"] for e in account.requests(created={"gte": now + 5})] == ["/v1/file_links"]
        assert [e["path"] for e in account.requests(status="2xx")] == [
            "/v1/file_links",
            "/v1/files",
        ]

    def test_reset_deletes_the_accounts_data(self, emulator: Emulator) -> None:
        account = emulator.account()
        account.client.v1.files.create(
            params={"purpose": "dispute_evidence", "file": io.BytesIO(samples.pdf())}
        )
        account.clock.freeze(1_900_000_000)
        account.reset()
        assert account.clock.now() < 1_900_000_000
        assert account.client.v1.files.list().data == []
        assert account.requests(path="/v1/files", method="POST") == []

    def test_stripe_globals_point_at_the_account_inside_and_are_restored(
        self, emulator: Emulator
    ) -> None:
        account = emulator.account()
        saved = (stripe.api_key, stripe.api_base, stripe.upload_api_base)
        with account.stripe_globals():
            assert (stripe.api_key, stripe.api_base, stripe.upload_api_base) == (
                account.key,
                emulator.url,
                emulator.url,
            )
            assert stripe.File.list().data == []
        assert (stripe.api_key, stripe.api_base, stripe.upload_api_base) == saved


@pytest.mark.parametrize(
    ("params", "pairs"),
    [
        ({"created": {"gte": 5, "lt": 9}}, [("created[gte]", "5"), ("created[lt]", "9")]),
        ({"reset": True, "none": None}, [("reset", "true")]),
        ({"expand": ["file"]}, [("expand[0]", "file")]),
        ({"status": 404}, [("status", "404")]),
    ],
)
def test_control_parameters_are_form_encoded_as_stripe_does(params, pairs) -> None:
    assert _form_pairs(params) == pairs
