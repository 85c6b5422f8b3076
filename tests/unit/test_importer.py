"""Reading import files into records and records into service calls: no database."""

from __future__ import annotations

import json
from datetime import date, time
from decimal import Decimal
from pathlib import Path

import pytest

from shopfloor.cli import importer
from shopfloor.cli.importer import ImportFileError
from shopfloor.integration.records import Record, service_call
from shopfloor.masterdata.domain import AlternativeSpec, BreakSpec

BOM_CSV = """item,version,bom_quantity,effective_from,line_no,component,quantity,uom,operation_no,\
alternatives
WS-100,B,1,2025-01-01,10,HSG-100,1,pcs,10,
WS-100,B,,,20,CBL-100,2,pcs,10,CBL-101:1;CBL-102
WS-200,A,1,2025-01-01,10,HSG-100,1,pcs,10,

WS-100,B,1,2025-01-01,30,FST-M3,8,pcs,10,
"""


def test_a_json_list_needs_a_kind_and_numbers_its_rows():
    text = json.dumps([{"code": "pcs", "dimension": "count"}, {"code": "kg"}])
    records = importer.parse_json(text, "units")
    assert [(r.kind, r.rows, r.key) for r in records] == [
        ("units", (1,), "pcs"),
        ("units", (2,), "kg"),
    ]
    with pytest.raises(ImportFileError, match="--kind"):
        importer.parse_json(text, None)


def test_a_json_list_may_name_the_kind_in_each_object():
    text = json.dumps([{"kind": "uom", "code": "pcs"}, {"kind": "nonsense", "code": "x"}])
    good, bad = importer.parse_json(text, None)
    assert good.kind == "units" and "kind" not in good.fields
    assert bad.problem and "not an import kind" in bad.problem


def test_a_json_object_is_keyed_by_kind_and_read_file_orders_by_dependency(tmp_path: Path):
    path = tmp_path / "plant.json"
    path.write_text(
        json.dumps(
            {
                "orders": [{"erp_order_id": "PO-1"}],
                "items": [{"code": "WS-100"}],
                "UOMs": [{"code": "pcs"}],
            }
        )
    )
    records = importer.read_file(path)
    assert [r.kind for r in records] == ["units", "items", "orders"]
    assert [r.kind for r in importer.read_file(path, "items")] == ["items"]


def test_entries_that_are_not_objects_become_rejected_records():
    (record,) = importer.parse_json("[42]", "items")
    assert record.problem == "not a JSON object"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ('"text"', "list of objects"),
        ('{"items": 3}', "must hold a list"),
        ('{"gizmos": []}', "not an import kind"),
    ],
)
def test_files_that_cannot_be_read_raise_file_errors(text, message):
    with pytest.raises(ImportFileError, match=message):
        importer.parse_json(text, None)


def test_unreadable_paths_and_suffixes(tmp_path: Path):
    with pytest.raises(ImportFileError, match="does not exist"):
        importer.read_file(tmp_path / "missing.json")
    (tmp_path / "items.xlsx").write_text("x")
    with pytest.raises(ImportFileError, match=r"\.json and \.csv"):
        importer.read_file(tmp_path / "items.xlsx")
    (tmp_path / "stuff.csv").write_text("code\nx\n")
    with pytest.raises(ImportFileError, match="--kind"):
        importer.read_file(tmp_path / "stuff.csv")


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("items.csv", "items"),
        ("plant-boms.csv", "boms"),
        ("routings_2026.csv", "routings"),
        ("downtime-reasons.csv", "downtime_reasons"),
        ("uoms.csv", "units"),
    ],
)
def test_the_kind_of_a_csv_file_comes_from_its_name(name, kind):
    assert importer.kind_from_name(Path(name)) == kind


def test_csv_rows_are_numbered_like_a_spreadsheet_and_blank_rows_skipped():
    text = "code,name,uom,lot_tracked,attr.line\nA,Alpha,pcs,yes,L1\n,,,,\nB,Beta,kg,,\n"
    first, second = importer.parse_csv(text, "items")
    assert first.rows == (2,) and second.rows == (4,)
    assert first.fields == {
        "code": "A",
        "name": "Alpha",
        "uom": "pcs",
        "lot_tracked": "yes",
        "attributes": {"line": "L1"},
    }
    assert second.fields == {"code": "B", "name": "Beta", "uom": "kg"}


def test_a_csv_row_with_more_cells_than_the_header_is_rejected():
    (record,) = importer.parse_csv("code,name\nA,Alpha,surplus\n", "skills")
    assert record.problem == "the row has more cells than the header"
    with pytest.raises(ImportFileError, match="no header"):
        importer.parse_csv("", "skills")


def test_bom_lines_are_grouped_by_item_and_version():
    ws100, ws200 = importer.parse_csv(BOM_CSV, "boms")
    assert ws100.rows == (2, 3, 6) and ws100.row_label == "2-6" and ws100.key == "WS-100 B"
    assert ws100.problem is None
    assert ws100.fields["quantity"] == "1" and ws100.fields["effective_from"] == "2025-01-01"
    assert [line["item"] for line in ws100.fields["lines"]] == ["HSG-100", "CBL-100", "FST-M3"]
    assert ws200.rows == (4,) and len(ws200.fields["lines"]) == 1


def test_rows_of_one_version_that_disagree_reject_the_version():
    text = (
        "item,version,effective_from,line_no,component,quantity,uom\n"
        "A,1,2025-01-01,10,X,1,pcs\nA,1,2025-02-01,20,Y,1,pcs\n"
    )
    (record,) = importer.parse_csv(text, "boms")
    assert record.problem and "effective_from" in record.problem and "row 3" in record.problem


def test_routing_rows_become_operations():
    text = (
        "item,version,effective_from,operation_no,name,work_center,ideal_cycle_seconds,skill\n"
        "WS-100,A,2025-01-01,10,Assembly,L1-ASSY,240,ASSEMBLY\n"
        "WS-100,A,2025-01-01,20,Test,L1-TEST,120,\n"
    )
    (record,) = importer.parse_csv(text, "routings")
    call = service_call(record)
    assert call.service == "upsert_routing_version"
    first, second = call.kwargs["operations"]
    assert (first.work_center_code, first.ideal_cycle_seconds, first.required_skill_code) == (
        "L1-ASSY",
        Decimal("240"),
        "ASSEMBLY",
    )
    assert second.required_skill_code is None and second.setup_minutes == 0


def test_a_bom_record_becomes_typed_line_specs():
    ws100, _ = importer.parse_csv(BOM_CSV, "boms")
    call = service_call(ws100)
    assert call.service == "upsert_bom_version"
    assert call.kwargs["item_code"] == "WS-100" and call.kwargs["quantity"] == Decimal(1)
    assert call.kwargs["effective_from"] == date(2025, 1, 1)
    assert call.kwargs["effective_to"] is None
    cable = call.kwargs["lines"][1]
    assert (cable.line_no, cable.quantity, cable.operation_no) == (20, Decimal(2), 10)
    assert cable.alternatives == (
        AlternativeSpec("CBL-101", Decimal(1)),
        AlternativeSpec("CBL-102", Decimal(1)),
    )


def test_json_and_csv_values_are_both_accepted():
    as_json = Record("items", (1,), {"code": "A", "uom": "pcs", "lot_tracked": True})
    as_csv = Record("items", (2,), {"code": "A", "uom": "pcs", "lot_tracked": "yes"})
    assert service_call(as_json).kwargs == service_call(as_csv).kwargs
    assert service_call(as_json).kwargs["name"] == "A"


def test_shifts_read_weekday_ranges_and_breaks():
    record = Record(
        "shifts",
        (2,),
        {
            "calendar": "2-SHIFT",
            "code": "EARLY",
            "starts_at": "06:00",
            "minutes": "480",
            "weekdays": "0-4",
            "breaks": "Coffee:120:15;Lunch:240:30",
        },
    )
    kwargs = service_call(record).kwargs
    assert kwargs["starts_at"] == time(6, 0) and kwargs["minutes"] == 480
    assert kwargs["weekdays"] == [0, 1, 2, 3, 4]
    assert kwargs["breaks"] == [BreakSpec("Coffee", 120, 15), BreakSpec("Lunch", 240, 30)]


def test_orders_take_defaults_for_version_priority_and_status():
    record = Record(
        "orders",
        (1,),
        {
            "erp_order_id": "PO-1",
            "item": "WS-100",
            "quantity": 20,
            "uom": "pcs",
            "due_date": "2026-03-10",
        },
    )
    kwargs = service_call(record).kwargs
    assert kwargs["erp_version"] == 1 and kwargs["priority"] == 5
    assert kwargs["erp_status"] == "created" and kwargs["quantity"] == Decimal(20)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"code": "A"}, "'uom' is missing"),
        (
            {"code": "A", "uom": "pcs", "lot_tracked": "maybe"},
            "'lot_tracked' must be true or false",
        ),
        ({"code": "A", "uom": "pcs", "attributes": [1]}, "'attributes' must be an object"),
    ],
)
def test_malformed_values_name_the_field(fields, message):
    with pytest.raises(ValueError, match=message):
        service_call(Record("items", (1,), fields))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {
                "erp_order_id": "PO-1",
                "item": "X",
                "quantity": "a lot",
                "uom": "pcs",
                "due_date": "2026-03-10",
            },
            "'quantity' must be a number",
        ),
        (
            {
                "erp_order_id": "PO-1",
                "item": "X",
                "quantity": "1",
                "uom": "pcs",
                "due_date": "10.03.2026",
            },
            "'due_date' must be a date",
        ),
        (
            {
                "erp_order_id": "PO-1",
                "item": "X",
                "quantity": "1",
                "uom": "pcs",
                "due_date": "2026-03-10",
                "priority": "1.5",
            },
            "'priority' must be a whole number",
        ),
    ],
)
def test_malformed_order_values(fields, message):
    with pytest.raises(ValueError, match=message):
        service_call(Record("orders", (1,), fields))


def test_a_bad_bom_line_names_its_position():
    record = Record(
        "boms",
        (1,),
        {
            "item": "A",
            "version": "1",
            "effective_from": "2025-01-01",
            "lines": [
                {"line_no": 10, "item": "X", "quantity": "1", "uom": "pcs"},
                {"line_no": 20, "item": "Y", "uom": "pcs"},
            ],
        },
    )
    with pytest.raises(ValueError, match="line 2: 'quantity' is missing"):
        service_call(record)


def test_a_record_with_a_problem_is_refused_before_any_service():
    with pytest.raises(ValueError, match="the rows disagree"):
        service_call(Record("items", (3,), {"code": "A"}, problem="the rows disagree"))
