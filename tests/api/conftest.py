from __future__ import annotations

import pytest

# The helpers assert statuses; rewritten, a failing one shows its values as in a test module.
pytest.register_assert_rewrite("tests.api.helpers")
