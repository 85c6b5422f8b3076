"""Order and operation rules: the two status machines, routing order, quantity flow.

ERP owns the business status (created → released → closed); shopfloor owns the execution
status. They are separate columns and separate machines: ERP closing an order never rewrites
what the floor did, and the floor completing an order never closes it in ERP.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from shopfloor.kernel.errors import RuleViolation
from shopfloor.kernel.quantities import fmt
from shopfloor.kernel.workflow import Workflow, transitions

ERP_STATUSES = ("created", "released", "closed")
_ERP_RANK = {status: rank for rank, status in enumerate(ERP_STATUSES)}

ORDER_FLOW = Workflow(
    "production order",
    transitions(
        release_to_floor=(("queued",), "dispatched"),
        start=(("dispatched", "paused"), "running"),
        pause=(("running",), "paused"),
        complete=(("running", "paused", "dispatched"), "completed"),
        abort=(("queued", "dispatched", "running", "paused"), "aborted"),
    ),
)

OPERATION_FLOW = Workflow(
    "operation",
    transitions(
        dispatch=(("queued",), "dispatched"),
        start=(("dispatched",), "running"),
        pause=(("running",), "paused"),
        resume=(("paused",), "running"),
        complete=(("running", "paused"), "completed"),
        abort=(("queued", "dispatched", "running", "paused"), "aborted"),
    ),
)

ACTIVE = frozenset({"running", "paused"})
STARTED = frozenset({"running", "paused", "completed"})


def erp_status_change(current: str, incoming: str) -> bool:
    """Whether ERP's new business status moves forward (True), stays (False) or is refused."""
    if incoming not in _ERP_RANK:
        raise RuleViolation(f"'{incoming}' is not an ERP status; use {', '.join(ERP_STATUSES)}")
    if _ERP_RANK[incoming] < _ERP_RANK[current]:
        raise RuleViolation(f"ERP status cannot go back from {current} to {incoming}")
    return incoming != current


def discrepancy(erp_status: str) -> str | None:
    """The flag a fact carries when ERP has not released the order or has closed it."""
    return {"created": "erp_not_released", "closed": "erp_closed"}.get(erp_status)


def check_routing_order(operation_no: int, command: str, earlier: Mapping[int, str]) -> None:
    """Operations follow the routing: start only after every earlier operation has started,
    complete only after every earlier one has completed. `earlier` maps number → status."""
    if command == "start":
        waiting = sorted(no for no, status in earlier.items() if status not in STARTED)
        if waiting:
            raise RuleViolation(
                f"operation {operation_no} cannot start before operation {waiting[0]} has started"
            )
    if command == "complete":
        open_ops = sorted(no for no, status in earlier.items() if status != "completed")
        if open_ops:
            raise RuleViolation(
                f"operation {operation_no} cannot complete before operation {open_ops[0]} "
                "is completed"
            )


@dataclass(frozen=True)
class Output:
    """Net quantities reported at one operation."""

    good: Decimal = Decimal(0)
    scrap: Decimal = Decimal(0)
    rework: Decimal = Decimal(0)

    @property
    def processed(self) -> Decimal:
        return self.good + self.scrap


def available_input(order_quantity: Decimal, previous: Output | None) -> Decimal:
    """Units an operation can process: the order quantity at the first operation,
    the good output of the previous operation after that."""
    return order_quantity if previous is None else previous.good


def check_output(
    operation_no: int, kind: str, quantity: Decimal, current: Output, available: Decimal
) -> None:
    """Good + scrap reported at an operation never exceed what reached it.

    A negative quantity is only a reversal and may not take a total below zero.
    """
    good, scrap = current.good, current.scrap
    if kind == "good":
        good += quantity
    elif kind == "scrap":
        scrap += quantity
    if good < 0 or scrap < 0 or current.rework + (quantity if kind == "rework" else 0) < 0:
        raise RuleViolation(f"operation {operation_no}: a {kind} total cannot go below zero")
    if good + scrap > available:
        raise RuleViolation(
            f"operation {operation_no}: {fmt(good + scrap)} units good and scrap would exceed "
            f"the {fmt(available)} units that reached it"
        )


def scaled_norm(line_quantity: Decimal, bom_quantity: Decimal, order_quantity: Decimal) -> Decimal:
    """The execution BOM norm of a component for the whole order quantity."""
    if bom_quantity <= 0:
        raise RuleViolation("a BOM must be for a positive quantity")
    return line_quantity * order_quantity / bom_quantity


def previous_operation(numbers: Sequence[int], operation_no: int) -> int | None:
    earlier = [no for no in numbers if no < operation_no]
    return max(earlier) if earlier else None
