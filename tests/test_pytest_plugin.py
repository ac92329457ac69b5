"""The pytest plugin as its users run it: small suites in a pytest subprocess (pytester), the
plugin loaded through the package's pytest11 entry point, every warning an error."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from filelinks_api.testing import Emulator
from tests.test_testing import gone

pytest_plugins = ["pytester"]

INI = """\
[pytest]
asyncio_default_fixture_loop_scope = function
filterwarnings =
    error
    # stripe-python's async HTTPX client passes bytes as data= (stripe 16.1, httpx 0.28)
    ignore:Use 'content=<...>' to upload raw bytes/text content.:DeprecationWarning
"""

# Each test of the inner suites records what it saw here (the inner run's cwd), so that the
# outer test can check accounts, servers and processes after the run.
RECORD = """
import os
from pathlib import Path


def record(emulator, account=None):
    seen = Path(os.environ["SEEN_DIR"])
    seen.mkdir(exist_ok=True)
    name = account.key if account is not None else "emulator"
    (seen / name).write_text(f"{emulator.pid} {emulator.url}")
"""

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture(scope="module")
def outer() -> Iterator[Emulator]:
    """A server for the inner runs that attach with FILELINKS_URL."""
    with Emulator() as running:
        yield running


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makeini(INI)
    pytester.makepyfile(record=RECORD)
    monkeypatch.setenv("SEEN_DIR", str(pytester.path / "seen"))
    monkeypatch.delenv("FILELINKS_URL", raising=False)
    return pytester


@pytest.fixture
def attached(suite: pytest.Pytester, outer: Emulator, monkeypatch) -> pytest.Pytester:
    monkeypatch.setenv("FILELINKS_URL", outer.url)
    return suite


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=180)


def seen(pytester: pytest.Pytester) -> dict[str, tuple[int | None, str]]:
    """What each inner test recorded: {key: (server pid or None, server url)}."""
    records = {}
    for path in (pytester.path / "seen").iterdir():
        pid, url = path.read_text().split()
        records[path.name] = (None if pid == "None" else int(pid), url)
    return records


def test_without_FILELINKS_URL_the_run_starts_a_server_and_stops_it(suite):
    suite.makepyfile(
        test_one="""
        import io
        import stripe
        from record import record

        def test_upload(stripe_account, filelinks_emulator):
            record(filelinks_emulator, stripe_account)
            uploaded = stripe.File.create(purpose="dispute_evidence", file=io.BytesIO(b"%PDF-1.4 x"))
            assert stripe_account.client.v1.files.retrieve(uploaded.id).size == 10
        """
    )
    result = run(suite)
    result.assert_outcomes(passed=1)
    [(pid, url)] = seen(suite).values()
    assert pid is not None
    assert url.startswith("http://127.0.0.1:")
    assert gone(pid)


@pytest.mark.parametrize("how", ["environment", "option"])
def test_with_a_url_the_run_attaches_and_starts_nothing(suite, outer, monkeypatch, how):
    suite.makepyfile(
        test_one="""
        from record import record

        def test_attached(stripe_account, filelinks_emulator):
            record(filelinks_emulator, stripe_account)
            assert filelinks_emulator.pid is None
            stripe_account.client.v1.files.list()
        """
    )
    if how == "environment":
        monkeypatch.setenv("FILELINKS_URL", outer.url)
        result = run(suite)
    else:
        result = run(suite, f"--filelinks-url={outer.url}")
    result.assert_outcomes(passed=1)
    [(pid, url)] = seen(suite).values()
    assert (pid, url) == (None, outer.url)


def test_under_xdist_each_test_gets_its_own_account_and_no_server_outlives_the_run(suite):
    suite.makepyfile(
        test_many="""
        import pytest
        import io
        import stripe
        from record import record

        @pytest.mark.parametrize("n", range(6))
        def test_fresh_account(stripe_account, filelinks_emulator, n):
            record(filelinks_emulator, stripe_account)
            assert stripe.File.list().data == []
            stripe.File.create(purpose="dispute_evidence", file=io.BytesIO(b"%PDF-1.4 x"))
            assert len(stripe_account.client.v1.files.list().data) == 1
        """
    )
    result = run(suite, "-n", "2")
    result.assert_outcomes(passed=6)
    records = seen(suite)
    assert len(records) == 6  # six distinct keys
    servers = {pid for pid, _ in records.values()}
    assert len(servers) == 2  # one per worker
    assert all(pid is not None and gone(pid) for pid in servers)


def test_an_async_test_uses_the_sdks_async_methods(attached):
    attached.makepyfile(
        test_async=f"""
        import io
        import pytest
        import stripe

        PDF = {PDF!r}

        @pytest.mark.asyncio
        async def test_create_and_list_async(stripe_account):
            client = stripe_account.client
            uploaded = await client.v1.files.create_async(
                params={{"purpose": "dispute_evidence", "file": io.BytesIO(PDF)}}
            )
            link = await client.v1.file_links.create_async(params={{"file": uploaded.id}})
            links = await client.v1.file_links.list_async()
            assert [item.id for item in links.data] == [link.id]
            # stripe-python's module-level async calls follow the globals, too
            assert (await stripe.FileLink.retrieve_async(link.id)).file == uploaded.id
        """
    )
    run(attached).assert_outcomes(passed=1)


def test_a_frozen_clock_lets_a_test_watch_a_link_expire(attached):
    attached.makepyfile(
        test_expiry=f"""
        import io
        import urllib.error
        import urllib.request
        import pytest
        import stripe

        def status(url):
            try:
                with urllib.request.urlopen(url) as response:
                    return response.status
            except urllib.error.HTTPError as error:
                error.close()
                return error.code

        def test_link_expires(stripe_account):
            now = stripe_account.clock.freeze(1_900_000_000)
            uploaded = stripe.File.create(purpose="dispute_evidence", file=io.BytesIO({PDF!r}))
            link = stripe.FileLink.create(file=uploaded.id, expires_at=now + 3600)
            assert status(link.url) == 200

            assert stripe_account.clock.advance(7200) == now + 7200

            assert stripe.FileLink.retrieve(link.id).expired is True
            assert [l.id for l in stripe.FileLink.list(expired=True)] == [link.id]
            assert status(link.url) == 404
        """
    )
    run(attached).assert_outcomes(passed=1)


def test_requests_shows_what_the_code_sent(attached):
    attached.makepyfile(
        test_log="""
        import io
        import stripe

        def test_sent(stripe_account):
            uploaded = stripe.File.create(purpose="dispute_evidence", file=io.BytesIO(b"%PDF-1.4 x"))
            stripe.FileLink.create(file=uploaded.id, metadata={"order": "6735"})
            [sent] = stripe_account.requests(path="/v1/file_links")
            assert sent["method"] == "POST"
            assert sent["request"] == {"file": uploaded.id, "metadata": {"order": "6735"}}
            assert [e["path"] for e in stripe_account.requests()] == ["/v1/file_links", "/v1/files"]
        """
    )
    run(attached).assert_outcomes(passed=1)


def test_stripes_globals_are_restored_after_each_test(attached):
    attached.makepyfile(
        test_globals="""
        import stripe

        stripe.api_key = "sk_test_before"
        BEFORE = (stripe.api_key, stripe.api_base, stripe.upload_api_base)

        def test_during(stripe_account, filelinks_emulator):
            assert stripe.api_key == stripe_account.key
            assert stripe.api_base == stripe.upload_api_base == filelinks_emulator.url

        def test_failing_during(stripe_account):
            assert stripe.api_key == "not this"

        def test_after():
            assert (stripe.api_key, stripe.api_base, stripe.upload_api_base) == BEFORE
            assert stripe.api_base == "https://api.stripe.com"
        """
    )
    result = run(attached)
    result.assert_outcomes(passed=2, failed=1)
    # the failed test names its account and where its request log is
    result.stdout.fnmatch_lines(
        ["*filelinks-api account*", "key sk_test_*: its request log is at http://*/dashboard*"]
    )


def test_a_server_that_dies_fails_the_tests_that_need_it_with_its_log(suite):
    suite.makepyfile(
        test_crash="""
        import os
        import signal

        def test_kills_it(stripe_account, filelinks_emulator):
            os.kill(filelinks_emulator.pid, signal.SIGKILL)
            filelinks_emulator._process.wait()

        def test_needs_it(stripe_account):
            pass

        def test_does_not_need_it():
            pass
        """
    )
    result = run(suite)
    result.assert_outcomes(passed=2, errors=2)  # the killer's teardown, test_needs_it's setup
    result.stdout.fnmatch_lines(["*EmulatorError: the filelinks-api server (pid *) exited*"])


def test_a_run_that_uses_no_fixture_imports_nothing_and_starts_nothing(suite):
    suite.makeconftest(
        """
        import sys

        def pytest_sessionfinish(session):
            loaded = [m for m in ("filelinks_api.testing", "stripe") if m in sys.modules]
            assert not loaded, loaded
        """
    )
    suite.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = run(suite)
    result.assert_outcomes(passed=1)
    assert "filelinks" in run(suite, "--help").stdout.str()
    assert not (suite.path / "seen").exists()


def test_the_plugin_is_registered_by_the_package():
    from importlib.metadata import entry_points

    [plugin] = [ep for ep in entry_points(group="pytest11") if ep.name == "filelinks"]
    assert plugin.value == "filelinks_api.pytest_plugin"


def test_a_fault_rule_fails_the_request_it_matches_and_clear_removes_the_rules(attached):
    # Needs the fault routes of issue 22 (POST/GET/DELETE /_emulator/faults).
    attached.makepyfile(
        test_faults="""
        import pytest
        import stripe
        from filelinks_api.testing import ControlError

        def test_fault(stripe_account):
            rule = stripe_account.faults.add(
                action="error",
                status=400,
                type="invalid_request_error",
                message="Injected by the test.",
                method="GET",
                path="/v1/file_links",
            )
            assert rule["object"] == "emulator.fault"
            assert rule["id"].startswith("fault_")
            assert (rule["times"], rule["remaining"]) == (1, 1)

            with pytest.raises(stripe.InvalidRequestError, match="Injected by the test."):
                stripe.FileLink.list()
            assert stripe.FileLink.list().data == []  # times=1: spent
            [spent] = stripe_account.faults.list()
            assert (spent["id"], spent["remaining"]) == (rule["id"], 0)
            [succeeded, failed] = stripe_account.requests(path="/v1/file_links")
            assert (succeeded["status"], failed["status"]) == (200, 400)

            second = stripe_account.faults.add(action="delay", delay_ms=1)
            stripe_account.faults.remove(second["id"])
            assert [r["id"] for r in stripe_account.faults.list()] == [rule["id"]]
            stripe_account.faults.clear()
            assert stripe_account.faults.list() == []

            stripe_account.faults.add(action="reset", when="before")
            stripe_account.reset()  # DELETE /_emulator/data removes the rules too
            assert stripe_account.faults.list() == []

        def test_a_refused_rule_names_the_route_and_the_parameter(stripe_account):
            with pytest.raises(ControlError) as refused:
                stripe_account.faults.add(action="explode")
            assert refused.value.route == "POST /_emulator/faults"
            assert (refused.value.status, refused.value.param) == (400, "action")
        """
    )
    run(attached).assert_outcomes(passed=2)
