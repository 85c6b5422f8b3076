"""The API's routers may be matched in any order: no path of one router can match a request
that a path of another router matches (the operators' commands are matched early for speed,
`api.app.ROUTERS`)."""

from __future__ import annotations

import itertools

from shopfloor.api.app import ROUTERS


def _could_match_the_same_request(one: str, other: str) -> bool:
    a, b = one.strip("/").split("/"), other.strip("/").split("/")
    return len(a) == len(b) and all(
        x == y or x.startswith("{") or y.startswith("{") for x, y in zip(a, b, strict=True)
    )


def test_no_route_of_one_router_shadows_another_router_s() -> None:
    routes = [
        (n, method, route.path)
        for n, router in enumerate(ROUTERS)
        for route in router.routes
        for method in getattr(route, "methods", None) or ()
    ]
    assert len(routes) > 80
    clashes = [
        (first[2], second[2])
        for first, second in itertools.combinations(routes, 2)
        if first[0] != second[0]
        and first[1] == second[1]
        and _could_match_the_same_request(first[2], second[2])
    ]
    assert clashes == []
