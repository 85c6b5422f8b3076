"""Reading an import file into records, pure: no database, no console.

A file holds master data or orders as JSON (a list of objects of one kind, or an object keyed
by kind) or CSV (one kind per file, named by `--kind` or by the file name, e.g. items.csv).
BOM and routing versions arrive in CSV as one row per line or operation; the rows of one
item + version are grouped into one record, so a version is imported whole or not at all.
Each record keeps the row numbers it came from, for the report of rejected rows.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

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
# CSV columns of one BOM line / routing operation; every other column describes the version.
# A BOM line's component is the column `component`; the BOM's own quantity is `bom_quantity`.
LINE_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "boms": (
        "line_no",
        "component",
        "quantity",
        "uom",
        "tolerance_pct",
        "operation_no",
        "alternatives",
    ),
    "routings": (
        "operation_no",
        "name",
        "work_center",
        "setup_minutes",
        "ideal_cycle_seconds",
        "skill",
    ),
}
LIST_FIELD = {"boms": "lines", "routings": "operations"}
TRUE = frozenset({"true", "yes", "y", "1", "x"})
FALSE = frozenset({"false", "no", "n", "0"})


class ImportFileError(Exception):
    """The file cannot be read as an import at all (exit code 2); nothing was imported."""


@dataclass(frozen=True)
class Record:
    """One thing to import: a kind, its fields, and the file rows it came from.

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
        first, last = min(self.rows), max(self.rows)
        return str(first) if first == last else f"{first}-{last}"


def canonical_kind(name: str) -> str:
    """The import kind a name stands for ('uoms' → 'units', 'Quality-Codes' → 'quality_codes')."""
    norm = name.strip().lower().replace("-", "_").replace(" ", "_")
    norm = ALIASES.get(norm, norm)
    if norm not in KINDS:
        raise ImportFileError(f"'{name}' is not an import kind; use one of {', '.join(KINDS)}")
    return norm


def key_of(kind: str, fields: Mapping[str, Any]) -> str:
    """The record's name in the report: its code, or item + version, or ERP order id."""
    names = KEYS.get(kind, ("code",))
    parts = [str(fields.get(name)) for name in names if fields.get(name) not in (None, "")]
    return " ".join(parts) if parts else "?"


def _record(
    kind: str, rows: tuple[int, ...], fields: Mapping[str, Any], problem: str | None = None
) -> Record:
    return Record(kind, rows, fields, problem, key_of(kind, fields))


# --- files --------------------------------------------------------------------------------


def read_file(path: Path, kind: str | None = None) -> list[Record]:
    """Every record of the file, in the order they are to be applied (see KINDS)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise ImportFileError(f"{path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFileError(f"{path} cannot be read: {exc}") from exc
    wanted = canonical_kind(kind) if kind else None
    if path.suffix.lower() == ".json":
        records = parse_json(text, wanted)
    elif path.suffix.lower() in (".csv", ".txt"):
        records = parse_csv(text, wanted or kind_from_name(path))
    else:
        raise ImportFileError(f"{path.name}: only .json and .csv files can be imported")
    return sorted(records, key=lambda record: KINDS.index(record.kind))


def kind_from_name(path: Path) -> str:
    """The kind a CSV file name says: 'items.csv', 'plant-boms.csv', 'routings_2026.csv'."""
    stem = path.stem.lower().replace("-", "_")
    for name in sorted(set(KINDS) | set(ALIASES), key=len, reverse=True):
        if stem == name or stem.endswith("_" + name) or stem.startswith(name + "_"):
            return ALIASES.get(name, name)
    raise ImportFileError(
        f"{path.name}: cannot tell what the file holds; name the kind with --kind "
        f"({', '.join(KINDS)})"
    )


def parse_json(text: str, kind: str | None = None) -> list[Record]:
    """A list of objects of one kind (`kind`, or a "kind" field in each object), or an object
    keyed by kind. Row numbers count the objects of each list from 1."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFileError(f"not valid JSON: {exc}") from exc
    if isinstance(document, list):
        return _json_list(document, kind)
    if isinstance(document, dict):
        records: list[Record] = []
        for name, entries in document.items():
            found = canonical_kind(name)
            if kind is not None and found != kind:
                continue
            if not isinstance(entries, list):
                raise ImportFileError(f"'{name}' must hold a list of objects")
            records.extend(_json_list(entries, found))
        return records
    raise ImportFileError("a JSON import is a list of objects or an object keyed by kind")


def _json_list(entries: list[Any], kind: str | None) -> list[Record]:
    records = []
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            records.append(_record(kind or "items", (number,), {}, "not a JSON object"))
            continue
        fields = {k: v for k, v in entry.items() if k != "kind"}
        found = kind
        if found is None:
            if "kind" not in entry:
                raise ImportFileError(
                    'the list does not say what it holds: give --kind or a "kind" field '
                    "in every object"
                )
            try:
                found = canonical_kind(str(entry["kind"]))
            except ImportFileError as exc:
                records.append(_record("items", (number,), fields, str(exc)))
                continue
        records.append(_record(found, (number,), fields))
    return records


def parse_csv(text: str, kind: str) -> list[Record]:
    """One kind per file, a header row, one record per row. A row's number is its line in the
    file (the header is line 1), as a spreadsheet or an editor shows it. BOM and routing rows
    are grouped by item and version."""
    kind = canonical_kind(kind)
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or not any(name and name.strip() for name in reader.fieldnames):
        raise ImportFileError("the CSV file has no header row")
    rows: list[tuple[int, dict[str, Any]]] = []
    for raw in reader:
        number = reader.line_num
        values = {
            (name or "").strip(): value.strip() if isinstance(value, str) else value
            for name, value in raw.items()
            if name is not None and name.strip()
        }
        if None in raw:
            problem = "the row has more cells than the header"
            rows.append((number, {**values, "__problem__": problem}))
            continue
        if all(value in (None, "") for value in values.values()):
            continue
        rows.append((number, {k: v for k, v in values.items() if v not in (None, "")}))
    if kind in LINE_COLUMNS:
        return group_lines(kind, rows)
    return [_flat_record(kind, number, values) for number, values in rows]


def _flat_record(kind: str, number: int, values: dict[str, Any]) -> Record:
    problem = values.pop("__problem__", None)
    attributes = {k.split(".", 1)[1]: v for k, v in values.items() if k.startswith("attr.")}
    fields: dict[str, Any] = {k: v for k, v in values.items() if not k.startswith("attr.")}
    if attributes:
        fields["attributes"] = attributes
    return _record(kind, (number,), fields, problem)


def group_lines(kind: str, rows: Iterable[tuple[int, Mapping[str, Any]]]) -> list[Record]:
    """Rows of BOM lines or routing operations → one record per item + version.

    The version columns (item, version, effective dates, BOM quantity) may be repeated on
    every row or given on the first only; rows that disagree make the version a rejected
    record rather than a guess.
    """
    line_columns = LINE_COLUMNS[kind]
    groups: dict[tuple[str, str], list[tuple[int, Mapping[str, Any]]]] = {}
    for number, values in rows:
        group = (str(values.get("item", "")), str(values.get("version", "")))
        groups.setdefault(group, []).append((number, values))
    records = []
    for (item, version), members in groups.items():
        numbers = tuple(number for number, _ in members)
        header: dict[str, Any] = {}
        lines: list[dict[str, Any]] = []
        problem = next((v.get("__problem__") for _, v in members if v.get("__problem__")), None)
        for number, values in members:
            for name, value in values.items():
                if name in line_columns or name == "__problem__":
                    continue
                name = "quantity" if name == "bom_quantity" else name
                if name in header and header[name] != value and problem is None:
                    problem = (
                        f"row {number}: {name} is '{value}' but an earlier row of "
                        f"{item} {version} says '{header[name]}'"
                    )
                header.setdefault(name, value)
            line = {name: values[name] for name in line_columns if name in values}
            if "component" in line:
                line["item"] = line.pop("component")
            lines.append(line)
        if not item or not version:
            problem = problem or "every row needs the item and the version"
        header[LIST_FIELD[kind]] = lines
        records.append(_record(kind, numbers, header, problem))
    return records


# --- values: JSON values or CSV text ("12.5" and 12.5, "yes" and true) ---------------


def _present(fields: Mapping[str, Any], name: str) -> bool:
    return fields.get(name) not in (None, "")


def text(fields: Mapping[str, Any], name: str, default: str | None = None) -> str:
    if not _present(fields, name):
        if default is not None:
            return default
        raise ValueError(f"'{name}' is missing")
    return str(fields[name]).strip()


def opt_text(fields: Mapping[str, Any], name: str) -> str | None:
    return str(fields[name]).strip() if _present(fields, name) else None


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
