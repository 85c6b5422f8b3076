"""Material rules, pure: lot status, the consumption norm, substitution, move signs, genealogy.

No I/O. The service loads rows, hands plain values to these functions and writes the result.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from shopfloor.kernel.errors import RuleViolation
from shopfloor.kernel.quantities import fmt
from shopfloor.kernel.workflow import Workflow, transitions

# ---------------------------------------------------------------------------------- lots

LOT_STATUSES = ("released", "on_hold", "quarantined", "consumed", "expired")
LOT_ORIGINS = ("erp_receipt", "floor")

LOT_FLOW = Workflow(
    "lot",
    transitions(
        release=(("on_hold", "quarantined"), "released"),
        hold=(("released",), "on_hold"),
        quarantine=(("released", "on_hold"), "quarantined"),
        consume=(("released",), "consumed"),
        expire=(("released", "on_hold", "quarantined"), "expired"),
    ),
)

# The command that leads to each status a person may set by hand.
_COMMAND_FOR_STATUS = {
    "released": "release",
    "on_hold": "hold",
    "quarantined": "quarantine",
    "consumed": "consume",
    "expired": "expire",
}


def lot_status_command(status: str) -> str:
    """The lot command that sets `status` (release, hold, quarantine, consume, expire)."""
    if status not in _COMMAND_FOR_STATUS:
        raise RuleViolation(f"'{status}' is not a lot status; use {', '.join(LOT_STATUSES)}")
    return _COMMAND_FOR_STATUS[status]


def check_initial_lot(status: str, origin: str) -> None:
    """A new lot is released, on hold or quarantined, and comes from ERP or the floor."""
    if origin not in LOT_ORIGINS:
        raise RuleViolation(f"a lot comes from {' or '.join(LOT_ORIGINS)}, not '{origin}'")
    if status not in ("released", "on_hold", "quarantined"):
        raise RuleViolation(f"a new lot starts released, on_hold or quarantined, not '{status}'")


def consumption_problem(
    lot_code: str, status: str, expires_on: date | None, on: date
) -> str | None:
    """Why a lot may not be consumed on a day, or None: only a released lot that has not
    passed its expiry date may go into a product."""
    if status != "released":
        return f"lot {lot_code} is {status.replace('_', ' ')} and may not be consumed"
    if expires_on is not None and expires_on < on:
        return f"lot {lot_code} expired on {expires_on.isoformat()} and may not be consumed"
    return None


# ---------------------------------------------------------------------- norm and overuse


@dataclass(frozen=True)
class NormCheck:
    """Cumulative consumption of one component against its norm for the whole order."""

    actual: Decimal
    norm: Decimal
    tolerance_pct: Decimal

    @property
    def limit(self) -> Decimal:
        return self.norm * (1 + self.tolerance_pct / 100)

    @property
    def excess(self) -> Decimal:
        """How much the actual quantity is above the norm plus tolerance (0 when within)."""
        return max(self.actual - self.limit, Decimal(0))

    @property
    def over(self) -> bool:
        return self.excess > 0

    def describe(self) -> str:
        """'42 against a norm of 40 (tolerance 0%)'."""
        return (
            f"{fmt(self.actual)} against a norm of {fmt(self.norm)} "
            f"(tolerance {fmt(self.tolerance_pct)}%)"
        )


def check_norm(
    item_code: str,
    consumed_before: Decimal,
    quantity: Decimal,
    norm: Decimal,
    tolerance_pct: Decimal,
    overuse_reason: str | None,
) -> NormCheck:
    """Consumption above norm x (1 + tolerance%) is allowed only with an overuse reason.

    The check is cumulative: the new quantity is added to what the order already consumed
    of this component (net of returns and reversals).
    """
    result = NormCheck(consumed_before + quantity, norm, tolerance_pct)
    if result.over and quantity > 0 and not (overuse_reason or "").strip():
        raise RuleViolation(
            f"{item_code}: {result.describe()} is {fmt(result.excess)} over the norm; "
            "give an overuse reason (for example 'repair')",
            excess=str(result.excess),
        )
    return result


def substitute_quantity(original_quantity: Decimal, ratio: Decimal) -> Decimal:
    """The quantity of an approved alternative that replaces `original_quantity` of the
    BOM component: original x ratio (1:1 unless the BOM says otherwise)."""
    if ratio <= 0:
        raise RuleViolation("a substitution ratio must be positive")
    return original_quantity * ratio


def as_original_quantity(substitute: Decimal, ratio: Decimal) -> Decimal:
    """How much of the BOM component `substitute` units of the alternative stand for."""
    if ratio <= 0:
        raise RuleViolation("a substitution ratio must be positive")
    return substitute / ratio


def check_substitution(
    component_code: str, substitute_code: str, approved: Mapping[str, Decimal]
) -> Decimal:
    """Only an approved alternative of the BOM line may replace its component; returns the
    ratio. `approved` maps the alternative's item code to its ratio."""
    if substitute_code not in approved:
        allowed = ", ".join(sorted(approved)) or "none"
        raise RuleViolation(
            f"{substitute_code} is not an approved alternative for {component_code} "
            f"(approved: {allowed})"
        )
    return approved[substitute_code]


# ------------------------------------------------------------------------ move kinds

MOVE_KINDS = ("issue", "consume", "produce", "return", "scrap")

# Effect of one unit of a move on the stock of its item, and on the order's net consumption.
_STOCK_EFFECT = {"issue": 0, "consume": -1, "produce": 1, "return": 1, "scrap": -1}
_CONSUMPTION_EFFECT = {"issue": 0, "consume": 1, "produce": 0, "return": -1, "scrap": 0}


def check_move(kind: str, quantity: Decimal, *, reversal: bool) -> None:
    """A move is recorded with a positive quantity; its reversal with the negated one."""
    if kind not in MOVE_KINDS:
        raise RuleViolation(f"'{kind}' is not a material move; use {', '.join(MOVE_KINDS)}")
    if reversal and quantity >= 0:
        raise RuleViolation("a reversal carries the negated (negative) quantity")
    if not reversal and quantity <= 0:
        raise RuleViolation(f"a {kind} quantity must be positive, not {fmt(quantity)}")


def stock_effect(kind: str, quantity: Decimal) -> Decimal:
    """Signed change of the item's stock: produce and return add, consume and scrap take."""
    return quantity * _STOCK_EFFECT[kind]


def consumption_effect(kind: str, quantity: Decimal) -> Decimal:
    """Signed change of the order's net consumption: consume adds, return takes back."""
    return quantity * _CONSUMPTION_EFFECT[kind]


def check_return(item_code: str, quantity: Decimal, net_consumed: Decimal) -> None:
    """Material can only come back from an order up to what the order consumed of it."""
    if quantity > net_consumed:
        raise RuleViolation(
            f"{item_code}: cannot return {fmt(quantity)}; the order consumed only "
            f"{fmt(net_consumed)} net"
        )


def check_consumption_reversal(item_code: str, quantity: Decimal, net_consumed: Decimal) -> None:
    """Taking back a consumption may not leave the order with less than nothing consumed
    (material already returned cannot be un-consumed again)."""
    if quantity > net_consumed:
        raise RuleViolation(
            f"{item_code}: cannot take back a consumption of {fmt(quantity)}; only "
            f"{fmt(net_consumed)} is consumed net after returns"
        )


def check_reversal(
    what: str, fact_id: int, *, is_reversal: bool, already_reversed: bool, reason: str | None
) -> str:
    """A fact is reversed once, with a reason; a reversal itself is never reversed.
    Returns the trimmed reason."""
    if is_reversal:
        raise RuleViolation(f"{what} {fact_id} is itself a reversal and cannot be reversed")
    if already_reversed:
        raise RuleViolation(f"{what} {fact_id} has already been reversed")
    text = (reason or "").strip()
    if not text:
        raise RuleViolation(f"reversing {what} {fact_id} needs a reason")
    return text


# ------------------------------------------------------------------ event glue keys


@dataclass(frozen=True)
class OrderKeys:
    """The glue keys and versions an order lends to a material event, and its ERP flag.

    Materials never reads orders; execution builds this from the order and passes it in.
    """

    erp_order_id: str | None = None
    operation_no: int | None = None
    work_center: str | None = None
    bom_version: str | None = None
    routing_version: str | None = None
    discrepancy: str | None = None

    def glue(self) -> dict[str, object]:
        return {
            "erp_order_id": self.erp_order_id,
            "operation_no": self.operation_no,
            "work_center": self.work_center,
        }


# ----------------------------------------------------------------------- fact times

CLOCK_SKEW = timedelta(minutes=5)


def fact_time(occurred_at: datetime | None, now: datetime) -> datetime:
    """When a fact happened: the client's time if given (never later than the server clock
    plus a small skew, and timezone-aware), else the server clock."""
    if occurred_at is None:
        return now
    if occurred_at.tzinfo is None:
        raise RuleViolation("a time must carry its time zone (UTC preferred)")
    if occurred_at > now + CLOCK_SKEW:
        raise RuleViolation(
            f"the time {occurred_at.isoformat()} is in the future (server time {now.isoformat()})"
        )
    return occurred_at


# ------------------------------------------------------------------------- genealogy

Node = tuple[str, int]  # ("lot", id) or ("serial", id)


@dataclass(frozen=True)
class Edge:
    """Material of `source` (consumed lot or serial) went into `target` (lot or serial)."""

    source: Node
    target: Node


@dataclass(frozen=True)
class Reached:
    """A node found by a genealogy walk, how many steps away, and from which node."""

    node: Node
    depth: int
    via: Node


def walk(edges: Iterable[Edge], start: Node, direction: str) -> list[Reached]:
    """Every lot or serial linked to `start`, breadth first, each once (cycle-safe).

    backward: what went into `start` (its components, their components, ...);
    forward: where `start` went (the products made from it, and so on).
    """
    if direction not in ("backward", "forward"):
        raise RuleViolation("genealogy direction is 'backward' or 'forward'")
    links: dict[Node, list[Node]] = {}
    for edge in edges:
        origin, other = (
            (edge.target, edge.source) if direction == "backward" else (edge.source, edge.target)
        )
        links.setdefault(origin, []).append(other)
    seen = {start}
    found: list[Reached] = []
    queue: deque[tuple[Node, int]] = deque([(start, 0)])
    while queue:
        node, depth = queue.popleft()
        for other in sorted(set(links.get(node, []))):
            if other in seen:
                continue
            seen.add(other)
            found.append(Reached(other, depth + 1, node))
            queue.append((other, depth + 1))
    return found
