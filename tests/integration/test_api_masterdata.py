"""Master data through the HTTP API: the WS-100 line built by a planner, read by everyone,
with refusals that leave nothing changed."""

from __future__ import annotations

from typing import Any

from shopfloor.audit.tables import AuditEntry
from shopfloor.masterdata.tables import Bom, BomLine, Equipment, Item, UnitOfMeasure

V1 = "/api/v1"

COMPONENTS = {  # code → (per unit of WS-100, lot-tracked, tolerance %)
    "HOUSING": ("1", False, "0"),
    "BOARD": ("1", True, "0"),
    "CABLE": ("2", True, "0"),
    "FASTENER": ("8", False, "5"),
    "PACKAGING": ("1", False, "0"),
}
ROUTING = (
    (10, "assembly", "WC-ASSY", "assembly"),
    (20, "test", "WC-TEST", "testing"),
    (30, "pack", "WC-PACK", "packing"),
)


def user_headers(api: Any, username: str, roles: list[str]) -> dict[str, str]:
    """Headers of a named person (created with these roles on first use)."""
    if username not in api._tokens:
        api.add_user(username, roles, username.title())
    return {"Authorization": f"Bearer {api.token(username)}"}


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def build_plant(api: Any) -> dict[str, Any]:
    """The WS-100 line, created over HTTP by a planner: units, the equipment tree from the
    enterprise down to three work centers, skills, items, BOM B1, routing R1, quality codes,
    downtime reasons; Olga is certified for every skill, Nina for none."""

    def post(path: str, body: dict[str, Any]) -> Any:
        return ok(api.post(V1 + path, role="planner", json=body))

    post("/uoms", {"code": "pcs", "name": "pieces", "dimension": "count"})
    post("/uoms", {"code": "m", "name": "metre", "dimension": "length"})
    post("/calendars", {"code": "CAL-1", "name": "plant 1", "timezone": "Europe/Berlin"})
    tree = [
        ("ACME", "enterprise", None),
        ("SITE-1", "site", "ACME"),
        ("AREA-1", "area", "SITE-1"),
        ("LINE-1", "line", "AREA-1"),
    ] + [(center, "work_center", "LINE-1") for _, _, center, _ in ROUTING]
    for code, level, parent in tree:
        post(
            "/equipment",
            {
                "code": code,
                "name": code.lower(),
                "level": level,
                "parent_code": parent,
                "calendar_code": "CAL-1",
            },
        )
    for _, _, _, skill in ROUTING:
        post("/skills", {"code": skill, "name": skill})
    post(
        "/items",
        {
            "code": "WS-100",
            "name": "weather station",
            "uom_code": "pcs",
            "lot_tracked": True,
            "attributes": {"line": "LINE-1"},
        },
    )
    for code, (_, lot_tracked, _) in COMPONENTS.items():
        post(
            "/items",
            {"code": code, "name": code.lower(), "uom_code": "pcs", "lot_tracked": lot_tracked},
        )
    post("/items", {"code": "BOARD-B", "name": "board, second source", "uom_code": "pcs"})
    lines = [
        {
            "line_no": n * 10,
            "item_code": code,
            "quantity": per_unit,
            "uom_code": "pcs",
            "tolerance_pct": tolerance,
            "operation_no": 30 if code == "PACKAGING" else 10,
            "alternatives": [{"item_code": "BOARD-B", "ratio": "1"}] if code == "BOARD" else [],
        }
        for n, (code, (per_unit, _, tolerance)) in enumerate(COMPONENTS.items(), start=1)
    ]
    bom = post(
        "/items/WS-100/boms",
        {"version": "B1", "quantity": "1", "effective_from": "2020-01-01", "lines": lines},
    )
    routing = post(
        "/items/WS-100/routings",
        {
            "version": "R1",
            "effective_from": "2020-01-01",
            "operations": [
                {
                    "operation_no": no,
                    "name": name,
                    "work_center_code": center,
                    "setup_minutes": "10",
                    "ideal_cycle_seconds": "60",
                    "required_skill_code": skill,
                }
                for no, name, center, skill in ROUTING
            ],
        },
    )
    for code, name, kind in (
        ("defective-board", "defective board", "defect"),
        ("scrap-damaged", "damaged in handling", "scrap"),
    ):
        post("/quality-codes", {"code": code, "name": name, "kind": kind})
    post("/downtime-reasons", {"code": "material", "name": "material", "level": "category"})
    post(
        "/downtime-reasons",
        {
            "code": "waiting-for-material",
            "name": "waiting for material",
            "level": "reason",
            "parent_code": "material",
        },
    )
    user_headers(api, "olga", ["operator"])
    user_headers(api, "nina", ["operator"])
    for _, _, _, skill in ROUTING:
        post(
            "/certifications", {"username": "olga", "skill_code": skill, "valid_from": "2020-01-01"}
        )
    return {"bom": bom, "routing": routing}


def count(api: Any, table: Any) -> int:
    with api.runtime.sessions() as session:
        return session.query(table).count()


def test_planner_builds_the_line_and_everyone_reads_it(api):
    plant = build_plant(api)
    assert [line["item_code"] for line in plant["bom"]["lines"]] == list(COMPONENTS)
    assert plant["bom"]["lines"][1]["alternatives"] == [{"item_code": "BOARD-B", "ratio": "1"}]
    assert plant["routing"]["operations"][0]["required_skill_code"] == "assembly"

    tree = ok(api.get(f"{V1}/equipment", role="operator"))
    assert [node["code"] for node in tree] == ["ACME"]
    line = tree[0]["children"][0]["children"][0]["children"][0]
    assert line["code"] == "LINE-1"
    assert [c["code"] for c in line["children"]] == ["WC-ASSY", "WC-PACK", "WC-TEST"]
    centers = ok(api.get(f"{V1}/work-centers", role="integration"))
    assert {c["code"] for c in centers} == {"WC-ASSY", "WC-PACK", "WC-TEST"}
    assert all(c["parent_code"] == "LINE-1" for c in centers)

    item = ok(api.get(f"{V1}/items/WS-100", role="quality"))
    assert item == {
        "code": "WS-100",
        "name": "weather station",
        "uom_code": "pcs",
        "lot_tracked": True,
        "serial_tracked": False,
        "erp_version": None,
        "attributes": {"line": "LINE-1"},
    }
    assert len(ok(api.get(f"{V1}/items", role="supervisor"))) == 7
    boms = ok(api.get(f"{V1}/items/WS-100/boms", role="operator"))
    assert [b["version"] for b in boms] == ["B1"] and len(boms[0]["lines"]) == 5
    routings = ok(api.get(f"{V1}/items/WS-100/routings", role="operator"))
    assert [op["work_center_code"] for op in routings[0]["operations"]] == [
        "WC-ASSY",
        "WC-TEST",
        "WC-PACK",
    ]
    reasons = ok(api.get(f"{V1}/downtime-reasons", role="operator"))
    assert reasons[0]["children"][0]["code"] == "waiting-for-material"
    assert {q["code"] for q in ok(api.get(f"{V1}/quality-codes?kind=scrap"))} == {"scrap-damaged"}
    assert [c["timezone"] for c in ok(api.get(f"{V1}/calendars"))] == ["Europe/Berlin"]


def test_certifications_are_listed_and_revoked_with_a_reason(api):
    build_plant(api)
    olga = user_headers(api, "olga", ["operator"])
    me = ok(api.client.get(f"{V1}/auth/me", headers=olga))
    certificates = ok(api.get(f"{V1}/users/{me['user_id']}/certifications", role="operator"))
    assert {c["skill_code"] for c in certificates} == {"assembly", "packing", "testing"}
    assert all(c["valid_today"] for c in certificates)
    assembly = next(c for c in certificates if c["skill_code"] == "assembly")

    no_reason = api.post(
        f"{V1}/certifications/{assembly['id']}/revoke", role="planner", json={"reason": ""}
    )
    assert no_reason.status_code == 422
    revoked = ok(
        api.post(
            f"{V1}/certifications/{assembly['id']}/revoke",
            role="planner",
            json={"reason": "failed the re-assessment"},
        )
    )
    assert [(c["skill_code"], c["revoked"], c["valid_today"]) for c in revoked] == [
        ("assembly", True, False)
    ]
    again = ok(
        api.post(
            f"{V1}/certifications/{assembly['id']}/revoke",
            role="planner",
            json={"reason": "failed the re-assessment"},
        )
    )
    assert again == []
    assert (
        api.post(
            f"{V1}/certifications/999999/revoke", role="planner", json={"reason": "no such thing"}
        ).status_code
        == 404
    )
    assert api.get(f"{V1}/users/999999/certifications").status_code == 404


def test_shifts_and_crews(api):
    build_plant(api)
    shift = ok(
        api.post(
            f"{V1}/shifts",
            role="planner",
            json={
                "calendar_code": "CAL-1",
                "code": "EARLY",
                "name": "early shift",
                "starts_at": "06:00:00",
                "minutes": 480,
                "weekdays": [0, 1, 2, 3, 4],
                "breaks": [{"name": "lunch", "offset_minutes": 240, "minutes": 30}],
            },
        )
    )
    assert shift["breaks"] == [{"name": "lunch", "offset_minutes": 240, "minutes": 30}]
    crew = ok(
        api.post(
            f"{V1}/crews",
            role="planner",
            json={
                "code": "CREW-A",
                "name": "crew A",
                "shift_code": "EARLY",
                "members": ["olga", "nina"],
            },
        )
    )
    assert crew == {
        "code": "CREW-A",
        "name": "crew A",
        "calendar_code": "CAL-1",
        "shift_code": "EARLY",
        "members": ["nina", "olga"],
    }
    assert ok(api.get(f"{V1}/shifts?calendar_code=CAL-1"))[0]["code"] == "EARLY"
    assert ok(api.get(f"{V1}/crews", role="operator"))[0]["members"] == ["nina", "olga"]
    overlapping = api.post(
        f"{V1}/shifts",
        role="planner",
        json={
            "calendar_code": "CAL-1",
            "code": "LATE",
            "name": "late",
            "starts_at": "14:00:00",
            "minutes": 480,
            "weekdays": [0],
            "breaks": [
                {"name": "a", "offset_minutes": 60, "minutes": 30},
                {"name": "b", "offset_minutes": 70, "minutes": 30},
            ],
        },
    )
    assert overlapping.status_code == 422 and "overlaps" in overlapping.json()["detail"]


def test_the_same_record_again_changes_nothing(api):
    body = {"code": "kg", "name": "kilogram", "dimension": "mass"}
    first = ok(api.post(f"{V1}/uoms", role="planner", json=body))
    again = ok(api.post(f"{V1}/uoms", role="planner", json=body))
    assert first == again
    with api.runtime.sessions() as session:
        assert session.query(AuditEntry).filter_by(entity_type="uom").count() == 1
    renamed = ok(api.post(f"{V1}/uoms", role="planner", json={**body, "name": "kilo"}))
    assert renamed["name"] == "kilo"
    with api.runtime.sessions() as session:
        changed = session.query(AuditEntry).filter_by(action="uom.changed").one()
        assert changed.old_value == {"name": "kilogram"}


def test_refusals_are_problems_and_change_nothing(api):
    build_plant(api)
    api.as_role("operator"), api.as_role("admin")  # a new user is audited: add them first
    before = {t: count(api, t) for t in (Equipment, Item, Bom, BomLine, UnitOfMeasure)}
    audit_before = count(api, AuditEntry)

    wrong_level = api.post(
        f"{V1}/equipment",
        role="planner",
        json={"code": "WC-X", "name": "x", "level": "work_center", "parent_code": "AREA-1"},
    )
    assert wrong_level.status_code == 422
    assert wrong_level.headers["content-type"] == "application/problem+json"
    assert "must sit under a line" in wrong_level.json()["detail"]

    changed_bom = api.post(
        f"{V1}/items/WS-100/boms",
        role="planner",
        json={
            "version": "B1",
            "effective_from": "2020-01-01",
            "lines": [{"line_no": 10, "item_code": "HOUSING", "quantity": "2", "uom_code": "pcs"}],
        },
    )
    assert changed_bom.status_code == 409 and "new version" in changed_bom.json()["detail"]

    unknown_unit = api.post(
        f"{V1}/items", role="planner", json={"code": "NEW", "name": "new", "uom_code": "furlong"}
    )
    assert unknown_unit.status_code == 404

    for bad in (
        {"code": "kg", "name": "kilogram", "dimension": "weight"},  # not a dimension
        {"code": "kg", "name": "kilo\x00gram", "dimension": "mass"},  # NUL
        {"code": "k" * 17, "name": "kilogram", "dimension": "mass"},  # longer than the column
        {"code": "kg", "name": "kilogram", "dimension": "mass", "colour": "red"},  # unknown
    ):
        response = api.post(f"{V1}/uoms", role="planner", json=bad)
        assert response.status_code == 422, bad
        assert response.json()["type"].endswith("/invalid-request")
    negative = api.post(
        f"{V1}/uom-conversions",
        role="planner",
        json={"from_uom": "m", "to_uom": "pcs", "factor": "-1"},
    )
    assert negative.status_code == 422 and negative.json()["errors"][0]["field"] == "factor"
    too_long = api.get(f"{V1}/items/{'X' * 65}")
    assert too_long.status_code == 422

    assert (
        api.post(
            f"{V1}/items", role="operator", json={"code": "NEW", "name": "new", "uom_code": "pcs"}
        ).status_code
        == 403
    )
    assert api.client.get(f"{V1}/items").status_code == 401
    assert {t: count(api, t) for t in before} == before
    assert count(api, AuditEntry) == audit_before
