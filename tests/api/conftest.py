from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

# The helpers assert statuses; rewritten, a failing one shows its values as in a test module.
pytest.register_assert_rewrite("tests.api.helpers")


@pytest.fixture
def anonymous(app: FastAPI) -> Iterator[TestClient]:
    """A client that sends no Authorization header at all, as a browser following a link does."""
    with TestClient(app) as test_client:
        yield test_client
