"""Execution rules, pure: who may start, what may be reported, how long a stop lasted,
how the order follows its operations, when an order is complete.

The routing order and the quantity flow live in `shopfloor.orders.domain`; lot, norm and
reversal rules in `shopfloor.materials.domain`. This module adds what the floor needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from shopfloor.kernel.errors import RuleViolation
from shopfloor.kernel.quantities import fmt, qty
from shopfloor.materials.domain import CLOCK_SKEW
from shopfloor.orders.domain import Output

REPORT_KINDS = ("good", "scrap", "rework")

# Which kind of quality code each report kind needs (good needs none and takes none).
CODE_KINDS = {"scrap": frozenset({"scrap", "defect"}), "rework": frozenset({"rework", "defect"})}

REPORTABLE = frozenset({"running", "paused"})
WORKED_ON = frozenset({"running", "paused", "completed"})


# ------------------------------------------------------------------------ qualification


@dataclass(frozen=True)
class Certificate:
    valid_from: date
    expires_on: date | None
    revoked: bool = False


def qualification_problem(
    person: str, skill: str, certificates: Iterable[Certificate], on: date
) -> str | None:
    """Why a person may not work on an operation needing `skill` on a day, or None.

    A certificate counts when it is not revoked, has started and has not expired that day.
    The message names the skill, and the expiry date when the certificate ran out.
    """
    live = [c for c in certificates if not c.revoked]
    if any(c.valid_from <= on and (c.expires_on is None or c.expires_on >= on) for c in live):
        return None
    expired = sorted(c.expires_on for c in live if c.expires_on is not None and c.expires_on < on)
    if expired:
        return (
            f"{person} is not qualified for '{skill}': the certificate expired on "
            f"{expired[-1].isoformat()}"
        )
    future = sorted(c.valid_from for c in live if c.valid_from > on)
    if future:
        return (
            f"{person} is not qualified for '{skill}' yet: the certificate is valid from "
            f"{future[0].isoformat()}"
        )
    return f"{person} holds no certificate for '{skill}'"


# ----------------------------------------------------------------- order follows operations


def order_command_after(operation_command: str, order_status: str, any_running: bool) -> str | None:
    """The command the order takes after one of its operations changed, or None.

    An operation starting or resuming sets a dispatched or paused order running; an
    operation pausing or completing pauses a running order when none of its operations runs.
    """
    if operation_command in ("start", "resume"):
        return "start" if order_status in ("dispatched", "paused") else None
    if operation_command in ("pause", "complete"):
        return "pause" if order_status == "running" and not any_running else None
    return None


def check_order_complete(statuses: Mapping[int, str]) -> None:
    """An order completes when every operation that was not aborted is completed."""
    live = {no: status for no, status in statuses.items() if status != "aborted"}
    if not live:
        raise RuleViolation("the order has no operations to complete")
    open_ops = sorted(no for no, status in live.items() if status != "completed")
    if open_ops:
        listed = ", ".join(f"{no} ({live[no]})" for no in open_ops)
        raise RuleViolation(f"the order cannot complete: operation {listed} not completed")


def last_operation(statuses: Mapping[int, str]) -> int | None:
    """The highest operation number that was not aborted: where finished goods come out."""
    live = [no for no, status in statuses.items() if status != "aborted"]
    return max(live) if live else None


def previous_live_operation(statuses: Mapping[int, str], operation_no: int) -> int | None:
    earlier = [no for no, s in statuses.items() if no < operation_no and s != "aborted"]
    return max(earlier) if earlier else None


def next_live_operation(statuses: Mapping[int, str], operation_no: int) -> int | None:
    later = [no for no, s in statuses.items() if no > operation_no and s != "aborted"]
    return min(later) if later else None


# ---------------------------------------------------------------------------- reports


def check_reportable(operation_no: int, status: str) -> None:
    """Output is reported only while an operation is running or paused."""
    if status not in REPORTABLE:
        raise RuleViolation(
            f"operation {operation_no} is {status}; production is reported only on a running "
            "or paused operation"
        )


def check_report(kind: str, quantity: Decimal, *, serial: bool) -> None:
    """A report is good, scrap or rework with a positive quantity; a serial is one unit."""
    if kind not in REPORT_KINDS:
        raise RuleViolation(f"'{kind}' is not a report kind; use {', '.join(REPORT_KINDS)}")
    if quantity <= 0:
        raise RuleViolation(f"a reported quantity must be positive, not {fmt(quantity)}")
    if serial and quantity != 1:
        raise RuleViolation("a serial number is reported one unit at a time")


def check_quality_code(kind: str, code_kind: str | None, *, given: bool) -> None:
    """Scrap needs a scrap or defect code, rework a rework or defect code; good output
    takes none. `code_kind` is the kind of the code given (None when none was)."""
    if kind == "good":
        if given:
            raise RuleViolation("good output carries no scrap, defect or rework code")
        return
    wanted = CODE_KINDS[kind]
    if code_kind is None:
        raise RuleViolation(f"{kind} needs a {' or '.join(sorted(wanted))} code")
    if code_kind not in wanted:
        raise RuleViolation(
            f"{kind} needs a {' or '.join(sorted(wanted))} code, not a {code_kind} code"
        )


def output_of(reports: Iterable[tuple[str, Decimal]]) -> Output:
    """Net good, scrap and rework of (kind, signed quantity) reports; reversals subtract."""
    totals = {kind: Decimal(0) for kind in REPORT_KINDS}
    for kind, quantity in reports:
        totals[kind] += quantity
    return Output(
        good=qty(totals["good"]), scrap=qty(totals["scrap"]), rework=qty(totals["rework"])
    )


def check_good_reversal(
    operation_no: int,
    quantity: Decimal,
    current: Output,
    next_no: int | None,
    next_output: Output | None,
) -> None:
    """Taking back good output may not leave the next operation with more processed units
    than reached it."""
    if next_no is None or next_output is None:
        return
    remaining = current.good - quantity
    if next_output.processed > remaining:
        raise RuleViolation(
            f"operation {operation_no}: cannot take back {fmt(quantity)} good; operation "
            f"{next_no} already processed {fmt(next_output.processed)} of them"
        )


# ------------------------------------------------------------------------- intervals


def interval_minutes(started_at: datetime, ended_at: datetime, now: datetime) -> Decimal:
    """Minutes between start and end: the end after the start and not in the future."""
    if started_at.tzinfo is None or ended_at.tzinfo is None:
        raise RuleViolation("start and end must carry their time zone (UTC preferred)")
    if ended_at <= started_at:
        raise RuleViolation("the end must be after the start")
    if ended_at > now + CLOCK_SKEW:
        raise RuleViolation(f"the end {ended_at.isoformat()} is in the future")
    return Decimal((ended_at - started_at).total_seconds()) / 60


def overlapping(
    intervals: Sequence[tuple[datetime, datetime]], started_at: datetime, ended_at: datetime
) -> tuple[datetime, datetime] | None:
    """The first recorded interval that overlaps [started_at, ended_at), or None."""
    for begin, end in intervals:
        if begin < ended_at and started_at < end:
            return begin, end
    return None
