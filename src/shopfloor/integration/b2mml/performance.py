"""shopfloor's facts of orders → a B2MML OperationsPerformance document, pure.

One OperationsResponse per order (ID = ERP order id, the glue key), one SegmentResponse per
routing operation (SegmentRequirementID = operation number) with:

- ActualStartTime / ActualEndTime and SegmentState (the operation's execution status);
- SegmentData `GoodQuantity`, `ScrapQuantity`, `ReworkQuantity`: what the operation passed,
  scrapped and sent to rework (net of reversals), and `BillOfMaterialID`;
- MaterialActual per item and lot (and serial, as MaterialSubLotID) as the material ledger
  has it: `Produced` is finished goods to stock (good output of the last operation),
  `Consumed` is net consumption (consumed minus returned) with the overuse reasons and
  substitutions as properties, and scrap is MaterialUse `Other` with OtherValue `Scrapped`
  and the defect code as property `QualityCode`. Summing Produced over all segments gives
  what ERP receives to stock — intermediate good counts are segment data, never material,
  so nothing is counted twice;
- PersonnelActual per person with the labour minutes;
- EquipmentActual for the work center with the minutes from actual start to end, and the
  downtime minutes per reason code as properties.

Quantities are exact decimals; times are UTC (ISO 8601 with offset).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from lxml import etree

from shopfloor.integration.b2mml.domain import NS, q
from shopfloor.kernel.quantities import fmt, qty

RESPONSE_STATE = {
    "queued": "Waiting",
    "dispatched": "Ready",
    "running": "Running",
    "paused": "Paused",
    "completed": "Completed",
    "aborted": "Aborted",
}
MATERIAL_USE = {"produced": "Produced", "consumed": "Consumed"}  # others: Other + OtherValue
OTHER_USE = {"scrapped": "Scrapped"}


@dataclass(frozen=True)
class MaterialActual:
    """Net quantity of one item (and lot / serial) produced, consumed or scrapped."""

    use: str  # produced, consumed, scrapped
    item: str
    quantity: Decimal
    unit: str
    lot: str | None = None
    serial: str | None = None
    properties: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class PersonnelActual:
    person: str
    name: str
    minutes: Decimal


@dataclass(frozen=True)
class SegmentActuals:
    """What happened at one operation of an order."""

    operation_no: int
    name: str
    work_center: str
    status: str
    started_at: datetime | None
    completed_at: datetime | None
    good: Decimal
    scrap: Decimal
    rework: Decimal
    materials: tuple[MaterialActual, ...] = ()
    personnel: tuple[PersonnelActual, ...] = ()
    downtime: tuple[tuple[str, Decimal], ...] = ()  # reason code, minutes


@dataclass(frozen=True)
class OrderActuals:
    erp_order_id: str
    item: str
    quantity: Decimal
    unit: str
    execution_status: str
    bom_version: str
    routing_version: str
    segments: tuple[SegmentActuals, ...] = field(default=())

    @property
    def started_at(self) -> datetime | None:
        return min((s.started_at for s in self.segments if s.started_at), default=None)

    @property
    def completed_at(self) -> datetime | None:
        ends = [s.completed_at for s in self.segments]
        return None if not ends or None in ends else max(e for e in ends if e)


def performance_xml(
    document_id: str, orders: Sequence[OrderActuals], *, published: datetime, site: str
) -> bytes:
    """The OperationsPerformance document of the orders, UTF-8 with an XML declaration."""
    root = etree.Element(q("OperationsPerformance"), nsmap={None: NS})
    _add(root, "ID", document_id)
    _add(root, "Description", f"shopfloor actuals of {len(orders)} order(s)")
    _add(root, "PublishedDate", _time(published))
    starts = [o.started_at for o in orders if o.started_at]
    ends = [o.completed_at for o in orders if o.completed_at]
    if starts:
        _add(root, "StartTime", _time(min(starts)))
    if ends:
        _add(root, "Endtime", _time(max(ends)))  # sic: the V07 schema spells it so
    scope = _add(root, "HierarchyScope")
    _add(scope, "EquipmentID", site)
    _add(scope, "EquipmentLevel", "Site")
    _add(root, "OperationsType", "Production")
    for order in orders:
        root.append(_response(order))
    xml: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return xml


def _response(order: OrderActuals) -> Any:
    response = etree.Element(q("OperationsResponse"))
    _add(response, "ID", order.erp_order_id)
    _add(
        response,
        "Description",
        f"{fmt(order.quantity)} {order.unit} of {order.item}, BOM {order.bom_version}, "
        f"routing {order.routing_version}",
    )
    if order.started_at:
        _add(response, "StartTime", _time(order.started_at))
    if order.completed_at:
        _add(response, "EndTime", _time(order.completed_at))
    _add(response, "OperationsType", "Production")
    _add(response, "OperationsRequestID", order.erp_order_id)
    _add(response, "OperationsDefinitionID", order.routing_version)
    _add(response, "ResponseState", RESPONSE_STATE.get(order.execution_status, "Other"))
    for segment in order.segments:
        response.append(_segment(order, segment))
    return response


def _segment(order: OrderActuals, segment: SegmentActuals) -> Any:
    element = etree.Element(q("SegmentResponse"))
    _add(element, "ID", f"{order.erp_order_id}/{segment.operation_no}")
    _add(element, "Description", segment.name)
    if segment.started_at:
        _add(element, "ActualStartTime", _time(segment.started_at))
    if segment.completed_at:
        _add(element, "ActualEndTime", _time(segment.completed_at))
    _add(element, "OperationsType", "Production")
    _add(element, "ProcessSegmentID", segment.name)
    _add(element, "OperationsRequestID", order.erp_order_id)
    _add(element, "SegmentRequirementID", str(segment.operation_no))
    _add(element, "OperationsDefinitionID", order.routing_version)
    _add(element, "OperationsSegmentID", str(segment.operation_no))
    _add(element, "SegmentState", RESPONSE_STATE.get(segment.status, "Other"))
    for name, amount in (
        ("GoodQuantity", segment.good),
        ("ScrapQuantity", segment.scrap),
        ("ReworkQuantity", segment.rework),
    ):
        _data(element, name, fmt(amount), order.unit)
    _data(element, "BillOfMaterialID", order.bom_version)
    for person in segment.personnel:
        element.append(_personnel(person))
    element.append(_equipment(segment))
    for number, material in enumerate(segment.materials, start=1):
        element.append(_material(number, material))
    return element


def _personnel(person: PersonnelActual) -> Any:
    element = etree.Element(q("PersonnelActual"))
    _add(element, "ID", person.person)
    _add(element, "PersonID", person.person)
    _add(element, "Description", person.name)
    _add(element, "PersonnelUse", "Labour")
    _quantity(element, person.minutes, "min")
    return element


def _equipment(segment: SegmentActuals) -> Any:
    element = etree.Element(q("EquipmentActual"))
    _add(element, "ID", segment.work_center)
    _add(element, "EquipmentID", segment.work_center)
    _add(element, "EquipmentUse", "Production")
    if segment.started_at and segment.completed_at:
        elapsed = (segment.completed_at - segment.started_at).total_seconds()
        _quantity(element, qty(Decimal(str(elapsed)) / 60), "min")
    for reason, minutes in segment.downtime:
        prop = _add(element, "EquipmentActualProperty")
        _add(prop, "ID", f"Downtime:{reason}")
        _add(prop, "Description", f"downtime, reason {reason}")
        _quantity(prop, minutes, "min")
    return element


def _material(number: int, material: MaterialActual) -> Any:
    element = etree.Element(q("MaterialActual"))
    _add(element, "ID", f"{material.use}-{number}")
    _add(element, "MaterialDefinitionID", material.item)
    if material.lot:
        _add(element, "MaterialLotID", material.lot)
    if material.serial:
        _add(element, "MaterialSubLotID", material.serial)
    if material.use in MATERIAL_USE:
        _add(element, "MaterialUse", MATERIAL_USE[material.use])
    else:
        use = _add(element, "MaterialUse", "Other")
        use.set("OtherValue", OTHER_USE.get(material.use, material.use.title()))
    _quantity(element, material.quantity, material.unit)
    for name, value in material.properties:
        prop = _add(element, "MaterialActualProperty")
        _add(prop, "ID", name)
        holder = _add(prop, "Value")
        _add(holder, "ValueString", value)
    return element


def _add(parent: Any, name: str, text: str | None = None) -> Any:
    element = etree.SubElement(parent, q(name))
    if text is not None:
        element.text = text
    return element


def _quantity(parent: Any, amount: Decimal, unit: str) -> None:
    element = _add(parent, "Quantity")
    _add(element, "QuantityString", fmt(amount))
    _add(element, "UnitOfMeasure", unit)


def _data(parent: Any, name: str, value: str, unit: str | None = None) -> None:
    element = _add(parent, "SegmentData")
    _add(element, "ID", name)
    holder = _add(element, "Value")
    _add(holder, "ValueString", value)
    if unit:
        _add(holder, "UnitOfMeasure", unit)


def _time(moment: datetime) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")
