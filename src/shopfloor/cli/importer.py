"""Reading an import file into records, pure: no database, no console.

A file holds master data or orders as JSON (a list of objects of one kind, or an object keyed
by kind) or CSV (one kind per file, named by `--kind` or by the file name, e.g. items.csv).
BOM and routing versions arrive in CSV as one row per line or operation; the rows of one
item + version are grouped into one record, so a version is imported whole or not at all.
Each record keeps the row numbers it came from, for the report of rejected rows. What a
record means and how it is applied is shared with the ERP inbox: `integration.records`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from shopfloor.integration import records as shared
from shopfloor.integration.records import ALIASES, KINDS, Record, UnknownKind

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


class ImportFileError(Exception):
    """The file cannot be read as an import at all (exit code 2); nothing was imported."""


def canonical_kind(name: str) -> str:
    """The import kind a name stands for ('uoms' → 'units', 'Quality-Codes' → 'quality_codes')."""
    try:
        return shared.canonical_kind(name)
    except UnknownKind as exc:
        raise ImportFileError(str(exc)) from None


_record = shared.make_record


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


__all__ = ["KINDS", "ImportFileError", "Record", "canonical_kind", "read_file"]
