"""What each import record asks of a service, pure: checked, typed keyword arguments.

Values come as JSON values or CSV text; both are accepted ("12.5" and 12.5, "yes" and true).
A missing or malformed value raises ValueError with a message naming the field, and the
record is rejected without touching the database.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from shopfloor.cli.importer import (
    Record,
    boolean,
    clock,
    day,
    decimal,
    integer,
    names,
    opt_day,
    opt_integer,
    opt_text,
    text,
    weekdays,
)
from shopfloor.masterdata.domain import AlternativeSpec, BomLineSpec, BreakSpec, OperationSpec


@dataclass(frozen=True)
class ServiceCall:
    """The service function to call (by name, see `import_run.SERVICES`) and its arguments."""

    service: str
    kwargs: dict[str, Any]


def _objects(fields: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    value = fields.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise ValueError(f"'{name}' must be a list of objects")
    return value


def breaks(fields: Mapping[str, Any]) -> list[BreakSpec]:
    """[{"name", "offset_minutes", "minutes"}] or "Lunch:240:30;Coffee:120:15"."""
    value = fields.get("breaks")
    if value in (None, "", []):
        return []
    if isinstance(value, str):
        found = []
        for part in filter(None, (p.strip() for p in value.split(";"))):
            pieces = part.split(":")
            if len(pieces) != 3:
                raise ValueError("'breaks' reads like 'Lunch:240:30;Coffee:120:15'")
            found.append({"name": pieces[0], "offset_minutes": pieces[1], "minutes": pieces[2]})
        value = found
    return [
        BreakSpec(text(b, "name"), integer(b, "offset_minutes"), integer(b, "minutes"))
        for b in _objects({"breaks": value}, "breaks")
    ]


def alternatives(line: Mapping[str, Any]) -> tuple[AlternativeSpec, ...]:
    """[{"item", "ratio"}] or "CABLE-B:1;CABLE-C:2" (ratio 1 when left out)."""
    value = line.get("alternatives")
    if value in (None, "", []):
        return ()
    if isinstance(value, str):
        value = [
            {"item": part.split(":")[0].strip(), "ratio": [*part.split(":"), "1"][1].strip()}
            for part in value.split(";")
            if part.strip()
        ]
    return tuple(
        AlternativeSpec(text(a, "item"), decimal(a, "ratio", Decimal(1)))
        for a in _objects({"alternatives": value}, "alternatives")
    )


# --- records ------------------------------------------------------------------------------


def _bom(f: Mapping[str, Any]) -> dict[str, Any]:
    lines = []
    for position, line in enumerate(_objects(f, "lines"), start=1):
        try:
            lines.append(
                BomLineSpec(
                    line_no=integer(line, "line_no"),
                    item_code=text(line, "item"),
                    quantity=decimal(line, "quantity"),
                    uom_code=text(line, "uom"),
                    tolerance_pct=decimal(line, "tolerance_pct", Decimal(0)),
                    operation_no=opt_integer(line, "operation_no"),
                    alternatives=alternatives(line),
                )
            )
        except ValueError as exc:
            raise ValueError(f"line {position}: {exc}") from None
    return {
        "item_code": text(f, "item"),
        "version": text(f, "version"),
        "quantity": decimal(f, "quantity", Decimal(1)),
        "effective_from": day(f, "effective_from"),
        "effective_to": opt_day(f, "effective_to"),
        "lines": lines,
    }


def _routing(f: Mapping[str, Any]) -> dict[str, Any]:
    operations = []
    for position, op in enumerate(_objects(f, "operations"), start=1):
        try:
            operations.append(
                OperationSpec(
                    operation_no=integer(op, "operation_no"),
                    name=text(op, "name"),
                    work_center_code=text(op, "work_center"),
                    setup_minutes=decimal(op, "setup_minutes", Decimal(0)),
                    ideal_cycle_seconds=decimal(op, "ideal_cycle_seconds", Decimal(0)),
                    required_skill_code=opt_text(op, "skill"),
                )
            )
        except ValueError as exc:
            raise ValueError(f"operation {position}: {exc}") from None
    return {
        "item_code": text(f, "item"),
        "version": text(f, "version"),
        "effective_from": day(f, "effective_from"),
        "effective_to": opt_day(f, "effective_to"),
        "operations": operations,
    }


def _attributes(f: Mapping[str, Any]) -> dict[str, str]:
    value = f.get("attributes") or {}
    if not isinstance(value, Mapping):
        raise ValueError("'attributes' must be an object of names and values")
    return {str(k): str(v) for k, v in value.items()}


BUILDERS: Mapping[str, tuple[str, Callable[[Mapping[str, Any]], dict[str, Any]]]] = {
    "units": (
        "upsert_uom",
        lambda f: {
            "code": text(f, "code"),
            "name": text(f, "name", text(f, "code")),
            "dimension": text(f, "dimension", "count"),
        },
    ),
    "calendars": (
        "upsert_shift_calendar",
        lambda f: {
            "code": text(f, "code"),
            "name": text(f, "name", text(f, "code")),
            "timezone": text(f, "timezone", "UTC"),
        },
    ),
    "shifts": (
        "upsert_shift",
        lambda f: {
            "calendar_code": text(f, "calendar"),
            "code": text(f, "code"),
            "name": text(f, "name", text(f, "code")),
            "starts_at": clock(f, "starts_at"),
            "minutes": integer(f, "minutes"),
            "weekdays": weekdays(f),
            "breaks": breaks(f),
        },
    ),
    "equipment": (
        "upsert_equipment",
        lambda f: {
            "code": text(f, "code"),
            "name": text(f, "name", text(f, "code")),
            "level": text(f, "level", "work_center"),
            "parent_code": opt_text(f, "parent"),
            "calendar_code": opt_text(f, "calendar"),
        },
    ),
    "skills": (
        "upsert_skill",
        lambda f: {"code": text(f, "code"), "name": text(f, "name", text(f, "code"))},
    ),
    "items": (
        "upsert_item",
        lambda f: {
            "code": text(f, "code"),
            "name": text(f, "name", text(f, "code")),
            "uom_code": text(f, "uom"),
            "lot_tracked": boolean(f, "lot_tracked"),
            "serial_tracked": boolean(f, "serial_tracked"),
            "erp_version": opt_text(f, "erp_version"),
            "attributes": _attributes(f),
        },
    ),
    "conversions": (
        "upsert_uom_conversion",
        lambda f: {
            "from_uom_code": text(f, "from"),
            "to_uom_code": text(f, "to"),
            "factor": decimal(f, "factor"),
            "item_code": opt_text(f, "item"),
        },
    ),
    "downtime_reasons": (
        "upsert_downtime_reason",
        lambda f: {
            "code": text(f, "code"),
            "name": text(f, "name", text(f, "code")),
            "level": text(f, "level", "reason"),
            "parent_code": opt_text(f, "parent"),
            "planned": boolean(f, "planned"),
        },
    ),
    "quality_codes": (
        "upsert_quality_code",
        lambda f: {
            "code": text(f, "code"),
            "name": text(f, "name", text(f, "code")),
            "kind": text(f, "kind"),
        },
    ),
    "crews": (
        "upsert_crew",
        lambda f: {
            "code": text(f, "code"),
            "name": text(f, "name", text(f, "code")),
            "shift_code": opt_text(f, "shift"),
            "calendar_code": opt_text(f, "calendar"),
            "members": names(f, "members"),
        },
    ),
    "certifications": (
        "grant_certification",
        lambda f: {
            "username": text(f, "user"),
            "skill_code": text(f, "skill"),
            "valid_from": day(f, "valid_from"),
            "expires_on": opt_day(f, "expires_on"),
        },
    ),
    "boms": ("upsert_bom_version", _bom),
    "routings": ("upsert_routing_version", _routing),
    "lots": (
        "register_lot",
        lambda f: {
            "item_code": text(f, "item"),
            "lot_code": text(f, "lot"),
            "origin": text(f, "origin", "erp_receipt"),
            "expires_on": opt_day(f, "expires_on"),
            "status": text(f, "status", "released"),
        },
    ),
    "orders": (
        "upsert_order",
        lambda f: {
            "erp_order_id": text(f, "erp_order_id"),
            "erp_version": integer(f, "erp_version", 1),
            "item_code": text(f, "item"),
            "quantity": decimal(f, "quantity"),
            "uom_code": text(f, "uom"),
            "due_date": day(f, "due_date"),
            "priority": integer(f, "priority", 5),
            "erp_status": text(f, "erp_status", "created"),
            "bom_version": opt_text(f, "bom_version"),
            "routing_version": opt_text(f, "routing_version"),
            "origin": text(f, "origin", "erp"),
        },
    ),
}


def service_call(record: Record) -> ServiceCall:
    """The checked service call for one record; ValueError says what is wrong with it."""
    if record.problem:
        raise ValueError(record.problem)
    service, build = BUILDERS[record.kind]
    return ServiceCall(service, build(record.fields))
