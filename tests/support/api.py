"""An API test client that signs users in by role."""

from __future__ import annotations

from typing import Any

from shopfloor.bootstrap import Runtime
from shopfloor.identity import service as identity
from shopfloor.identity.domain import ROLES
from shopfloor.kernel.context import SYSTEM

TEST_SECRET = "test-secret-0123456789abcdef"
PASSWORD = "a-long-test-password"


class ApiClient:
    """Wraps a TestClient; `as_role("operator")` gives headers of a signed-in operator."""

    def __init__(self, client: Any, runtime: Runtime) -> None:
        self.client = client
        self.runtime = runtime
        self._tokens: dict[str, str] = {}

    def add_user(self, username: str, roles: list[str], full_name: str | None = None) -> int:
        with self.runtime.unit_of_work() as uow:
            user = identity.add_user(
                uow.session,
                self.runtime.context(SYSTEM),
                username=username,
                full_name=full_name or username.title(),
                password=PASSWORD,
                roles=roles,
            )
            uow.commit()
            return user.id

    def token(self, username: str) -> str:
        if username not in self._tokens:
            response = self.client.post(
                "/api/v1/auth/login", json={"username": username, "password": PASSWORD}
            )
            assert response.status_code == 200, response.text
            self._tokens[username] = response.json()["token"]
        return self._tokens[username]

    def as_role(self, role: str) -> dict[str, str]:
        """Headers of a user holding just this role (created on first use)."""
        username = f"{role}-user"
        if username not in self._tokens:
            self.add_user(username, [role])
        return {"Authorization": f"Bearer {self.token(username)}"}

    def get(self, path: str, role: str = "admin", **kw: Any) -> Any:
        return self.client.get(path, headers={**self.as_role(role), **kw.pop("headers", {})}, **kw)

    def post(self, path: str, role: str = "admin", **kw: Any) -> Any:
        return self.client.post(path, headers={**self.as_role(role), **kw.pop("headers", {})}, **kw)


__all__ = ["PASSWORD", "ROLES", "TEST_SECRET", "ApiClient"]
