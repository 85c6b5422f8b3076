"""Property-based fuzzing of every API operation from the app's own OpenAPI document.

Schemathesis generates requests (valid and invalid) for each operation and sends them, as
admin, to the app on a fresh SQLite and a fresh PostgreSQL database. Bad input must be
answered with a 4xx problem, never a 5xx. Bounded and derandomized: the same cases run
every time.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error

from shopfloor.api.app import create_app
from shopfloor.bootstrap import build_runtime
from shopfloor.platform.settings import load_settings
from tests.support.api import TEST_SECRET


def _schema_app() -> Any:
    """An app to read the OpenAPI document from; it never touches its database."""
    settings = load_settings(database_url="sqlite:///:memory:", secret_key=TEST_SECRET, demo=False)
    return create_app(build_runtime(settings), background=False)


schema = schemathesis.openapi.from_asgi("/openapi.json", _schema_app()).exclude(
    path_regex=r"^/(healthz|metrics)$|/auth/(login|logout)$"
)


@pytest.fixture
def admin(api: Any) -> dict[str, str]:
    return api.as_role("admin")


@schema.parametrize()
@settings(
    max_examples=15,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_input_makes_the_server_fail(case: Any, api: Any, admin: dict[str, str]) -> None:
    response = case.call(app=api.client.app, headers=admin)
    case.validate_response(response, checks=[not_a_server_error])
