"""Property-based fuzzing of every API operation from the app's own OpenAPI document.

Schemathesis generates requests (valid and invalid) for each operation and sends them, as
admin, to the app on a fresh SQLite and a fresh PostgreSQL database. Bad input must be
answered with a 4xx problem, never a 5xx. Bounded and derandomized: the same cases run
every time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig

from shopfloor.api.app import create_app
from shopfloor.bootstrap import build_runtime
from shopfloor.platform.settings import load_settings
from tests.conftest import DATABASE_KINDS
from tests.integration.test_api_execution import Floor
from tests.support.api import TEST_SECRET, ApiClient
from tests.support.databases import DatabaseFactory


def _schema_app() -> Any:
    """An app to read the OpenAPI document from; it never touches its database."""
    settings = load_settings(database_url="sqlite:///:memory:", secret_key=TEST_SECRET, demo=False)
    return create_app(build_runtime(settings), background=False)


CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {"deterministic": True, "database": "none"},
        "phases": {
            "coverage": {"enabled": False},
            "fuzzing": {"generation": {"max-examples": 20}},
        },
    }
)
# Not fuzzed: the health and metrics endpoints, and signing in and out (they change the
# token the fuzzer uses).
schema = schemathesis.openapi.from_asgi("/openapi.json", _schema_app(), config=CONFIG).exclude(
    path_regex=r"^/(healthz|metrics)$|/auth/(login|logout)$"
)


@pytest.fixture(scope="module", params=DATABASE_KINDS)
def plant(
    request: pytest.FixtureRequest, database_factories: dict[str, DatabaseFactory]
) -> Iterator[tuple[Any, dict[str, str]]]:
    """One database of each kind per test worker with the WS-100 line and a released order
    in it, so that small ids and the plant's codes reach real rows; and admin's headers."""
    from fastapi.testclient import TestClient

    factory = database_factories[request.param]
    url = factory.new_url()
    runtime = build_runtime(
        load_settings(database_url=url, secret_key=TEST_SECRET, demo=False, site="plant-1")
    )
    app = create_app(runtime, background=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        api = ApiClient(client, runtime)
        Floor(api)
        yield app, api.as_role("admin")
    runtime.close()
    factory.drop(url)


@schema.parametrize()
@settings(
    max_examples=20,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_input_makes_the_server_fail(case: Any, plant: tuple[Any, dict[str, str]]) -> None:
    app, admin = plant
    response = case.call(app=app, headers=admin)
    case.validate_response(response, checks=[not_a_server_error])
