"""Master-data rules, pure: unit conversion, effective versions, the ISA-95 hierarchy, the
reason tree, certifications, shifts, and what a BOM or routing version contains.

ERP owns items, BOMs and routings; shopfloor caches versions of them. A version, once
recorded, never changes its content, because every fact on the floor names the exact
version it was recorded against.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, time
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shopfloor.kernel.errors import RuleViolation
from shopfloor.kernel.quantities import fmt, qty

EQUIPMENT_LEVELS = ("enterprise", "site", "area", "line", "work_center", "equipment")
REASON_LEVELS = ("category", "reason", "detail")
QUALITY_KINDS = ("scrap", "defect", "rework")
DIMENSIONS = ("count", "mass", "length", "area", "volume", "time")
MINUTES_PER_DAY = 24 * 60


# --- unit conversion -------------------------------------------------------------------


@dataclass(frozen=True)
class Conversion:
    """`1 from_code = factor * to_code`; `item_specific` for conversions of one item only."""

    from_code: str
    to_code: str
    factor: Decimal
    item_specific: bool = False


def check_factor(from_code: str, to_code: str, factor: Decimal) -> None:
    """A conversion links two different units by a positive factor."""
    if from_code == to_code:
        raise RuleViolation(f"a conversion from {from_code} to itself is not needed")
    if factor <= 0:
        raise RuleViolation(
            f"the factor from {from_code} to {to_code} must be positive, not {fmt(factor)}"
        )


def check_generic_dimensions(from_code: str, to_code: str, dimensions: Mapping[str, str]) -> None:
    """A conversion for every item stays within one dimension (kg↔g, never kg↔pcs):
    crossing dimensions depends on the item and needs an item-specific conversion."""
    one, other = dimensions.get(from_code), dimensions.get(to_code)
    if one != other:
        raise RuleViolation(
            f"{from_code} measures {one} and {to_code} measures {other}; "
            "a conversion across dimensions must name the item it holds for"
        )


def _conversion_graph(
    conversions: Iterable[Conversion], dimensions: Mapping[str, str] | None
) -> dict[str, dict[str, Decimal]]:
    """Edges both ways; for one pair of units an item-specific factor replaces a generic one."""
    chosen: dict[frozenset[str], Conversion] = {}
    for conversion in conversions:
        pair = frozenset((conversion.from_code, conversion.to_code))
        if (
            dimensions is not None
            and not conversion.item_specific
            and dimensions.get(conversion.from_code) != dimensions.get(conversion.to_code)
        ):
            continue
        if pair not in chosen or (conversion.item_specific and not chosen[pair].item_specific):
            chosen[pair] = conversion
    graph: dict[str, dict[str, Decimal]] = {}
    for conversion in chosen.values():
        graph.setdefault(conversion.from_code, {})[conversion.to_code] = conversion.factor
        graph.setdefault(conversion.to_code, {})[conversion.from_code] = 1 / conversion.factor
    return graph


def conversion_factor(
    from_code: str,
    to_code: str,
    conversions: Iterable[Conversion],
    dimensions: Mapping[str, str] | None = None,
) -> Decimal:
    """How many `to_code` make one `from_code`, over direct, inverse and chained conversions.

    The path with the fewest steps wins. Generic conversions never cross dimensions; mass to
    count (kg of cable to pieces) needs a conversion specific to the item.
    """
    if from_code == to_code:
        return Decimal(1)
    graph = _conversion_graph(conversions, dimensions)
    factors: dict[str, Decimal] = {from_code: Decimal(1)}
    queue = deque([from_code])
    while queue:
        unit = queue.popleft()
        for neighbour, factor in graph.get(unit, {}).items():
            if neighbour not in factors:
                factors[neighbour] = factors[unit] * factor
                if neighbour == to_code:
                    return factors[neighbour]
                queue.append(neighbour)
    if dimensions is not None and dimensions.get(from_code) != dimensions.get(to_code):
        raise RuleViolation(
            f"cannot convert {from_code} ({dimensions.get(from_code)}) to {to_code} "
            f"({dimensions.get(to_code)}): different dimensions and no item-specific conversion"
        )
    raise RuleViolation(f"no conversion from {from_code} to {to_code} is recorded")


def convert(
    quantity: Decimal,
    from_code: str,
    to_code: str,
    conversions: Iterable[Conversion],
    dimensions: Mapping[str, str] | None = None,
) -> Decimal:
    """`quantity` of `from_code` expressed in `to_code`, exact to six decimal places."""
    return qty(quantity * conversion_factor(from_code, to_code, conversions, dimensions))


# --- versions with effective dates ------------------------------------------------------


def check_effective_span(version: str, effective_from: date, effective_to: date | None) -> None:
    if effective_to is not None and effective_to < effective_from:
        raise RuleViolation(
            f"version {version} would end on {effective_to} before it starts on {effective_from}"
        )


def is_effective(effective_from: date, effective_to: date | None, on: date) -> bool:
    """Effective from the first day through the last day (inclusive); open-ended if no end."""
    return effective_from <= on and (effective_to is None or on <= effective_to)


def effective_version(versions: Iterable[tuple[str, date, date | None]], on: date) -> str | None:
    """The version effective on the day, from (version, effective_from, effective_to).

    When windows overlap, the version that became effective last supersedes the others
    (ERP often publishes a new version without end-dating the old one).
    """
    candidates = [
        (effective_from, version)
        for version, effective_from, effective_to in versions
        if is_effective(effective_from, effective_to, on)
    ]
    return max(candidates)[1] if candidates else None


# --- hierarchies -----------------------------------------------------------------------


def _article(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def _check_parent(levels: Sequence[str], what: str, level: str, parent_level: str | None) -> None:
    if level not in levels:
        raise RuleViolation(f"'{level}' is not {_article(what)} level; use {', '.join(levels)}")
    position = levels.index(level)
    if position == 0:
        if parent_level is not None:
            raise RuleViolation(f"{_article(level)} is the top of the {what} and has no parent")
        return
    expected = levels[position - 1]
    if parent_level != expected:
        found = _article(parent_level) if parent_level else "no parent"
        raise RuleViolation(
            f"{_article(level)} must sit under {_article(expected)}, not under {found}"
        )


def check_equipment_parent(level: str, parent_level: str | None) -> None:
    """ISA-95: enterprise → site → area → line → work center → equipment; each node sits
    exactly one level below its parent, and only the enterprise has none."""
    _check_parent(EQUIPMENT_LEVELS, "equipment hierarchy", level, parent_level)


def check_reason_parent(level: str, parent_level: str | None) -> None:
    """Downtime reasons: category → reason → detail, each exactly one level below its parent."""
    _check_parent(REASON_LEVELS, "downtime reason tree", level, parent_level)


def check_quality_kind(kind: str) -> None:
    if kind not in QUALITY_KINDS:
        raise RuleViolation(f"'{kind}' is not a quality code kind; use {', '.join(QUALITY_KINDS)}")


def check_dimension(dimension: str) -> None:
    if dimension not in DIMENSIONS:
        raise RuleViolation(f"'{dimension}' is not a dimension; use {', '.join(DIMENSIONS)}")


# --- skills and certifications ---------------------------------------------------------


def check_certification_dates(valid_from: date, expires_on: date | None) -> None:
    if expires_on is not None and expires_on < valid_from:
        raise RuleViolation(f"a certification cannot expire ({expires_on}) before {valid_from}")


def certification_valid(valid_from: date, expires_on: date | None, revoked: bool, on: date) -> bool:
    """A certification counts from its first day through its expiry day, unless revoked."""
    return not revoked and is_effective(valid_from, expires_on, on)


# --- shifts ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BreakSpec:
    """A planned break, `offset_minutes` after the shift starts."""

    name: str
    offset_minutes: int
    minutes: int


def check_timezone(timezone: str) -> None:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise RuleViolation(f"'{timezone}' is not a known time zone (e.g. Europe/Berlin)") from exc


def check_shift(
    code: str, minutes: int, weekdays: Sequence[int], breaks: Sequence[BreakSpec]
) -> None:
    """A shift lasts 1 minute to 24 hours on at least one weekday (0 = Monday … 6 = Sunday);
    its breaks lie inside it and do not overlap."""
    if not 0 < minutes <= MINUTES_PER_DAY:
        raise RuleViolation(f"shift {code} must last 1 to {MINUTES_PER_DAY} minutes, not {minutes}")
    if not weekdays or any(day not in range(7) for day in weekdays):
        raise RuleViolation(f"shift {code}: weekdays are 0 (Monday) to 6 (Sunday), at least one")
    if len(set(weekdays)) != len(weekdays):
        raise RuleViolation(f"shift {code}: a weekday is listed twice")
    end_of_previous, previous = 0, ""
    for pause in sorted(breaks, key=lambda b: b.offset_minutes):
        if pause.minutes <= 0 or pause.offset_minutes < 0:
            raise RuleViolation(f"shift {code}: break '{pause.name}' needs a positive length")
        if pause.offset_minutes + pause.minutes > minutes:
            raise RuleViolation(
                f"shift {code}: break '{pause.name}' ends "
                f"{pause.offset_minutes + pause.minutes} minutes in, after the shift ends "
                f"at {minutes}"
            )
        if pause.offset_minutes < end_of_previous:
            raise RuleViolation(f"shift {code}: break '{pause.name}' overlaps '{previous}'")
        end_of_previous, previous = pause.offset_minutes + pause.minutes, pause.name


@dataclass(frozen=True)
class ShiftPattern:
    """What a shift is, in a comparable form: weekdays sorted, breaks in time order."""

    name: str
    starts_at: time
    minutes: int
    weekdays: tuple[int, ...]
    breaks: tuple[BreakSpec, ...]


def shift_pattern(
    name: str, starts_at: time, minutes: int, weekdays: Sequence[int], breaks: Sequence[BreakSpec]
) -> ShiftPattern:
    ordered = tuple(sorted(breaks, key=lambda b: (b.offset_minutes, b.name)))
    return ShiftPattern(name, starts_at, minutes, tuple(sorted(weekdays)), ordered)


# --- BOM and routing versions ----------------------------------------------------------


@dataclass(frozen=True)
class AlternativeSpec:
    """An approved substitute: `ratio` units of it replace one unit of the line's item."""

    item_code: str
    ratio: Decimal = Decimal(1)


@dataclass(frozen=True)
class BomLineSpec:
    """One BOM line: `quantity` of the component (in `uom_code`) per BOM quantity."""

    line_no: int
    item_code: str
    quantity: Decimal
    uom_code: str
    tolerance_pct: Decimal = Decimal(0)
    operation_no: int | None = None
    alternatives: tuple[AlternativeSpec, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class OperationSpec:
    """One routing operation at a work center, with its standard times and required skill."""

    operation_no: int
    name: str
    work_center_code: str
    setup_minutes: Decimal = Decimal(0)
    ideal_cycle_seconds: Decimal = Decimal(0)
    required_skill_code: str | None = None


def check_bom(
    item_code: str, version: str, quantity: Decimal, lines: Sequence[BomLineSpec]
) -> None:
    """A BOM is for a positive quantity and lists each line number once, each component in a
    positive quantity with a non-negative tolerance; substitutes replace at a positive ratio."""
    where = f"BOM {version} of {item_code}"
    if quantity <= 0:
        raise RuleViolation(f"{where} must be for a positive quantity, not {fmt(quantity)}")
    if not lines:
        raise RuleViolation(f"{where} has no lines")
    seen: set[int] = set()
    for line in lines:
        if line.line_no <= 0 or line.line_no in seen:
            raise RuleViolation(f"{where}: line number {line.line_no} is not positive or repeated")
        seen.add(line.line_no)
        if line.item_code == item_code:
            raise RuleViolation(f"{where}, line {line.line_no}: an item cannot consume itself")
        if line.quantity <= 0:
            raise RuleViolation(
                f"{where}, line {line.line_no}: quantity of {line.item_code} must be positive"
            )
        if line.tolerance_pct < 0:
            raise RuleViolation(f"{where}, line {line.line_no}: tolerance cannot be negative")
        substitutes = [alternative.item_code for alternative in line.alternatives]
        if len(set(substitutes)) != len(substitutes):
            raise RuleViolation(f"{where}, line {line.line_no}: a substitute is listed twice")
        for alternative in line.alternatives:
            if alternative.ratio <= 0 or alternative.item_code == line.item_code:
                raise RuleViolation(
                    f"{where}, line {line.line_no}: substitute {alternative.item_code} needs a "
                    "positive ratio and must differ from the line's item"
                )


def check_routing(item_code: str, version: str, operations: Sequence[OperationSpec]) -> None:
    """A routing has operations with distinct positive numbers and non-negative times."""
    where = f"routing {version} of {item_code}"
    if not operations:
        raise RuleViolation(f"{where} has no operations")
    numbers = [op.operation_no for op in operations]
    if len(set(numbers)) != len(numbers) or min(numbers) <= 0:
        raise RuleViolation(f"{where}: operation numbers must be positive and distinct")
    for op in operations:
        if op.setup_minutes < 0 or op.ideal_cycle_seconds < 0:
            raise RuleViolation(f"{where}, operation {op.operation_no}: times cannot be negative")


def bom_content(
    quantity: Decimal, lines: Iterable[BomLineSpec]
) -> tuple[Decimal, tuple[tuple[object, ...], ...]]:
    """The composition of a BOM version in a comparable form (order of lines is irrelevant;
    quantities compared to six places)."""
    return (
        qty(quantity),
        tuple(
            (
                line.line_no,
                line.item_code,
                qty(line.quantity),
                line.uom_code,
                qty(line.tolerance_pct),
                line.operation_no,
                tuple(sorted((alt.item_code, qty(alt.ratio)) for alt in line.alternatives)),
            )
            for line in sorted(lines, key=lambda line: line.line_no)
        ),
    )


def routing_content(operations: Iterable[OperationSpec]) -> tuple[tuple[object, ...], ...]:
    """The operations of a routing version in a comparable form."""
    return tuple(
        (
            op.operation_no,
            op.name,
            op.work_center_code,
            qty(op.setup_minutes),
            qty(op.ideal_cycle_seconds),
            op.required_skill_code,
        )
        for op in sorted(operations, key=lambda op: op.operation_no)
    )
