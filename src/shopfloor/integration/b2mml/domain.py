"""B2MML OperationsSchedule → inbound order documents, pure: no database, no files.

An ISA-95 OperationsSchedule is ERP's plan; each OperationsRequest in it is one production
order. The mapping (docs/b2mml.md has the table):

- OperationsRequest/ID → `erp_order_id`; Version → `erp_version` (a whole number ≥ 1; left
  out, the import's default 1 applies); Priority → `priority` (whole number);
- RequestState (or the schedule's ScheduleState) → `erp_status`: Forecast and Waiting are
  `created`; Released, Ready and Running are `released`; Completed, Closed, Cancelled and
  Aborted are `closed`. Held, Suspended and Other have no ERP status in shopfloor and are
  refused rather than guessed;
- EndTime (else the latest SegmentRequirement/LatestEndTime, else the schedule's EndTime)
  → `due_date`, the date as written;
- OperationsDefinitionID (of the request, else the one all its segment requirements name)
  → `routing_version`;
- the MaterialRequirement whose MaterialUse is Produced → `item` (MaterialDefinitionID),
  `quantity` and `uom` (its Quantity); its MaterialRequirementProperty `BillOfMaterialID`
  → `bom_version`. Several segments may list the product; they must name the same
  material, and the last one (the finished product) gives the quantity.

Consumed material requirements are not mapped: shopfloor expands the order's BOM version
itself (ERP owns the normative BOM), and a requirement names a material without the item
master behind it (name, lot tracking), which an import must not overwrite with less.

A document that cannot be mapped is refused whole, with every problem and its line, like
a schema violation: a schedule is applied completely or not at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from shopfloor.integration.erp.ports import InboundDocument

NS = "http://www.mesa.org/xml/B2MML"
SCHEDULE_ROOTS = (
    "OperationsSchedule",
    "ProcessOperationsSchedule",
    "SyncOperationsSchedule",
    "ChangeOperationsSchedule",
)
PERFORMANCE_ROOTS = (
    "OperationsPerformance",
    "ProcessOperationsPerformance",
    "SyncOperationsPerformance",
    "ShowOperationsPerformance",
)
ERP_STATUS_OF_STATE = {
    "Forecast": "created",
    "Waiting": "created",
    "Released": "released",
    "Ready": "released",
    "Running": "released",
    "Completed": "closed",
    "Closed": "closed",
    "Cancelled": "closed",
    "Aborted": "closed",
}
BOM_PROPERTY = "BillOfMaterialID"


def q(name: str) -> str:
    """The qualified tag of a B2MML element."""
    return f"{{{NS}}}{name}"


@dataclass(frozen=True)
class Violation:
    """One reason a document is refused: where (line, path) and what."""

    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "document"
        return f"{where}: {self.path + ': ' if self.path else ''}{self.message}"


def local_name(element: Any) -> str:
    tag = str(element.tag)
    return tag.rsplit("}", 1)[-1]


def element_path(element: Any) -> str:
    """A readable path: /OperationsSchedule/OperationsRequest[2]/Priority (an index only
    where siblings share the name)."""
    parts: list[str] = []
    node = element
    while node is not None:
        parent = node.getparent()
        name = local_name(node)
        if parent is not None:
            same = [child for child in parent if child.tag == node.tag]
            if len(same) > 1:
                name += f"[{same.index(node) + 1}]"
        parts.append(name)
        node = parent
    return "/" + "/".join(reversed(parts))


def violation_at(element: Any, message: str) -> Violation:
    line: int | None = element.sourceline
    return Violation(line, element_path(element), message)


def _child(element: Any, name: str) -> Any:
    return element.find(q(name))


def _text(element: Any, name: str) -> str | None:
    found = _child(element, name)
    if found is None or found.text is None:
        return None
    value: str = " ".join(str(found.text).split())
    return value or None


def schedules_in(root: Any) -> list[Any]:
    """The OperationsSchedule elements of a document: the root itself, or those inside the
    DataArea of a Process/Sync/Change message."""
    if local_name(root) == "OperationsSchedule":
        return [root]
    area = _child(root, "DataArea")
    return [] if area is None else list(area.iter(q("OperationsSchedule")))


def schedule_documents(root: Any) -> tuple[list[InboundDocument], list[Violation]]:
    """Every OperationsRequest of a valid schedule document as an `order` document, or the
    problems that keep it from being mapped (then no document is returned)."""
    documents: list[InboundDocument] = []
    problems: list[Violation] = []
    seen: dict[str, int | None] = {}
    for schedule in schedules_in(root):
        for request in schedule.iter(q("OperationsRequest")):
            fields, found = order_fields(request, schedule)
            problems.extend(found)
            if not found:
                key = fields["erp_order_id"]
                if key in seen:
                    problems.append(
                        violation_at(
                            request, f"order {key} is requested twice (first at line {seen[key]})"
                        )
                    )
                    continue
                seen[key] = request.sourceline
                version = fields.get("erp_version", 1)
                documents.append(InboundDocument(f"b2mml:order:{key}:{version}", "order", fields))
    if not documents and not problems:
        problems.append(violation_at(root, "the document holds no OperationsRequest"))
    return ([] if problems else documents), problems


def order_fields(request: Any, schedule: Any) -> tuple[dict[str, Any], list[Violation]]:
    """The `shopfloor import` order record of one OperationsRequest, and its problems."""
    problems: list[Violation] = []
    fields: dict[str, Any] = {"erp_order_id": _text(request, "ID"), "origin": "erp"}
    version = _whole(request, "Version", problems, minimum=1)
    if version is not None:
        fields["erp_version"] = version
    priority = _whole(request, "Priority", problems, minimum=0)
    if priority is not None:
        fields["priority"] = priority
    status = _erp_status(request, schedule, problems)
    if status is not None:
        fields["erp_status"] = status
    due = _due_date(request, schedule, problems)
    if due is not None:
        fields["due_date"] = due.isoformat()
    routing = _routing_version(request, problems)
    if routing is not None:
        fields["routing_version"] = routing
    fields.update(_product(request, problems))
    return fields, problems


def _whole(element: Any, name: str, problems: list[Violation], *, minimum: int) -> int | None:
    found = _child(element, name)
    value = _text(element, name)
    if value is None:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite() or number != number.to_integral_value() or number < minimum:
        problems.append(violation_at(found, f"{name} must be a whole number of at least {minimum}"))
        return None
    return int(number)


def _erp_status(request: Any, schedule: Any, problems: list[Violation]) -> str | None:
    element = _child(request, "RequestState")
    if element is None:
        element = _child(schedule, "ScheduleState")
    if element is None or not (element.text or "").strip():
        return None
    state = str(element.text).strip()
    if state not in ERP_STATUS_OF_STATE:
        known = ", ".join(ERP_STATUS_OF_STATE)
        problems.append(
            violation_at(element, f"state '{state}' has no ERP status in shopfloor; use {known}")
        )
        return None
    return ERP_STATUS_OF_STATE[state]


def _date_of(element: Any, problems: list[Violation]) -> date | None:
    try:
        return date.fromisoformat(str(element.text).strip()[:10])
    except ValueError:
        problems.append(violation_at(element, "not a date and time like 2026-03-06T16:00:00Z"))
        return None


def _due_date(request: Any, schedule: Any, problems: list[Violation]) -> date | None:
    end = _child(request, "EndTime")
    if end is not None:
        return _date_of(end, problems)
    latest = [
        found
        for element in _segments(request)
        if (found := _child(element, "LatestEndTime")) is not None
    ]
    if latest:
        dates = [_date_of(element, problems) for element in latest]
        return max((d for d in dates if d is not None), default=None)
    end = _child(schedule, "EndTime")
    if end is not None:
        return _date_of(end, problems)
    problems.append(
        violation_at(request, "no due date: give OperationsRequest/EndTime (or LatestEndTime)")
    )
    return None


def _segments(request: Any) -> Iterator[Any]:
    yield from request.iter(q("SegmentRequirement"), q("SegmentRequirementChild"))


def _routing_version(request: Any, problems: list[Violation]) -> str | None:
    own = _text(request, "OperationsDefinitionID")
    if own is not None:
        return own
    named = {_text(s, "OperationsDefinitionID") for s in _segments(request)} - {None}
    if len(named) > 1:
        listed = ", ".join(sorted(str(n) for n in named))
        problems.append(
            violation_at(
                request,
                f"the segment requirements name different operations definitions ({listed}); "
                "give OperationsRequest/OperationsDefinitionID",
            )
        )
        return None
    return named.pop() if named else None


def _product(request: Any, problems: list[Violation]) -> dict[str, Any]:
    produced = [
        element
        for element in request.iter(q("MaterialRequirement"))
        if _text(element, "MaterialUse") == "Produced"
    ]
    if not produced:
        problems.append(
            violation_at(
                request, "no MaterialRequirement with MaterialUse 'Produced' names the product"
            )
        )
        return {}
    materials = list(dict.fromkeys(_text(element, "MaterialDefinitionID") for element in produced))
    if None in materials or len(materials) != 1:
        problems.append(
            violation_at(
                produced[0],
                "the produced material must be named by one MaterialDefinitionID "
                f"(found: {', '.join(str(m) for m in materials)})",
            )
        )
        return {}
    last = produced[-1]
    fields: dict[str, Any] = {"item": materials[0]}
    fields.update(_quantity(last, problems))
    boms = {bom for element in produced if (bom := _property(element, BOM_PROPERTY)) is not None}
    if len(boms) > 1:
        problems.append(violation_at(last, f"{BOM_PROPERTY} differs between segments"))
    elif boms:
        fields["bom_version"] = boms.pop()
    return fields


def _quantity(requirement: Any, problems: list[Violation]) -> dict[str, str]:
    element = _child(requirement, "Quantity")
    if element is None:
        problems.append(violation_at(requirement, "the produced material has no Quantity"))
        return {}
    amount, unit = _text(element, "QuantityString"), _text(element, "UnitOfMeasure")
    found: dict[str, str] = {}
    try:
        number = Decimal(amount or "")
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite() or number <= 0:
        problems.append(violation_at(element, f"quantity '{amount}' is not a positive number"))
    else:
        found["quantity"] = amount or ""
    if unit is None:
        problems.append(violation_at(element, "the quantity needs its UnitOfMeasure"))
    else:
        found["uom"] = unit
    return found


def _property(requirement: Any, name: str) -> str | None:
    for prop in requirement.iter(q("MaterialRequirementProperty")):
        if _text(prop, "ID") == name:
            value = _child(prop, "Value")
            return None if value is None else _text(value, "ValueString")
    return None
