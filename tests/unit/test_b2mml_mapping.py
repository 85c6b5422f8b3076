"""B2MML mapping rules, pure: OperationsSchedule → order documents, facts → performance."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from shopfloor.integration.b2mml import domain
from shopfloor.integration.b2mml.performance import (
    MaterialActual,
    OrderActuals,
    PersonnelActual,
    SegmentActuals,
    performance_xml,
)
from shopfloor.integration.b2mml.service import schedule_documents
from shopfloor.integration.b2mml.validation import InvalidDocument, validate

EXAMPLE = (
    Path(__file__).resolve().parents[2]
    / "src/shopfloor/integration/b2mml/examples/ws100-schedule.xml"
)
B = "{http://www.mesa.org/xml/B2MML}"


def schedule(*requests: str, state: str = "") -> bytes:
    return (
        '<OperationsSchedule xmlns="http://www.mesa.org/xml/B2MML">\n<ID>S1</ID>\n'
        + (f"<ScheduleState>{state}</ScheduleState>\n" if state else "")
        + "\n".join(requests)
        + "\n</OperationsSchedule>"
    ).encode()


def request(
    order: str = "PO-1",
    *,
    head: str = "<EndTime>2026-03-06T16:00:00Z</EndTime>",
    product: str = "WS-100",
    use: str = "Produced",
    quantity: str = "<QuantityString>5</QuantityString><UnitOfMeasure>pcs</UnitOfMeasure>",
    segment: str = "",
) -> str:
    return f"""<OperationsRequest>
  <ID>{order}</ID>
  {head}
  <SegmentRequirement>
    <ID>10</ID>{segment}
    <ProcessSegmentID>assembly</ProcessSegmentID>
    <OperationsDefinitionID>R1</OperationsDefinitionID>
    <OperationsSegmentID>10</OperationsSegmentID>
    <MaterialRequirement>
      <ID>m</ID>
      <MaterialDefinitionID>{product}</MaterialDefinitionID>
      <MaterialUse>{use}</MaterialUse>
      <Quantity>{quantity}</Quantity>
    </MaterialRequirement>
  </SegmentRequirement>
</OperationsRequest>"""


def mapped(xml: bytes) -> tuple[list, list[domain.Violation]]:
    assert validate(xml, "schedule") == []
    return domain.schedule_documents(etree.fromstring(xml))


def test_the_seed_order_maps_to_the_fields_of_an_import_order_record():
    documents = schedule_documents(EXAMPLE.read_bytes())
    assert [(d.message_id, d.kind) for d in documents] == [("b2mml:order:PO-1001:1", "order")]
    assert dict(documents[0].fields) == {
        "erp_order_id": "PO-1001",
        "erp_version": 1,
        "item": "WS-100",
        "quantity": "20",
        "uom": "pcs",
        "due_date": "2026-03-06",
        "priority": 2,
        "erp_status": "released",
        "bom_version": "B1",
        "routing_version": "R1",
        "origin": "erp",
    }


def test_optional_elements_left_out_leave_the_import_defaults():
    documents, problems = mapped(schedule(request()))
    assert problems == []
    assert dict(documents[0].fields) == {
        "erp_order_id": "PO-1",
        "item": "WS-100",
        "quantity": "5",
        "uom": "pcs",
        "due_date": "2026-03-06",
        "routing_version": "R1",
        "origin": "erp",
    }


@pytest.mark.parametrize(
    ("state", "status"),
    [("Forecast", "created"), ("Released", "released"), ("Running", "released"),
     ("Cancelled", "closed"), ("Closed", "closed")],
)  # fmt: skip
def test_request_states_map_to_erp_statuses(state, status):
    head = f"<EndTime>2026-03-06T10:00:00Z</EndTime><RequestState>{state}</RequestState>"
    documents, _ = mapped(schedule(request(head=head)))
    assert documents[0].fields["erp_status"] == status


def test_the_schedule_state_applies_when_a_request_has_none():
    documents, _ = mapped(schedule(request(), state="Forecast"))
    assert documents[0].fields["erp_status"] == "created"


def test_the_due_date_falls_back_to_the_latest_segment_end():
    segment = "<LatestEndTime>2026-03-09T12:00:00+01:00</LatestEndTime>"
    documents, _ = mapped(schedule(request(head="", segment=segment)))
    assert documents[0].fields["due_date"] == "2026-03-09"


def test_every_mapping_problem_is_named_with_its_line_and_nothing_is_mapped():
    xml = schedule(
        request("PO-1", head="<Version>0</Version><RequestState>Held</RequestState>"),
        request("PO-2", use="Consumed"),
        request("PO-3"),
        request("PO-3"),
    )
    documents, problems = mapped(xml)
    assert documents == []
    text = [(p.line, p.message) for p in problems]
    assert any(line == 5 and "Version must be a whole number" in m for line, m in text)
    assert any(line == 5 and "state 'Held' has no ERP status" in m for line, m in text)
    assert any(line == 3 and "no due date" in m for line, m in text)
    assert any("no MaterialRequirement with MaterialUse 'Produced'" in m for _, m in text)
    assert any("order PO-3 is requested twice" in m for _, m in text)
    assert all(
        p.line and p.path.startswith("/OperationsSchedule/OperationsRequest") for p in problems
    )


def test_a_product_without_unit_or_with_two_materials_is_refused():
    no_unit = request(quantity="<QuantityString>5</QuantityString>")
    _, problems = mapped(schedule(no_unit))
    assert [p.message for p in problems] == ["the quantity needs its UnitOfMeasure"]
    two = request("PO-9").replace(
        "</SegmentRequirement>",
        "<MaterialRequirement><ID>x</ID><MaterialDefinitionID>OTHER</MaterialDefinitionID>"
        "<MaterialUse>Produced</MaterialUse></MaterialRequirement></SegmentRequirement>",
    )
    _, problems = mapped(schedule(two))
    assert "one MaterialDefinitionID (found: WS-100, OTHER)" in problems[0].message


def test_schedule_documents_raises_with_the_mapping_problems():
    with pytest.raises(InvalidDocument) as refused:
        schedule_documents(schedule(request(use="Consumed")))
    assert refused.value.violations[0].line == 3
    assert refused.value.status == 422


def order_actuals() -> OrderActuals:
    t = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    return OrderActuals(
        erp_order_id="PO-1001",
        item="WS-100",
        quantity=Decimal(20),
        unit="pcs",
        execution_status="completed",
        bom_version="B1",
        routing_version="R1",
        segments=(
            SegmentActuals(
                10, "assembly", "WC-ASSY", "completed", t, t.replace(hour=8), Decimal(20),
                Decimal(0), Decimal(0),
                materials=(
                    MaterialActual("consumed", "CABLE", Decimal(24), "pcs", "CBL-0217"),
                    MaterialActual("consumed", "CABLE", Decimal(18), "pcs", "CBL-0218",
                                   properties=(("OveruseReason", "repair"),)),
                ),
                personnel=(PersonnelActual("olga", "Olga Operator", Decimal("93.5")),),
                downtime=(("waiting-for-material", Decimal(40)),),
            ),
            SegmentActuals(
                30, "pack", "WC-PACK", "completed", t.replace(hour=9), t.replace(hour=10),
                Decimal(18), Decimal(2), Decimal(0),
                materials=(
                    MaterialActual("produced", "WS-100", Decimal(18), "pcs", "WS-L1"),
                    MaterialActual("scrapped", "WS-100", Decimal(2), "pcs",
                                   properties=(("QualityCode", "defective-board"),)),
                ),
            ),
        ),
    )  # fmt: skip


def test_the_performance_document_is_valid_and_says_what_happened():
    xml = performance_xml(
        "msg-1", [order_actuals()], published=datetime(2026, 3, 2, 12, tzinfo=UTC), site="plant-1"
    )
    assert validate(xml, "performance") == []
    root = etree.fromstring(xml)
    assert root.findtext(f"{B}ID") == "msg-1"
    assert root.findtext(f"{B}Endtime") == "2026-03-02T10:00:00Z"
    response = root.find(f"{B}OperationsResponse")
    assert response.findtext(f"{B}ID") == "PO-1001"
    assert response.findtext(f"{B}ResponseState") == "Completed"
    first, last = response.findall(f"{B}SegmentResponse")
    assert first.findtext(f"{B}SegmentRequirementID") == "10"
    assert first.findtext(f"{B}ActualStartTime") == "2026-03-02T06:00:00Z"
    equipment = first.find(f"{B}EquipmentActual")
    assert equipment.findtext(f"{B}Quantity/{B}QuantityString") == "120"
    assert (
        equipment.findtext(f"{B}EquipmentActualProperty/{B}ID") == "Downtime:waiting-for-material"
    )
    person = first.find(f"{B}PersonnelActual")
    assert person.findtext(f"{B}PersonID") == "olga"
    assert person.findtext(f"{B}Quantity/{B}QuantityString") == "93.5"
    produced, scrapped = last.findall(f"{B}MaterialActual")
    assert produced.findtext(f"{B}MaterialUse") == "Produced"
    assert produced.findtext(f"{B}MaterialLotID") == "WS-L1"
    use = scrapped.find(f"{B}MaterialUse")
    assert (use.text, use.get("OtherValue")) == ("Other", "Scrapped")
    assert scrapped.findtext(f"{B}MaterialActualProperty/{B}Value/{B}ValueString") == (
        "defective-board"
    )
    data = {d.findtext(f"{B}ID"): d.findtext(f"{B}Value/{B}ValueString")
            for d in last.findall(f"{B}SegmentData")}  # fmt: skip
    assert data == {
        "GoodQuantity": "18",
        "ScrapQuantity": "2",
        "ReworkQuantity": "0",
        "BillOfMaterialID": "B1",
    }
