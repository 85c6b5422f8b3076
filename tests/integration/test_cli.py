"""The command line against a real database (SQLite and PostgreSQL): orders, import, users,
the audit trail. Commands run in-process through Typer's CliRunner."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from shopfloor.audit.tables import AuditEntry
from shopfloor.cli.main import app
from shopfloor.demo.plant import seed_demo_plant
from shopfloor.masterdata import queries as md
from shopfloor.masterdata.tables import Item
from shopfloor.orders.tables import ProductionOrder

runner = CliRunner()


def shopfloor(db_url: str, *args: str) -> object:
    return runner.invoke(app, [*args, "--database-url", db_url], env={"COLUMNS": "120"})


# --- orders ------------------------------------------------------------------------------


def test_order_list_and_show(db_url, session, ctx):
    seed_demo_plant(session, ctx)
    session.commit()

    listed = shopfloor(db_url, "order", "list")
    assert listed.exit_code == 0, listed.output
    assert "Production orders (10)" in listed.output
    assert "PO-24001" in listed.output and "running" in listed.output
    assert "18/2" in listed.output  # the finished acceptance order: 18 good, 2 scrap

    completed = shopfloor(db_url, "order", "list", "--status", "completed", "--json")
    assert completed.exit_code == 0, completed.output
    rows = json.loads(completed.output)
    assert {r["erp_order_id"] for r in rows} == {"PO-23990", "PO-23991"}
    acceptance = next(r for r in rows if r["erp_order_id"] == "PO-23990")
    assert (acceptance["good"], acceptance["scrap"], acceptance["quantity"]) == ("18", "2", "20")

    shown = shopfloor(db_url, "order", "show", "PO-23990")
    assert shown.exit_code == 0, shown.output
    for expected in ("Functional test", "CBL-100", "42", "overuse: repair", "WAIT-MAT"):
        assert expected in shown.output

    flagged = shopfloor(db_url, "order", "show", "PO-24007", "--json")
    detail = json.loads(flagged.output)
    assert detail["erp_status"] == "created" and detail["execution_status"] == "running"
    assert detail["flags"] and {f["discrepancy"] for f in detail["flags"]} == {"erp_not_released"}
    by_id = shopfloor(db_url, "order", "show", str(detail["id"]), "--json")
    assert json.loads(by_id.output)["erp_order_id"] == "PO-24007"


def test_order_commands_refuse_unknown_orders_and_statuses(db_url):
    missing = shopfloor(db_url, "order", "show", "PO-NOPE")
    assert missing.exit_code == 1
    assert "no production order with id or ERP order id 'PO-NOPE'" in missing.output
    wrong = shopfloor(db_url, "order", "list", "--status", "finished")
    assert wrong.exit_code == 1 and "'finished' is not an execution status" in wrong.output


# --- import ------------------------------------------------------------------------------

PLANT = {
    "units": [{"code": "pcs", "name": "pieces", "dimension": "count"}],
    "equipment": [
        {"code": "E", "name": "Enterprise", "level": "enterprise"},
        {"code": "S", "name": "Site", "level": "site", "parent": "E"},
        {"code": "A", "name": "Area", "level": "area", "parent": "S"},
        {"code": "L", "name": "Line", "level": "line", "parent": "A"},
        {"code": "WC-ASSY", "name": "Assembly", "level": "work_center", "parent": "L"},
    ],
    "items": [
        {"code": "WS-100", "name": "Weather station", "uom": "pcs", "lot_tracked": True},
        {"code": "HSG-100", "name": "Housing", "uom": "pcs"},
    ],
    "boms": [
        {
            "item": "WS-100",
            "version": "B",
            "effective_from": "2025-01-01",
            "lines": [{"line_no": 10, "item": "HSG-100", "quantity": 1, "uom": "pcs"}],
        }
    ],
    "routings": [
        {
            "item": "WS-100",
            "version": "A",
            "effective_from": "2025-01-01",
            "operations": [{"operation_no": 10, "name": "Assembly", "work_center": "WC-ASSY"}],
        }
    ],
    "orders": [
        {
            "erp_order_id": "PO-1",
            "item": "WS-100",
            "quantity": 20,
            "uom": "pcs",
            "due_date": "2026-03-10",
            "erp_status": "released",
        }
    ],
}


def test_import_of_a_good_json_file_then_again_changes_nothing(db_url, session, tmp_path):
    path = tmp_path / "plant.json"
    path.write_text(json.dumps(PLANT))

    first = shopfloor(db_url, "import", str(path))
    assert first.exit_code == 0, first.output
    assert "imported 11, unchanged 0, rejected 0" in first.output
    order = session.scalar(select(ProductionOrder).where(ProductionOrder.erp_order_id == "PO-1"))
    assert order is not None and order.execution_status == "queued"

    audit_entries = session.scalar(select(func.count(AuditEntry.id)))
    session.rollback()  # end the read transaction, so later reads see what the CLI wrote
    again = shopfloor(db_url, "import", str(path))
    assert again.exit_code == 0, again.output
    assert "imported 0, unchanged 11, rejected 0" in again.output
    assert session.scalar(select(func.count(AuditEntry.id))) == audit_entries


def test_import_of_csv_files_groups_bom_lines(db_url, session, tmp_path):
    (tmp_path / "units.csv").write_text("code,name,dimension\npcs,pieces,count\n")
    (tmp_path / "items.csv").write_text(
        "code,name,uom,attr.line\nWS-100,Weather station,pcs,L1\nHSG-100,Housing,pcs,\n"
        "FST-M3,Fastener,pcs,\n"
    )
    (tmp_path / "boms.csv").write_text(
        "item,version,effective_from,line_no,component,quantity,uom\n"
        "WS-100,B,2025-01-01,10,HSG-100,1,pcs\n"
        "WS-100,B,2025-01-01,20,FST-M3,8,pcs\n"
    )
    for name in ("units.csv", "items.csv", "boms.csv"):
        result = shopfloor(db_url, "import", str(tmp_path / name))
        assert result.exit_code == 0, result.output
    assert "imported 1, unchanged 0, rejected 0" in result.output  # one BOM version
    assert md.item_by_code(session, "WS-100").attributes == {"line": "L1"}
    bom = md.bom_of_version(session, "WS-100", "B")
    assert [(line.item_code, line.quantity) for line in md.bom_lines(session, bom.id)] == [
        ("HSG-100", 1),
        ("FST-M3", 8),
    ]


def test_import_with_bad_rows_keeps_the_good_ones_and_reports_the_bad(db_url, session, tmp_path):
    (tmp_path / "units.json").write_text(json.dumps([{"code": "pcs", "dimension": "count"}]))
    assert (
        shopfloor(db_url, "import", str(tmp_path / "units.json"), "--kind", "units").exit_code == 0
    )
    before = session.scalar(select(func.count(AuditEntry.id)))
    session.rollback()
    path = tmp_path / "items.csv"
    path.write_text(
        "code,name,uom,lot_tracked\n"
        "GOOD-1,First good item,pcs,no\n"
        "BAD-UNIT,Item in an unknown unit,furlongs,no\n"
        "GOOD-2,Second good item,pcs,yes\n"
        "BAD-FLAG,Item with a bad flag,pcs,perhaps\n"
    )
    result = shopfloor(db_url, "import", str(path))

    assert result.exit_code == 1, result.output
    assert "Rejected rows" in result.output
    assert "imported 2, unchanged 0, rejected 2" in result.output
    assert "no unit of measure with code 'furlongs'" in result.output
    assert "'lot_tracked' must be true or false" in result.output
    assert re.search(r"\b3\b\W+items\W+BAD-UNIT", result.output)  # file line 3
    assert re.search(r"\b5\b\W+items\W+BAD-FLAG", result.output)
    codes = set(session.scalars(select(Item.code)))
    assert codes == {"GOOD-1", "GOOD-2"}
    assert session.scalar(select(func.count(AuditEntry.id))) == before + 2


def test_a_rejected_bom_version_records_none_of_its_lines(db_url, session, tmp_path):
    (tmp_path / "plant.json").write_text(
        json.dumps(
            {
                "units": PLANT["units"],
                "items": PLANT["items"],
                "boms": [
                    {
                        "item": "WS-100",
                        "version": "B",
                        "effective_from": "2025-01-01",
                        "lines": [
                            {"line_no": 10, "item": "HSG-100", "quantity": 1, "uom": "pcs"},
                            {"line_no": 20, "item": "NO-SUCH", "quantity": 1, "uom": "pcs"},
                        ],
                    }
                ],
            }
        )
    )
    result = shopfloor(db_url, "import", str(tmp_path / "plant.json"))
    assert result.exit_code == 1 and "no item with code 'NO-SUCH'" in result.output
    assert md.bom_versions(session, "WS-100") == []


def test_a_dry_run_saves_nothing(db_url, session, tmp_path):
    path = tmp_path / "plant.json"
    path.write_text(json.dumps(PLANT))
    result = shopfloor(db_url, "import", str(path), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "would import 11" in result.output and "nothing was saved" in result.output
    assert session.scalar(select(func.count(Item.id))) == 0
    assert session.scalar(select(func.count(AuditEntry.id))) == 0


@pytest.mark.parametrize(("name", "content"), [("missing.json", None), ("broken.json", "{oops")])
def test_a_file_that_cannot_be_read_exits_2(db_url, tmp_path: Path, name, content):
    if content is not None:
        (tmp_path / name).write_text(content)
    result = shopfloor(db_url, "import", str(tmp_path / name))
    assert result.exit_code == 2, result.output
    assert "error:" in result.output


# --- users and the audit trail -----------------------------------------------------------


def test_user_add_with_an_unknown_role_is_refused(db_url):
    result = shopfloor(
        db_url,
        "user",
        "add",
        "maria",
        "--name",
        "Maria K",
        "--role",
        "wizard",
        "--password",
        "a-long-enough-password",
    )
    assert result.exit_code == 1
    assert "unknown role(s) wizard" in result.output


def test_audit_verify_detects_an_edited_entry(db_url, session):
    added = shopfloor(
        db_url,
        "user",
        "add",
        "maria",
        "--name",
        "Maria K",
        "--role",
        "operator",
        "--password",
        "a-long-enough-password",
    )
    assert added.exit_code == 0, added.output
    intact = shopfloor(db_url, "audit", "verify")
    assert intact.exit_code == 0 and "audit trail intact" in intact.output

    session.execute(update(AuditEntry).values(new_value={"username": "mallory"}))
    session.commit()
    tampered = shopfloor(db_url, "audit", "verify")
    assert tampered.exit_code == 2
    assert "NOT intact" in tampered.output
