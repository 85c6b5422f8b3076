"""Master-data upserts on SQLite and PostgreSQL: idempotent, audited once, versions immutable."""

from dataclasses import replace
from datetime import date, time
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from shopfloor.audit.tables import AuditEntry
from shopfloor.identity.tables import User
from shopfloor.kernel.errors import Conflict, NotFound, RuleViolation
from shopfloor.masterdata import queries, service
from shopfloor.masterdata.domain import AlternativeSpec, BomLineSpec, BreakSpec, OperationSpec
from shopfloor.masterdata.tables import Bom, BomLine, Equipment, Item, Routing, ShiftBreak


def audit_entries(session, entity_type=None, action=None):
    stmt = select(AuditEntry).order_by(AuditEntry.id)
    if entity_type:
        stmt = stmt.where(AuditEntry.entity_type == entity_type)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    return list(session.scalars(stmt))


def count(session, table):
    return session.scalar(select(func.count()).select_from(table))


def add_user(session, ctx, username):
    user = User(
        username=username,
        full_name=username.title(),
        password_hash="-",
        roles=["operator"],
        active=True,
        failed_attempts=0,
        created_at=ctx.now,
    )
    session.add(user)
    session.flush()
    return user


def units_and_items(session, ctx):
    service.upsert_uom(session, ctx, code="pcs", name="piece", dimension="count")
    service.upsert_uom(session, ctx, code="kg", name="kilogram", dimension="mass")
    service.upsert_uom(session, ctx, code="g", name="gram", dimension="mass")
    service.upsert_uom(session, ctx, code="box", name="box", dimension="count")
    for code in ("WS-100", "HOUSING", "BOARD", "CABLE", "CABLE-B"):
        service.upsert_item(session, ctx, code=code, name=code.title(), uom_code="pcs")


def plant_tree(session, ctx):
    service.upsert_equipment(session, ctx, code="ACME", name="Acme", level="enterprise")
    service.upsert_equipment(
        session, ctx, code="P1", name="Plant 1", level="site", parent_code="ACME"
    )
    service.upsert_equipment(
        session, ctx, code="A1", name="Assembly", level="area", parent_code="P1"
    )
    service.upsert_equipment(session, ctx, code="L1", name="Line 1", level="line", parent_code="A1")
    for code in ("ASSY", "TEST"):
        service.upsert_equipment(
            session, ctx, code=code, name=code.title(), level="work_center", parent_code="L1"
        )
    service.upsert_equipment(
        session,
        ctx,
        code="SCREWDRIVER-1",
        name="Screwdriver",
        level="equipment",
        parent_code="ASSY",
    )


BOM_V1 = [
    BomLineSpec(1, "HOUSING", D(1), "pcs", operation_no=10),
    BomLineSpec(2, "BOARD", D(1), "pcs", D(0), 10),
    BomLineSpec(3, "CABLE", D(2), "pcs", D(5), 10, (AlternativeSpec("CABLE-B", D("1.5")),)),
]


def bom_v1(session, ctx, lines=BOM_V1, version="1"):
    return service.upsert_bom_version(
        session,
        ctx,
        item_code="WS-100",
        version=version,
        quantity=D(1),
        effective_from=date(2026, 1, 1),
        lines=lines,
    )


# --- units and conversions -----------------------------------------------------------------


def test_uom_upsert_is_idempotent_and_audits_only_changes(session, ctx):
    first = service.upsert_uom(session, ctx, code="pcs", name="piece", dimension="count")
    again = service.upsert_uom(session, ctx, code="pcs", name="piece", dimension="count")
    assert again.id == first.id
    assert [e.action for e in audit_entries(session, "uom")] == ["uom.created"]

    service.upsert_uom(session, ctx, code="pcs", name="pieces", dimension="count")
    session.commit()
    entries = audit_entries(session, "uom")
    assert [e.action for e in entries] == ["uom.created", "uom.changed"]
    assert entries[1].old_value == {"name": "piece"}
    assert entries[1].new_value == {"name": "pieces"}
    assert queries.uom_by_code(session, "pcs").name == "pieces"
    with pytest.raises(RuleViolation, match="'colour' is not a dimension"):
        service.upsert_uom(session, ctx, code="red", name="red", dimension="colour")


def test_conversions_generic_item_specific_and_refusals(session, ctx):
    units_and_items(session, ctx)
    service.upsert_uom_conversion(session, ctx, from_uom_code="kg", to_uom_code="g", factor=D(1000))
    service.upsert_uom_conversion(session, ctx, from_uom_code="kg", to_uom_code="g", factor=D(1000))
    service.upsert_uom_conversion(
        session, ctx, from_uom_code="box", to_uom_code="pcs", factor=D(10)
    )
    service.upsert_uom_conversion(
        session, ctx, from_uom_code="box", to_uom_code="pcs", factor=D(12), item_code="CABLE"
    )
    assert len(audit_entries(session, "uom_conversion")) == 3
    cable = queries.item_by_code(session, "CABLE")
    assert queries.convert_quantity(session, D(500), "g", "kg") == D("0.5")
    assert queries.convert_quantity(session, D(2), "box", "pcs") == D(20)
    assert queries.convert_quantity(session, D(2), "box", "pcs", item_id=cable.id) == D(24)
    assert queries.convert_quantity(session, D(6), "pcs", "box", item_id=cable.id) == D("0.5")

    with pytest.raises(Conflict, match="recorded as kg → g; change that one"):
        service.upsert_uom_conversion(
            session, ctx, from_uom_code="g", to_uom_code="kg", factor=D("0.001")
        )
    with pytest.raises(RuleViolation, match="kg measures mass and pcs measures count"):
        service.upsert_uom_conversion(
            session, ctx, from_uom_code="kg", to_uom_code="pcs", factor=D(4)
        )
    with pytest.raises(RuleViolation, match="different dimensions"):
        queries.convert_quantity(session, D(1), "kg", "pcs")
    with pytest.raises(NotFound, match="no unit of measure with code 'lb'"):
        queries.convert_quantity(session, D(1), "lb", "kg")

    service.upsert_uom_conversion(
        session, ctx, from_uom_code="box", to_uom_code="pcs", factor=D(10), item_code="CABLE"
    )
    change = audit_entries(session, "uom_conversion", "uom_conversion.changed")
    assert [(e.old_value, e.new_value) for e in change] == [
        ({"factor": "12.000000"}, {"factor": "10.000000"})
    ]
    with pytest.raises(Conflict, match="used by conversions"):
        service.upsert_uom(session, ctx, code="kg", name="kilogram", dimension="count")


# --- equipment -----------------------------------------------------------------------------


def test_equipment_hierarchy_tree_and_level_rules(session, ctx):
    plant_tree(session, ctx)
    plant_tree(session, ctx)  # idempotent
    assert count(session, Equipment) == 7
    assert len(audit_entries(session, "equipment")) == 7

    (acme,) = queries.equipment_tree(session)
    line = acme.children[0].children[0].children[0]
    assert (acme.code, line.code, line.level) == ("ACME", "L1", "line")
    assert [wc.code for wc in line.children] == ["ASSY", "TEST"]
    assert line.children[0].children[0].code == "SCREWDRIVER-1"
    centers = queries.list_work_centers(session)
    assert [(wc.code, wc.parent_code, len(wc.children)) for wc in centers] == [
        ("ASSY", "L1", 1),
        ("TEST", "L1", 0),
    ]

    with pytest.raises(
        RuleViolation, match="a work_center must sit under a line, not under an area"
    ):
        service.upsert_equipment(
            session, ctx, code="X", name="X", level="work_center", parent_code="A1"
        )
    with pytest.raises(RuleViolation, match="an enterprise is the top"):
        service.upsert_equipment(
            session, ctx, code="X", name="X", level="enterprise", parent_code="ACME"
        )
    with pytest.raises(Conflict, match="ASSY has equipment below it"):
        service.upsert_equipment(
            session, ctx, code="ASSY", name="Assy", level="line", parent_code="A1"
        )
    with pytest.raises(NotFound, match="no shift calendar with code 'NONE'"):
        service.upsert_equipment(
            session,
            ctx,
            code="TEST",
            name="Test",
            level="work_center",
            parent_code="L1",
            calendar_code="NONE",
        )


def test_equipment_move_and_calendar_are_audited_in_plant_codes(session, ctx):
    plant_tree(session, ctx)
    service.upsert_shift_calendar(
        session, ctx, code="STD", name="Standard", timezone="Europe/Berlin"
    )
    service.upsert_equipment(session, ctx, code="L2", name="Line 2", level="line", parent_code="A1")
    service.upsert_equipment(
        session,
        ctx,
        code="TEST",
        name="Test bench",
        level="work_center",
        parent_code="L2",
        calendar_code="STD",
    )
    (changed,) = audit_entries(session, "equipment", "equipment.changed")
    assert changed.old_value == {"name": "Test", "parent": "L1", "calendar": None}
    assert changed.new_value == {"name": "Test bench", "parent": "L2", "calendar": "STD"}


# --- items -----------------------------------------------------------------------------------


def test_item_upsert_idempotent_with_local_attributes(session, ctx):
    units_and_items(session, ctx)
    before = queries.item_by_code(session, "WS-100").updated_at
    service.upsert_item(session, ctx, code="WS-100", name="Ws-100", uom_code="pcs")
    assert len(audit_entries(session, "item")) == 5

    later = replace(ctx, now=ctx.now.replace(hour=9))
    item = service.upsert_item(
        session,
        later,
        code="WS-100",
        name="Ws-100",
        uom_code="pcs",
        lot_tracked=False,
        serial_tracked=True,
        erp_version="7",
        attributes={"label_template": "WS"},
    )
    assert item.updated_at > before
    (changed,) = audit_entries(session, "item", "item.changed")
    assert changed.old_value == {"serial_tracked": False, "erp_version": None, "attributes": {}}
    assert changed.new_value == {
        "serial_tracked": True,
        "erp_version": "7",
        "attributes": {"label_template": "WS"},
    }
    listed = {i.code: i for i in queries.list_items(session)}
    assert listed["WS-100"].attributes == {"label_template": "WS"}
    assert listed["WS-100"].uom_code == "pcs"
    with pytest.raises(NotFound, match="no unit of measure with code 'ea'"):
        service.upsert_item(session, ctx, code="X", name="X", uom_code="ea")


# --- BOM and routing versions -----------------------------------------------------------------


def test_bom_version_is_immutable_and_a_new_version_is_a_new_row(session, ctx):
    units_and_items(session, ctx)
    v1 = bom_v1(session, ctx)
    again = bom_v1(session, ctx, lines=list(reversed(BOM_V1)))  # same content, other order
    assert again.id == v1.id
    assert len(audit_entries(session, "bom")) == 1

    changed = [*BOM_V1[:2], BomLineSpec(3, "CABLE", D(3), "pcs", D(5), 10)]
    with pytest.raises(Conflict, match="BOM 1 of WS-100 is already recorded with a different"):
        bom_v1(session, ctx, lines=changed)

    v2 = service.upsert_bom_version(
        session,
        ctx,
        item_code="WS-100",
        version="2",
        quantity=D(1),
        effective_from=date(2026, 4, 1),
        lines=changed,
    )
    session.commit()
    assert v2.id != v1.id
    old_lines = queries.bom_lines(session, v1.id)
    assert [(line.item_code, line.quantity) for line in old_lines] == [
        ("HOUSING", D(1)),
        ("BOARD", D(1)),
        ("CABLE", D(2)),
    ]
    assert old_lines[2].alternatives[0].item_code == "CABLE-B"
    assert old_lines[2].alternatives[0].ratio == D("1.5")
    assert queries.bom_lines(session, v2.id)[2].quantity == D(3)
    assert queries.effective_bom(session, "WS-100", date(2026, 3, 31)).version == "1"
    assert queries.effective_bom(session, "WS-100", date(2026, 4, 1)).version == "2"
    assert queries.bom_of_version(session, "WS-100", "1").id == v1.id
    assert [b.version for b in queries.bom_versions(session, "WS-100")] == ["1", "2"]
    with pytest.raises(NotFound, match="no BOM version of item WS-100 is effective on 2025-12-31"):
        queries.effective_bom(session, "WS-100", date(2025, 12, 31))
    with pytest.raises(NotFound, match="no BOM version 9 of item WS-100"):
        queries.bom_of_version(session, "WS-100", "9")


def test_bom_end_dating_moves_only_the_window_and_is_audited(session, ctx):
    units_and_items(session, ctx)
    v1 = bom_v1(session, ctx)
    service.upsert_bom_version(
        session,
        ctx,
        item_code="WS-100",
        version="1",
        quantity=D(1),
        effective_from=date(2026, 1, 1),
        effective_to=date(2026, 3, 31),
        lines=BOM_V1,
    )
    (moved,) = audit_entries(session, "bom", "bom.changed")
    assert moved.entity_id == str(v1.id)
    assert moved.old_value == {"effective_to": None}
    assert moved.new_value == {"effective_to": "2026-03-31"}
    with pytest.raises(NotFound):
        queries.effective_bom(session, "WS-100", date(2026, 4, 1))


def test_refused_bom_leaves_nothing_behind(session, ctx):
    units_and_items(session, ctx)
    session.commit()
    entries_before = count(session, AuditEntry)
    lines = [*BOM_V1, BomLineSpec(4, "GHOST", D(1), "pcs")]
    with pytest.raises(NotFound, match="no item with code 'GHOST'"):
        bom_v1(session, ctx, lines=lines)
    session.rollback()
    assert count(session, Bom) == 0
    assert count(session, BomLine) == 0
    assert count(session, AuditEntry) == entries_before


ROUTING_V1 = [
    OperationSpec(10, "assembly", "ASSY", D(15), D(60), "SOLDER"),
    OperationSpec(20, "test", "TEST", D(5), D(30)),
]


def test_routing_version_immutable_and_work_center_checked(session, ctx):
    units_and_items(session, ctx)
    plant_tree(session, ctx)
    service.upsert_skill(session, ctx, code="SOLDER", name="Soldering")

    def record(version, operations, effective_from=date(2026, 1, 1)):
        return service.upsert_routing_version(
            session,
            ctx,
            item_code="WS-100",
            version=version,
            effective_from=effective_from,
            operations=operations,
        )

    r1 = record("1", ROUTING_V1)
    assert record("1", list(reversed(ROUTING_V1))).id == r1.id
    assert len(audit_entries(session, "routing")) == 1
    with pytest.raises(Conflict, match="routing 1 of WS-100 is already recorded with different"):
        record("1", [ROUTING_V1[0], OperationSpec(20, "test", "TEST", D(5), D(45))])
    r2 = record("2", [*ROUTING_V1, OperationSpec(30, "pack", "TEST")], date(2026, 3, 1))
    ops = queries.routing_operations(session, r1.id)
    assert [(op.operation_no, op.work_center_code, op.required_skill_code) for op in ops] == [
        (10, "ASSY", "SOLDER"),
        (20, "TEST", None),
    ]
    assert len(queries.routing_operations(session, r2.id)) == 3
    assert queries.effective_routing(session, "WS-100", date(2026, 3, 2)).id == r2.id
    assert queries.routing_of_version(session, "WS-100", "1").id == r1.id
    with pytest.raises(RuleViolation, match="must run at a work center; L1 is a line"):
        record("3", [OperationSpec(10, "x", "L1")])
    session.rollback()
    assert count(session, Routing) == 0


# --- skills and certifications ----------------------------------------------------------------


def test_certification_grant_extend_revoke(session, ctx):
    ada = add_user(session, ctx, "ada")
    skill = service.upsert_skill(session, ctx, code="SOLDER", name="Soldering")
    service.upsert_skill(session, ctx, code="SOLDER", name="Soldering")
    assert len(audit_entries(session, "skill")) == 1

    def grant(expires_on):
        return service.grant_certification(
            session,
            ctx,
            username="ada",
            skill_code="SOLDER",
            valid_from=date(2026, 1, 1),
            expires_on=expires_on,
        )

    cert = grant(date(2026, 6, 30))
    assert grant(date(2026, 6, 30)).id == cert.id
    assert len(audit_entries(session, "certification")) == 1
    grant(date(2026, 12, 31))
    (extended,) = audit_entries(session, "certification", "certification.changed")
    assert extended.old_value == {"expires_on": "2026-06-30"}
    assert queries.is_qualified(session, ada.id, skill.id, date(2026, 9, 1))

    with pytest.raises(RuleViolation, match="needs a reason"):
        service.revoke_certification(session, ctx, username="ada", skill_code="SOLDER", reason=" ")
    revoked = service.revoke_certification(
        session, ctx, user_id=ada.id, skill_code="SOLDER", reason="failed re-test"
    )
    assert [c.id for c in revoked] == [cert.id]
    again = service.revoke_certification(
        session, ctx, username="ada", skill_code="SOLDER", reason="again"
    )
    assert again == []
    (entry,) = audit_entries(session, "certification", "certification.revoked")
    assert entry.reason == "failed re-test"
    assert not queries.is_qualified(session, ada.id, skill.id, date(2026, 9, 1))
    with pytest.raises(Conflict, match="was revoked; grant it again with a new start date"):
        grant(None)
    service.grant_certification(
        session, ctx, username="ada", skill_code="SOLDER", valid_from=date(2026, 9, 1)
    )
    listed = queries.certifications_of(session, ada.id, on=date(2026, 9, 2))
    assert [(c.valid_from, c.revoked, c.valid_on_date) for c in listed] == [
        (date(2026, 9, 1), False, True),
        (date(2026, 1, 1), True, False),
    ]
    with pytest.raises(NotFound, match="no user bob"):
        service.grant_certification(
            session, ctx, username="bob", skill_code="SOLDER", valid_from=date(2026, 1, 1)
        )
    service.upsert_skill(session, ctx, code="TEST", name="Testing")
    with pytest.raises(NotFound, match="holds no certification for skill TEST"):
        service.revoke_certification(session, ctx, username="ada", skill_code="TEST", reason="x")


# --- calendars, shifts and crews ---------------------------------------------------------------

BREAKS = [BreakSpec("lunch", 240, 30), BreakSpec("tea", 120, 15)]


def shift(session, ctx, breaks=BREAKS, name="Early"):
    return service.upsert_shift(
        session,
        ctx,
        calendar_code="STD",
        code="EARLY",
        name=name,
        starts_at=time(6),
        minutes=480,
        weekdays=[4, 3, 2, 1, 0],
        breaks=breaks,
    )


def test_shift_with_breaks_is_idempotent_and_breaks_stay_inside(session, ctx):
    service.upsert_shift_calendar(
        session, ctx, code="STD", name="Standard", timezone="Europe/Berlin"
    )
    first = shift(session, ctx)
    assert shift(session, ctx, breaks=list(reversed(BREAKS))).id == first.id
    assert len(audit_entries(session, "shift")) == 1
    shift(session, ctx, breaks=[BreakSpec("lunch", 240, 45)])
    (changed,) = audit_entries(session, "shift", "shift.changed")
    assert changed.new_value == {
        "breaks": [{"name": "lunch", "offset_minutes": 240, "minutes": 45}]
    }
    assert count(session, ShiftBreak) == 1
    (listed,) = queries.list_shifts(session, "STD")
    assert (listed.timezone, listed.weekdays, listed.starts_at) == (
        "Europe/Berlin",
        (0, 1, 2, 3, 4),
        time(6),
    )
    assert listed.breaks == (BreakSpec("lunch", 240, 45),)
    with pytest.raises(RuleViolation, match="break 'late' ends 490 minutes in"):
        shift(session, ctx, breaks=[BreakSpec("late", 460, 30)])
    with pytest.raises(RuleViolation, match="not a known time zone"):
        service.upsert_shift_calendar(session, ctx, code="X", name="X", timezone="Nowhere/Town")


def test_crew_members_are_replaced_and_listed(session, ctx):
    for name in ("ada", "bob", "cy"):
        add_user(session, ctx, name)
    service.upsert_shift_calendar(session, ctx, code="STD", name="Standard")
    shift(session, ctx)
    crew = service.upsert_crew(
        session, ctx, code="A", name="Crew A", shift_code="EARLY", members=["bob", "ada"]
    )
    service.upsert_crew(
        session, ctx, code="A", name="Crew A", shift_code="EARLY", members=["ada", "bob"]
    )
    assert len(audit_entries(session, "crew")) == 1
    service.upsert_crew(
        session,
        ctx,
        code="A",
        name="Crew A",
        shift_code="EARLY",
        calendar_code="STD",
        members=["ada", "cy"],
    )
    (changed,) = audit_entries(session, "crew", "crew.changed")
    assert changed.entity_id == str(crew.id)
    assert (changed.old_value, changed.new_value) == (
        {"members": ["ada", "bob"]},
        {"members": ["ada", "cy"]},
    )
    (listed,) = queries.list_crews(session)
    assert (listed.shift_code, listed.calendar_code, listed.members) == (
        "EARLY",
        "STD",
        ("ada", "cy"),
    )
    with pytest.raises(NotFound, match="no user zed"):
        service.upsert_crew(session, ctx, code="B", name="B", members=["zed"])


# --- downtime reasons and quality codes ------------------------------------------------------


def test_reason_tree(session, ctx):
    service.upsert_downtime_reason(session, ctx, code="MAT", name="Material", level="category")
    service.upsert_downtime_reason(
        session,
        ctx,
        code="WAIT-MAT",
        name="Waiting for material",
        level="reason",
        parent_code="MAT",
    )
    service.upsert_downtime_reason(
        session, ctx, code="WAIT-CABLE", name="Cable", level="detail", parent_code="WAIT-MAT"
    )
    service.upsert_downtime_reason(
        session,
        ctx,
        code="WAIT-MAT",
        name="Waiting for material",
        level="reason",
        parent_code="MAT",
    )
    service.upsert_downtime_reason(
        session, ctx, code="PLAN", name="Planned", level="category", planned=True
    )
    assert len(audit_entries(session, "downtime_reason")) == 4
    tree = queries.reason_tree(session)
    assert [(n.code, n.planned) for n in tree] == [("MAT", False), ("PLAN", True)]
    assert tree[0].children[0].children[0].code == "WAIT-CABLE"
    with pytest.raises(
        RuleViolation, match="a detail must sit under a reason, not under a category"
    ):
        service.upsert_downtime_reason(
            session, ctx, code="X", name="X", level="detail", parent_code="MAT"
        )
    with pytest.raises(Conflict, match="reason WAIT-MAT has reasons below it"):
        service.upsert_downtime_reason(session, ctx, code="WAIT-MAT", name="W", level="category")


def test_quality_codes(session, ctx):
    service.upsert_quality_code(
        session, ctx, code="DEF-BOARD", name="Defective board", kind="defect"
    )
    service.upsert_quality_code(session, ctx, code="SCRAP", name="Scrapped", kind="scrap")
    service.upsert_quality_code(session, ctx, code="SCRAP", name="Scrapped", kind="scrap")
    assert len(audit_entries(session, "quality_code")) == 2
    assert [q.code for q in queries.list_quality_codes(session)] == ["DEF-BOARD", "SCRAP"]
    assert [q.code for q in queries.list_quality_codes(session, kind="scrap")] == ["SCRAP"]
    with pytest.raises(RuleViolation, match="'waste' is not a quality code kind"):
        service.upsert_quality_code(session, ctx, code="W", name="Waste", kind="waste")
    assert count(session, Item) == 0
