"""B2MML against a real database (SQLite and PostgreSQL): the seed order in as an
OperationsSchedule through the CLI and the API, and the acceptance scenario out as an
OperationsPerformance that the official schema accepts."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
import xmlschema
from lxml import etree
from sqlalchemy import func, select
from typer.testing import CliRunner

from shopfloor.cli.main import app
from shopfloor.integration.b2mml.adapter import B2mmlAdapter
from shopfloor.integration.b2mml.validation import SCHEMA_DIR
from shopfloor.integration.messages import Outgoing
from shopfloor.masterdata.tables import Bom, Routing
from shopfloor.orders.tables import ProductionOrder
from shopfloor.platform.outbox import OutboxEvent
from tests.scenarios.test_ws100_order import test_ws100_order_from_erp_to_18_good as scenario
from tests.support.plant import build_plant
from tests.unit.test_b2mml_validation import INVALID, REFDATA

EXAMPLE = SCHEMA_DIR.parent / "examples" / "ws100-schedule.xml"
B = "{http://www.mesa.org/xml/B2MML}"
V1 = "/api/v1"
runner = CliRunner()


def shopfloor(db_url: str, *args: str) -> object:
    return runner.invoke(app, [*args, "--database-url", db_url], env={"COLUMNS": "160"})


@pytest.fixture(scope="module")
def official_schema() -> xmlschema.XMLSchema:
    """MESA's OperationsPerformance schema read by xmlschema, a validator independent of the
    libxml2 one shopfloor uses (from the reference copy when the checkout has it)."""
    folder = REFDATA if REFDATA.is_dir() else SCHEMA_DIR
    return xmlschema.XMLSchema(str(folder / "B2MML-OperationsPerformance.xsd"))


def plant(runtime) -> None:
    with runtime.unit_of_work() as uow:
        build_plant(uow.session)
        uow.commit()


def the_order(runtime, erp_order_id: str = "PO-1001") -> dict:
    with runtime.sessions() as session:
        row = session.execute(
            select(ProductionOrder, Bom.version, Routing.version)
            .join(Bom, Bom.id == ProductionOrder.bom_id)
            .join(Routing, Routing.id == ProductionOrder.routing_id)
            .where(ProductionOrder.erp_order_id == erp_order_id)
        ).one()
        count = session.scalar(select(func.count()).select_from(ProductionOrder))
    order, bom, routing = row
    return {
        "count": count,
        "item_id": order.item_id,
        "quantity": order.quantity,
        "due_date": order.due_date.isoformat(),
        "priority": order.priority,
        "erp_status": order.erp_status,
        "erp_version": order.erp_version,
        "bom": bom,
        "routing": routing,
    }


# --- schedules in -------------------------------------------------------------------------


def test_the_seed_schedule_imports_as_the_seed_order_and_again_as_no_duplicate(db_url, runtime):
    plant(runtime)
    first = shopfloor(db_url, "b2mml", "import", str(EXAMPLE))
    assert first.exit_code == 0, first.output
    assert "PO-1001" in first.output and "applied" in first.output
    order = the_order(runtime)
    assert order | {"item_id": None} == {
        "count": 1,
        "item_id": None,
        "quantity": Decimal(20),
        "due_date": "2026-03-06",
        "priority": 2,
        "erp_status": "released",
        "erp_version": 1,
        "bom": "B1",
        "routing": "R1",
    }
    again = shopfloor(db_url, "b2mml", "import", str(EXAMPLE))
    assert again.exit_code == 0, again.output
    assert "duplicate" in again.output
    assert the_order(runtime)["count"] == 1


def test_an_invalid_schedule_lists_every_violation_with_its_line_and_imports_nothing(
    db_url, runtime, tmp_path: Path
):
    plant(runtime)
    bad = tmp_path / "plan.xml"
    bad.write_bytes(INVALID)
    result = shopfloor(db_url, "b2mml", "import", str(bad))
    assert result.exit_code == 2
    for line in (4, 7, 16, 17):
        assert f"plan.xml: line {line}: /OperationsSchedule" in result.output
    assert "4 problem(s); nothing was imported" in result.output
    broken = tmp_path / "broken.xml"
    broken.write_bytes(b"<OperationsSchedule>\n<ID>")
    result = shopfloor(db_url, "b2mml", "import", str(broken))
    assert result.exit_code == 2 and "line 2: not well-formed XML" in result.output
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ProductionOrder)) == 0


def test_the_api_files_a_schedule_once_and_refuses_an_invalid_one_with_a_problem(api):
    plant(api.runtime)
    xml = EXAMPLE.read_bytes()
    headers = {"Content-Type": "application/xml", "Idempotency-Key": "sched-1"}
    post = lambda body, role="integration", **h: api.post(  # noqa: E731
        f"{V1}/erp/b2mml/schedule", role=role, content=body, headers={**headers, **h}
    )
    first = post(xml)
    assert first.status_code == 200, first.text
    assert first.json()["applied"] == 1
    assert first.json()["documents"][0]["key"] == "PO-1001"
    replay = post(xml)
    assert replay.headers.get("Idempotent-Replayed") == "true" and replay.json() == first.json()
    again = post(xml, role="planner", **{"Idempotency-Key": "sched-2"})
    assert again.status_code == 200 and again.json()["duplicate"] == 1
    assert the_order(api.runtime)["count"] == 1

    refused = post(INVALID, **{"Idempotency-Key": "sched-3"})
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["type"].endswith("/invalid-b2mml")
    assert [v["line"] for v in problem["violations"]] == [4, 7, 16, 17]
    assert problem["violations"][1]["path"] == "/OperationsSchedule/OperationsRequest/Priority"
    assert post(b"<not-closed>", **{"Idempotency-Key": "sched-4"}).status_code == 422
    assert post(xml, role="operator").status_code == 403


# --- performance out ----------------------------------------------------------------------


def test_the_scenario_exports_as_a_valid_operations_performance(
    api, db_url, tmp_path: Path, official_schema
):
    scenario(api)
    response = api.get(f"{V1}/erp/b2mml/performance", role="quality", params={"order": "PO-1001"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    official_schema.validate(etree.fromstring(response.content))
    check_scenario_actuals(etree.fromstring(response.content))

    assert api.get(f"{V1}/erp/b2mml/performance", role="operator",
                   params={"order": "PO-1001"}).status_code == 403  # fmt: skip
    unknown = api.get(f"{V1}/erp/b2mml/performance", params={"order": "PO-404"})
    assert unknown.status_code == 404
    assert api.get(f"{V1}/erp/b2mml/performance").status_code == 422
    ranged = api.get(
        f"{V1}/erp/b2mml/performance",
        role="integration",
        params={"since": "2026-01-01T00:00:00Z", "until": "2099-01-01T00:00:00Z"},
    )
    assert ranged.status_code == 200, ranged.text
    check_scenario_actuals(etree.fromstring(ranged.content))

    target = tmp_path / "po-1001.xml"
    result = shopfloor(db_url, "b2mml", "export", "--order", "PO-1001", "-o", str(target))
    assert result.exit_code == 0, result.output
    official_schema.validate(etree.fromstring(target.read_bytes()))
    checked = runner.invoke(app, ["b2mml", "validate", str(target), "--kind", "performance"])
    assert checked.exit_code == 0, checked.output

    posted_once_per_message(api.runtime, db_url, tmp_path / "outbox", official_schema)


def check_scenario_actuals(root) -> None:
    """18 good to stock in lot WS-L1, 2 scrapped as defective board, 42 cables from their lots,
    the 40 minutes waiting for material at operation 10."""
    (response,) = root.findall(f"{B}OperationsResponse")
    assert response.findtext(f"{B}ID") == "PO-1001"
    assert response.findtext(f"{B}ResponseState") == "Completed"
    segments = {s.findtext(f"{B}SegmentRequirementID"): s for s in response}
    assert {"10", "20", "30"} <= set(segments)
    materials = []
    for number in ("10", "20", "30"):
        segment = segments[number]
        assert segment.findtext(f"{B}ActualStartTime") and segment.findtext(f"{B}ActualEndTime")
        for actual in segment.findall(f"{B}MaterialActual"):
            use = actual.find(f"{B}MaterialUse")
            materials.append(
                (
                    number,
                    use.get("OtherValue") or use.text,
                    actual.findtext(f"{B}MaterialDefinitionID"),
                    actual.findtext(f"{B}MaterialLotID"),
                    Decimal(actual.findtext(f"{B}Quantity/{B}QuantityString")),
                    {p.findtext(f"{B}ID"): p.findtext(f"{B}Value/{B}ValueString")
                     for p in actual.findall(f"{B}MaterialActualProperty")},
                )
            )  # fmt: skip
    produced = [m for m in materials if m[1] == "Produced"]
    assert produced == [("30", "Produced", "WS-100", "WS-L1", Decimal(18), {})]
    scrapped = [m for m in materials if m[1] == "Scrapped"]
    assert scrapped == [
        ("20", "Scrapped", "WS-100", None, Decimal(2), {"QualityCode": "defective-board"})
    ]
    cables = {m[3]: m[4] for m in materials if m[1] == "Consumed" and m[2] == "CABLE"}
    assert cables == {"CBL-0217": Decimal(24), "CBL-0218": Decimal(18)}
    assert any(m[5].get("OveruseReason") == "repair" for m in materials if m[2] == "CABLE")
    boards = [m[3:5] for m in materials if m[1] == "Consumed" and m[2] == "BOARD"]
    assert boards == [("BRD-0301", Decimal(20))]
    equipment = segments["10"].find(f"{B}EquipmentActual")
    assert equipment.findtext(f"{B}EquipmentID") == "WC-ASSY"
    downtime = equipment.find(f"{B}EquipmentActualProperty")
    assert downtime.findtext(f"{B}ID") == "Downtime:waiting-for-material"
    assert Decimal(downtime.findtext(f"{B}Quantity/{B}QuantityString")) == 40
    good = {d.findtext(f"{B}ID"): d.findtext(f"{B}Value/{B}ValueString")
            for d in segments["20"].findall(f"{B}SegmentData")}  # fmt: skip
    assert (good["GoodQuantity"], good["ScrapQuantity"]) == ("18", "2")


def posted_once_per_message(runtime, db_url: str, outbox: Path, official_schema) -> None:
    """The adapter writes one file per work_order.completed, atomically, and a repeated
    delivery of the same message writes nothing."""
    with runtime.sessions() as session:
        events = session.scalars(select(OutboxEvent).order_by(OutboxEvent.position)).all()
        messages = [
            Outgoing("erp", e.event_id, e.type, e.site, json.dumps(e.as_message(), default=str)
                     .encode(), e.position, 1, None)
            for e in events
            if e.type in ("work_order.completed", "operation.completed")
        ]  # fmt: skip
    adapter = B2mmlAdapter({"outbox_dir": str(outbox), "database_url": db_url, "site": "plant-1"})
    try:
        outcomes = adapter.post_files(messages)
        assert all(o.ok for o in outcomes), [o.error for o in outcomes]
        files = sorted(outbox.glob("*.xml"))
        assert len(files) == 1 and files[0].name.startswith("PO-1001--")
        document = etree.fromstring(files[0].read_bytes())
        official_schema.validate(document)
        completed = next(m for m in messages if m.event_type == "work_order.completed")
        assert document.findtext(f"{B}ID") == completed.message_id
        files[0].unlink()  # ERP took the file away
        assert all(o.ok for o in adapter.post_files([completed]))
        assert list(outbox.glob("*.xml")) == []  # the repeat wrote nothing
        assert not list(outbox.glob(".*.tmp"))
    finally:
        adapter._engine_for().dispose()


# --- the adapter's drop folder -------------------------------------------------------------


def test_pull_reads_valid_files_sets_invalid_ones_aside_and_acknowledges_by_cursor(tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    (inbox / "a-plan.xml").write_bytes(EXAMPLE.read_bytes())
    (inbox / "b-bad.xml").write_bytes(INVALID)
    (inbox / "notes.txt").write_text("not a schedule")
    adapter = B2mmlAdapter({"inbox_dir": str(inbox)})

    first = adapter.pull_files(None)
    assert [d.message_id for d in first.documents] == ["b2mml:order:PO-1001:1"]
    assert first.documents[0].fields["quantity"] == "20"
    assert json.loads(first.cursor or "") == ["a-plan.xml"]
    assert not (inbox / "b-bad.xml").exists()
    report = (inbox / "rejected" / "b-bad.xml.errors.txt").read_text()
    assert "4 problem(s)" in report
    for line in (4, 7, 16, 17):
        assert f"line {line}: /OperationsSchedule" in report
    assert (inbox / "rejected" / "b-bad.xml").read_bytes() == INVALID

    again = adapter.pull_files(None)  # the first pull was never acknowledged: read again
    assert [d.message_id for d in again.documents] == ["b2mml:order:PO-1001:1"]
    acknowledged = adapter.pull_files(first.cursor)
    assert acknowledged.documents == [] and acknowledged.cursor is None
    assert (inbox / "processed" / "a-plan.xml").exists()
    assert (inbox / "notes.txt").exists()
