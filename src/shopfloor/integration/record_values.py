"""Field values of an inbound record, pure: JSON values or CSV text, both accepted.

ERP documents arrive as JSON ("quantity": 12.5, "lot_tracked": true), import files as CSV
text ("12.5", "yes"); the same record must mean the same thing whichever way it came, so
every reader here accepts both. A missing or malformed value raises ValueError with a
message naming the field: the record is rejected before any service is called.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, time
from decimal import Decimal, InvalidOperation
from typing import Any

from shopfloor.masterdata.domain import AlternativeSpec, BreakSpec

TRUE = frozenset({"true", "yes", "y", "1", "x"})
FALSE = frozenset({"false", "no", "n", "0"})
# Control characters have no place in a code or a name, and PostgreSQL refuses NUL: refused
# here, the same on every database.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _present(fields: Mapping[str, Any], name: str) -> bool:
    return fields.get(name) not in (None, "")


def text(fields: Mapping[str, Any], name: str, default: str | None = None) -> str:
    if not _present(fields, name):
        if default is not None:
            return default
        raise ValueError(f"'{name}' is missing")
    value = str(fields[name]).strip()
    if CONTROL.search(value):
        raise ValueError(f"'{name}' must not contain control characters")
    return value


def opt_text(fields: Mapping[str, Any], name: str) -> str | None:
    return text(fields, name) if _present(fields, name) else None


def decimal(fields: Mapping[str, Any], name: str, default: Decimal | None = None) -> Decimal:
    if not _present(fields, name):
        if default is not None:
            return default
        raise ValueError(f"'{name}' is missing")
    value = fields[name]
    if isinstance(value, bool):
        raise ValueError(f"'{name}' must be a number, not {value}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"'{name}' must be a number, not '{value}'") from None
    if not number.is_finite():
        raise ValueError(f"'{name}' must be a finite number, not '{value}'")
    return number


def integer(fields: Mapping[str, Any], name: str, default: int | None = None) -> int:
    number = decimal(fields, name, None if default is None else Decimal(default))
    if number != number.to_integral_value():
        raise ValueError(f"'{name}' must be a whole number, not '{fields[name]}'")
    return int(number)


def opt_integer(fields: Mapping[str, Any], name: str) -> int | None:
    return integer(fields, name) if _present(fields, name) else None


def boolean(fields: Mapping[str, Any], name: str, default: bool = False) -> bool:
    if not _present(fields, name):
        return default
    value = fields[name]
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE or word in FALSE:
        return word in TRUE
    raise ValueError(f"'{name}' must be true or false, not '{value}'")


def day(fields: Mapping[str, Any], name: str) -> date:
    if not _present(fields, name):
        raise ValueError(f"'{name}' is missing")
    try:
        return date.fromisoformat(str(fields[name]).strip())
    except ValueError:
        raise ValueError(f"'{name}' must be a date like 2026-03-02, not '{fields[name]}'") from None


def opt_day(fields: Mapping[str, Any], name: str) -> date | None:
    return day(fields, name) if _present(fields, name) else None


def clock(fields: Mapping[str, Any], name: str) -> time:
    if not _present(fields, name):
        raise ValueError(f"'{name}' is missing")
    try:
        return time.fromisoformat(str(fields[name]).strip())
    except ValueError:
        raise ValueError(f"'{name}' must be a time like 06:00, not '{fields[name]}'") from None


def weekdays(fields: Mapping[str, Any], name: str = "weekdays") -> list[int]:
    """[0, 1, 2] or "0,1,2" or "0-4" (0 = Monday)."""
    value = fields.get(name)
    if value in (None, ""):
        raise ValueError(f"'{name}' is missing")
    if isinstance(value, list):
        parts = [str(v) for v in value]
    else:
        parts = [p for p in re.split(r"[,;\s]+", str(value).strip()) if p]
    days: list[int] = []
    for part in parts:
        match = re.fullmatch(r"(\d)(?:-(\d))?", part)
        if not match:
            raise ValueError(f"'{name}' lists weekdays as numbers 0-6 or ranges like 0-4")
        first, last = int(match[1]), int(match[2] or match[1])
        days.extend(range(first, last + 1))
    return days


def names(fields: Mapping[str, Any], name: str) -> list[str]:
    """A list of names: a JSON list or "a;b;c" (commas allowed too)."""
    value = fields.get(name)
    if value in (None, ""):
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value]
    return [p.strip() for p in re.split(r"[;,]", str(value)) if p.strip()]


def objects(fields: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
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
        for b in objects({"breaks": value}, "breaks")
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
        for a in objects({"alternatives": value}, "alternatives")
    )
