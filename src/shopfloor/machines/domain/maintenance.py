"""Maintenance triggers: when a rule on an equipment asks for maintenance.

Three kinds of rule, each measured since the equipment's last maintenance ended (or since
the rule was set up, whichever is later):

- `run_hours`: hours the machine reported itself running, whatever the shift calendar
  says (a machine wears when it runs, in a break as in a shift);
- `cycle_count`: pieces the machine counted (its total counter);
- `repeated_downtime`: stops of one reason (or any reason below it in the tree) that
  started within the rule's window, counted per stop.

A rule is due when its measure reaches the threshold. A due rule with a request still open
raises nothing new: one request per rule until the maintenance is done.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from shopfloor.kernel.clock import as_utc
from shopfloor.kernel.errors import RuleViolation
from shopfloor.machines.domain.states import EquipmentState, StateInterval

_MS_PER_HOUR = Decimal(3_600_000)


class RuleKind(StrEnum):
    RUN_HOURS = "run_hours"
    CYCLE_COUNT = "cycle_count"
    REPEATED_DOWNTIME = "repeated_downtime"


def check_rule(
    kind: str, threshold: Decimal, window: timedelta | None, reason: str | None
) -> RuleKind:
    """A rule needs a known kind and a positive threshold; repeated downtime also needs a
    reason and a window, the other kinds neither."""
    try:
        rule_kind = RuleKind(kind)
    except ValueError as exc:
        known = ", ".join(k.value for k in RuleKind)
        raise RuleViolation(f"'{kind}' is not a kind of maintenance rule; use {known}") from exc
    if threshold <= 0:
        raise RuleViolation("a maintenance rule needs a positive threshold")
    repeated = rule_kind is RuleKind.REPEATED_DOWNTIME
    if repeated and (reason is None or window is None or window <= timedelta(0)):
        raise RuleViolation("a repeated-downtime rule needs a downtime reason and a window")
    if not repeated and (reason is not None or window is not None):
        raise RuleViolation(f"a {rule_kind.value} rule takes neither a reason nor a window")
    return rule_kind


def run_hours(intervals: Iterable[StateInterval]) -> Decimal:
    """Hours the machine reported itself running (breaks and unscheduled time included)."""
    running_ms = sum(i.duration_ms for i in intervals if i.reported_state is EquipmentState.RUNNING)
    return Decimal(running_ms) / _MS_PER_HOUR


def stops_in_window(starts: Iterable[datetime], now: datetime, window: timedelta) -> int:
    """Stops that started within `window` before `now`."""
    since = as_utc(now) - window
    return sum(1 for moment in starts if since <= as_utc(moment) <= as_utc(now))


def is_due(threshold: Decimal, measured: Decimal, open_request: bool) -> bool:
    """Due when the measure reached the threshold and no request for the rule is open."""
    return not open_request and measured >= threshold
