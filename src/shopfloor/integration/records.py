"""Inbound records and the rules that turn one into a service call, shared by every route in.

`shopfloor import` (JSON/CSV files), the ERP inbox (pushed to `POST /api/v1/erp/inbox` or
pulled by an ERP adapter) and anything else bringing master data or orders in describe a
record the same way: a kind (items, boms, routings, orders …) and its fields. Whichever
way a record came, it is checked by the same builder and applied by the same service
function (`record_apply.py`), so the plant's rules cannot differ between the file import
and the ERP feed. Pure: no database here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from shopfloor.integration.record_values import (
    alternatives,
    boolean,
    breaks,
    clock,
    day,
    decimal,
    integer,
    names,
    objects,
    opt_day,
    opt_integer,
    opt_text,
    text,
    weekdays,
)
from shopfloor.masterdata.domain import BomLineSpec, OperationSpec

# Kinds in the order they are applied: whatever a record refers to is imported before it.
KINDS = (
    "units",
    "calendars",
    "shifts",
    "equipment",
    "skills",
    "items",
    "conversions",
    "downtime_reasons",
    "quality_codes",
    "crews",
    "certifications",
    "boms",
    "routings",
    "lots",
    "orders",
)
ALIASES = {
    "uom": "units",
    "uoms": "units",
    "unit": "units",
    "item": "items",
    "bom": "boms",
    "routing": "routings",
    "order": "orders",
    "production_orders": "orders",
    "work_centers": "equipment",
    "reasons": "downtime_reasons",
    "codes": "quality_codes",
    "shift_calendars": "calendars",
    "lot": "lots",
}
# The fields that name a record (shown in the report, used to group CSV lines).
KEYS: Mapping[str, tuple[str, ...]] = {
    "conversions": ("from", "to", "item"),
    "shifts": ("calendar", "code"),
    "certifications": ("user", "skill", "valid_from"),
    "boms": ("item", "version"),
    "routings": ("item", "version"),
    "lots": ("item", "lot"),
    "orders": ("erp_order_id",),
}


class UnknownKind(ValueError):
    """The name is not a kind of record shopfloor imports."""


@dataclass(frozen=True)
class Record:
    """One thing to import: a kind, its fields, and the file rows it came from (none for
    an ERP document).

    `problem` is set when the rows could not be put together (the runner rejects the record
    with that message without calling any service).
    """

    kind: str
    rows: tuple[int, ...]
    fields: Mapping[str, Any]
    problem: str | None = None
    key: str = field(default="")

    @property
    def row_label(self) -> str:
        if not self.rows:
            return "-"
        first, last = min(self.rows), max(self.rows)
        return str(first) if first == last else f"{first}-{last}"


def canonical_kind(name: str) -> str:
    """The import kind a name stands for ('uoms' → 'units', 'Quality-Codes' → 'quality_codes')."""
    norm = name.strip().lower().replace("-", "_").replace(" ", "_")
    norm = ALIASES.get(norm, norm)
    if norm not in KINDS:
        raise UnknownKind(f"'{name}' is not an import kind; use one of {', '.join(KINDS)}")
    return norm


def key_of(kind: str, fields: Mapping[str, Any]) -> str:
    """The record's name in the report: its code, or item + version, or ERP order id."""
    naming = KEYS.get(kind, ("code",))
    parts = [str(fields.get(name)) for name in naming if fields.get(name) not in (None, "")]
    return " ".join(parts) if parts else "?"


def make_record(
    kind: str, rows: tuple[int, ...], fields: Mapping[str, Any], problem: str | None = None
) -> Record:
    return Record(kind, rows, fields, problem, key_of(kind, fields))


@dataclass(frozen=True)
class ServiceCall:
    """The service function to call (by name, see `record_apply.SERVICES`) and its arguments."""

    service: str
    kwargs: dict[str, Any]


# --- records ------------------------------------------------------------------------------


def _bom(f: Mapping[str, Any]) -> dict[str, Any]:
    lines = []
    for position, line in enumerate(objects(f, "lines"), start=1):
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
    for position, op in enumerate(objects(f, "operations"), start=1):
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
