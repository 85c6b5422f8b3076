"""Every route of the API against every role, and without a token.

Without a token every route answers 401. A role the route's RoleCheck does not allow gets
403 and never a success; an allowed role never gets 401 or 403 (a 404 or 422 for the
made-up ids and empty bodies used here is fine). A new route without a role check fails
`test_every_route_declares_its_roles`.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi.routing import APIRoute

from shopfloor.api.app import API_PREFIX
from shopfloor.api.deps import RoleCheck
from shopfloor.identity.domain import ROLES

# Routes any signed-in person may call: they concern only the caller's own session.
LOGOUT = f"{API_PREFIX}/auth/logout"
SIGNED_IN_ONLY = {f"{API_PREFIX}/auth/me", LOGOUT}
PUBLIC = {f"{API_PREFIX}/auth/login"}


def _routes_with_paths(app: Any) -> list[tuple[Any, str]]:
    """Each route with its full path (FastAPI ≥ 0.16x includes routers lazily)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: included routes are plain APIRoutes
        return [(route, getattr(route, "path", "")) for route in app.routes]
    return [(c.original_route, c.path or "") for c in iter_route_contexts(app.routes)]


def api_routes(app: Any) -> list[tuple[str, str, APIRoute]]:
    """(method, path, route) of every API route except sign-in."""
    found = []
    for route, path in _routes_with_paths(app):
        if not isinstance(route, APIRoute) or not path.startswith(API_PREFIX):
            continue
        if path in PUBLIC:
            continue
        found.extend((method, path, route) for method in sorted(route.methods))
    return found


def role_checks(route: APIRoute) -> list[RoleCheck]:
    found: list[RoleCheck] = []

    def walk(dependant: Any) -> None:
        for sub in dependant.dependencies:
            if isinstance(sub.call, RoleCheck):
                found.append(sub.call)
            walk(sub)

    walk(route.dependant)
    return found


def concrete(path: str) -> str:
    """The path with made-up values: ids that name nothing, codes that exist nowhere."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return "999999" if name.endswith("id") else "NOPE"

    return re.sub(r"\{([a-z_]+)\}", value, path)


def call(api: Any, method: str, path: str, headers: dict[str, str]) -> Any:
    if method == "GET":
        return api.client.get(path, headers=headers)
    return api.client.request(method, path, json={}, headers=headers)


def test_every_route_declares_its_roles(api):
    missing = [
        f"{method} {path}"
        for method, path, route in api_routes(api.client.app)
        if path not in SIGNED_IN_ONLY and not role_checks(route)
    ]
    assert missing == [], "routes without require(...)"
    assert len(api_routes(api.client.app)) > 40


def test_without_a_token_every_route_is_401(api):
    wrong = []
    for method, path, _ in api_routes(api.client.app):
        response = call(api, method, concrete(path), {})
        if response.status_code != 401:
            wrong.append(f"{method} {path}: {response.status_code}")
        elif response.headers["content-type"] != "application/problem+json":
            wrong.append(f"{method} {path}: not a problem")
    assert wrong == []


def test_each_role_gets_exactly_what_the_route_allows(api):
    headers = {role: api.as_role(role) for role in ROLES}
    wrong = []
    for method, path, route in api_routes(api.client.app):
        if path == LOGOUT:
            continue  # ends the session these requests use; checked last
        checks = role_checks(route)
        for role in ROLES:
            allowed = role == "admin" or all(role in check.roles for check in checks)
            response = call(api, method, concrete(path), headers[role])
            status = response.status_code
            if allowed and status in (401, 403):
                wrong.append(f"{method} {path} as {role}: {status}, but the role is allowed")
            if not allowed and status != 403:
                wrong.append(f"{method} {path} as {role}: {status}, but the role is not allowed")
            if status >= 500:
                wrong.append(f"{method} {path} as {role}: {status} {response.text[:200]}")
    assert wrong == []
    for role in ROLES:
        assert api.client.post(LOGOUT, headers=headers[role]).status_code == 204
