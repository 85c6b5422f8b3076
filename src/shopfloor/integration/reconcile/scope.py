"""What one reconciliation covers, pure: some orders, one day or one shift.

`--order` names ERP order ids. `--date YYYY-MM-DD` and `--shift YYYY-MM-DD/NAME` (or
`YYYY-MM-DD/HH:MM`, the shift's start) select the orders with a fact that occurred in that
window; each is compared whole, because ERP keeps totals per order. A day is the local day
of the plant's shift calendars when they all share one time zone, else the UTC day. A
shift is one occurrence of a configured shift pattern: its local start on that date in its
calendar's time zone, for its length. Nothing given: today.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shopfloor.kernel.errors import RuleViolation


@dataclass(frozen=True)
class ShiftSpec:
    calendar: str
    code: str
    starts_at: time
    minutes: int
    timezone: str


@dataclass(frozen=True)
class Scope:
    """Either ERP order ids, or a window [start, end) in UTC with a label."""

    orders: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    label: str = ""

    @property
    def windowed(self) -> bool:
        return self.start is not None


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise RuleViolation(f"'{text}' is not a date (YYYY-MM-DD)") from exc


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise RuleViolation(f"'{name}' is not a time zone") from exc


def plant_timezone(shifts: Sequence[ShiftSpec]) -> str:
    """The time zone every shift calendar shares; UTC when there is none or several."""
    zones = {s.timezone for s in shifts}
    return zones.pop() if len(zones) == 1 else "UTC"


def day_window(day: date, timezone: str) -> Scope:
    zone = _zone(timezone)
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return Scope(start=_utc(start), end=_utc(end), label=f"date {day.isoformat()} ({timezone})")


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(ZoneInfo("UTC"))


def shift_window(spec: str, shifts: Sequence[ShiftSpec]) -> Scope:
    """The occurrence of the shift named (by code or start time) on the date given."""
    day_text, _, name = spec.partition("/")
    if not name.strip():
        raise RuleViolation(f"'{spec}' is not a shift: use YYYY-MM-DD/NAME or YYYY-MM-DD/HH:MM")
    day, name = parse_day(day_text), name.strip()
    try:
        start_time: time | None = time.fromisoformat(name)
    except ValueError:
        start_time = None
    found = [
        s
        for s in shifts
        if (s.starts_at == start_time if start_time else s.code.lower() == name.lower())
    ]
    if not found:
        known = ", ".join(f"{s.code} ({s.starts_at.strftime('%H:%M')})" for s in shifts)
        raise RuleViolation(f"no shift '{name}' in the shift calendars; known: {known or 'none'}")
    windows = {(s.starts_at, s.minutes, s.timezone) for s in found}
    if len(windows) > 1:
        listed = ", ".join(f"{s.calendar}/{s.code}" for s in found)
        raise RuleViolation(f"shift '{name}' means different times in {listed}")
    shift = found[0]
    start = datetime.combine(day, shift.starts_at, tzinfo=_zone(shift.timezone))
    end = start + timedelta(minutes=shift.minutes)
    label = f"shift {shift.code} of {day.isoformat()} ({shift.timezone})"
    return Scope(start=_utc(start), end=_utc(end), label=label)


def choose(
    orders: Sequence[str],
    day: str | None,
    shift: str | None,
    shifts: Sequence[ShiftSpec],
    now: datetime,
) -> Scope:
    """The scope asked for: exactly one of orders, day or shift; none of them: today."""
    given = sum(1 for chosen in (bool(orders), day is not None, shift is not None) if chosen)
    if given > 1:
        raise RuleViolation("give orders, a date or a shift, not more than one of them")
    if orders:
        unique = tuple(dict.fromkeys(o.strip() for o in orders if o.strip()))
        return Scope(orders=unique, label="order " + ", ".join(unique))
    if shift is not None:
        return shift_window(shift, shifts)
    timezone = plant_timezone(shifts)
    today = now.astimezone(_zone(timezone)).date()
    return day_window(parse_day(day) if day is not None else today, timezone)
