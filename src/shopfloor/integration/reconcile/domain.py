"""The matching rules of reconciliation, pure: shopfloor's facts beside ERP's postings.

A line is one key — order, operation, kind, item, lot — with shopfloor's net quantity
(every fact, reversals included, so a reversed fact nets to zero) beside the quantity ERP
has *booked* (postings in state `done`). Quantities compare exactly, as decimals in the
same unit: tolerance zero. Equal is a match, whatever the deliveries say.

The level follows what ERP can answer: a kind is compared per operation only when ERP's
postings of that kind carry an operation number; otherwise shopfloor's facts are summed
per order and the line says so (Tryton: labour per operation, stock moves per order).
Output is what goes to stock: the good units of the order's last operation.

A difference is split into causes whose quantities add up to it (shopfloor - ERP):

- the facts not delivered, each by why: `fact_on_unreleased_order` (flagged because ERP
  had not released or had closed the order, and never delivered: the discrepancy
  protocol keeps such facts out of ERP), `dead_lettered` (given up; event and error
  named), `not_yet_delivered` (unclaimed, in flight, held for its group, pending retry),
  `not_sent_to_subscriber` (fanned out before this subscriber was configured);
- what remains between the delivered facts and ERP's booked quantity:
  `not_yet_booked` when ERP still holds records on the key it has not booked (Tryton books
  inputs at `run`, outputs at `done`), `not_in_shopfloor` when nothing of the key was
  delivered and ERP booked it anyway, else `changed_in_erp` (all delivered, ERP differs:
  edited in ERP);
- `unit_differs` when the two sides count in different units (nothing is converted);
- `unexplained` only for a fact without an outbox event: nothing says where it went.

ERP records that are neither booked nor backed by a fact (Tryton's draft moves of the
plan) are not postings: they are counted in a note, never reported as differences.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

from shopfloor.integration.erp.ports import POSTING_KINDS, ErpPosting
from shopfloor.integration.reconcile.report import (
    Cause,
    EventRef,
    FactEntry,
    Line,
    OperationTotals,
    OrderHead,
    OrderResult,
)
from shopfloor.kernel.quantities import fmt

BOOKED = "done"
WAITING = frozenset({"unclaimed", "in_flight", "held", "pending", "grouped"})
DELIVERIES = WAITING | {"delivered", "dead", "not_sent", "no_event"}
UNDELIVERED_ORDER = (
    "fact_on_unreleased_order",
    "dead_lettered",
    "not_yet_delivered",
    "not_sent_to_subscriber",
    "unexplained",
)
KIND_ORDER = {kind: n for n, kind in enumerate(POSTING_KINDS)}
ZERO = Decimal(0)
Key = tuple[str, int | None, str, str, str | None]


def per_operation_kinds(postings: Iterable[ErpPosting]) -> frozenset[str]:
    """The kinds ERP keeps per operation: those whose postings carry an operation number."""
    return frozenset(p.kind for p in postings if p.operation_no is not None)


def _operation(value: str | int | None) -> int | None:
    return int(value) if value not in (None, "") else None


def key_of(
    order: str,
    operation: str | int | None,
    kind: str,
    item: str,
    lot: str | None,
    per_operation: frozenset[str],
) -> Key:
    """The matching key; labour is keyed by order and operation only (not by item)."""
    op = _operation(operation) if kind in per_operation else None
    if kind == "labour":
        return (order, op, kind, "", None)
    return (order, op, kind, item, lot or None)


def _ref(fact: FactEntry) -> EventRef:
    return EventRef(
        fact.event_id, fact.event_type, fact.fact, fact.delivery, fact.quantity, fact.error
    )


def _undelivered_cause(fact: FactEntry) -> str | None:
    if fact.delivery == "delivered":
        return None
    if fact.discrepancy:
        return "fact_on_unreleased_order"
    if fact.delivery == "dead":
        return "dead_lettered"
    if fact.delivery in WAITING:
        return "not_yet_delivered"
    if fact.delivery == "not_sent":
        return "not_sent_to_subscriber"
    return "unexplained"


def _detail(cause: str, facts: Sequence[FactEntry]) -> str:
    if cause == "dead_lettered":
        dead = "; ".join(f"{f.event_id}: {f.error or 'no error recorded'}" for f in facts)
        return f"dead letter(s) {dead}"
    if cause == "fact_on_unreleased_order":
        flags = sorted({f.discrepancy or "" for f in facts})
        return f"{len(facts)} flagged fact(s) ({', '.join(flags)}) not in ERP"
    if cause == "unexplained":
        return f"{len(facts)} fact(s) without an outbox event"
    states = sorted({f.delivery for f in facts})
    return f"{len(facts)} event(s) {', '.join(states)}"


def causes_of(
    facts: Sequence[FactEntry], booked: Decimal, open_quantity: Decimal, open_records: int
) -> tuple[Cause, ...]:
    """Why shopfloor's sum of `facts` differs from ERP's `booked` quantity (see module).

    The causes' quantities add up to shopfloor - ERP."""
    total = sum((f.quantity for f in facts), ZERO)
    if total == booked:
        return ()
    parts: dict[str, list[FactEntry]] = defaultdict(list)
    for fact in facts:
        cause = _undelivered_cause(fact)
        if cause is not None:
            parts[cause].append(fact)
    causes = []
    for cause in UNDELIVERED_ORDER:
        share = sum((f.quantity for f in parts.get(cause, ())), ZERO)
        if share != 0:
            mine = parts[cause]
            causes.append(Cause(cause, share, _detail(cause, mine), tuple(map(_ref, mine))))
    delivered = [f for f in facts if f.delivery == "delivered"]
    gap = sum((f.quantity for f in delivered), ZERO) - booked
    if gap != 0:
        sent, erp = fmt(gap + booked), fmt(booked)
        if open_records:
            detail = (
                f"shopfloor delivered {sent}, ERP booked {erp} and holds "
                f"{fmt(open_quantity)} on {open_records} record(s) not booked yet"
            )
            causes.append(Cause("not_yet_booked", gap, detail))
        elif not delivered:
            causes.append(
                Cause(
                    "not_in_shopfloor", gap, f"ERP booked {erp}; shopfloor delivered nothing of it"
                )
            )
        else:
            detail = f"shopfloor delivered {sent}, ERP has {erp}"
            causes.append(Cause("changed_in_erp", gap, detail, tuple(map(_ref, delivered))))
    return tuple(causes)


def compare(
    key: Key,
    facts: Sequence[FactEntry],
    postings: Sequence[ErpPosting],
    windowed: bool,
    item_of_order: str,
) -> Line:
    """One line: the facts and postings of one key, matched or with its causes."""
    order, operation, kind, item, lot = key
    booked = [p for p in postings if p.state == BOOKED]
    still_open = [p for p in postings if p.state != BOOKED]
    erp = sum((p.quantity for p in booked), ZERO)
    open_quantity = sum((p.quantity for p in still_open), ZERO)
    units = {f.unit for f in facts} | {p.uom_code for p in postings}
    shopfloor = sum((f.quantity for f in facts), ZERO)
    if len(units) > 1 and shopfloor != erp:
        detail = f"shopfloor and ERP count in {', '.join(sorted(units))}"
        causes: tuple[Cause, ...] = (Cause("unit_differs", shopfloor - erp, detail),)
    else:
        causes = causes_of(facts, erp, open_quantity, len(still_open))
    return Line(
        order=order,
        operation_no=operation,
        kind=kind,
        item=item or item_of_order,
        lot=lot,
        unit=min(units) if units else "",
        shopfloor=shopfloor,
        erp=erp,
        erp_open=open_quantity,
        window=sum((f.quantity for f in facts if f.in_window), ZERO) if windowed else None,
        causes=causes,
        note=_note(kind, operation, facts),
        erp_references=tuple(p.reference for p in postings),
    )


def _note(kind: str, operation: int | None, facts: Sequence[FactEntry]) -> str | None:
    """Say when the line sums operations because ERP keeps the kind per order only."""
    operations = sorted({f.operation_no for f in facts if f.operation_no is not None})
    if operation is not None or not operations:
        return None
    if kind == "output":
        return (
            f"compared per order (ERP's output carries no operation): the good units of the "
            f"last operation ({operations[-1]}), which go to stock"
        )
    listed = ", ".join(map(str, operations))
    return f"compared per order (ERP's {kind} carries no operation): operations {listed}"


def reconcile_order(
    head: OrderHead,
    facts: Sequence[FactEntry],
    postings: Sequence[ErpPosting],
    per_operation: frozenset[str],
    *,
    windowed: bool = False,
) -> OrderResult:
    """Every line of one order (facts and postings of other orders are ignored)."""
    order = head.erp_order_id
    by_key: dict[Key, list[FactEntry]] = defaultdict(list)
    for fact in facts:
        if fact.order == order and fact.kind in KIND_ORDER:
            by_key[
                key_of(order, fact.operation_no, fact.kind, fact.item, fact.lot, per_operation)
            ].append(fact)
    erp_by_key: dict[Key, list[ErpPosting]] = defaultdict(list)
    for posting in postings:
        if posting.erp_order_id == order:
            erp_by_key[
                key_of(
                    order,
                    posting.operation_no,
                    posting.kind,
                    posting.item_code,
                    posting.lot,
                    per_operation,
                )
            ].append(posting)
    plan_only = [
        k
        for k, rows in erp_by_key.items()
        if k not in by_key and all(p.state != BOOKED for p in rows)
    ]
    keys = sorted(set(by_key) | (set(erp_by_key) - set(plan_only)), key=_sort_key)
    lines = tuple(
        compare(k, by_key.get(k, []), erp_by_key.get(k, []), windowed, head.item) for k in keys
    )
    notes = _order_notes(head, postings, plan_only, erp_by_key, windowed)
    return OrderResult(head, lines, operation_totals(facts, postings, per_operation, order), notes)


def _sort_key(key: Key) -> tuple[int, int, str, str]:
    _, operation, kind, item, lot = key
    return (KIND_ORDER.get(kind, 99), operation or 0, item, lot or "")


def _order_notes(
    head: OrderHead,
    postings: Sequence[ErpPosting],
    plan_only: Sequence[Key],
    erp_by_key: Mapping[Key, list[ErpPosting]],
    windowed: bool,
) -> tuple[str, ...]:
    notes = []
    if not head.in_shopfloor:
        notes.append("shopfloor has no order with this ERP order id")
    if not any(p.erp_order_id == head.erp_order_id for p in postings):
        notes.append(
            "ERP returned nothing for this order (it does not know it, or has posted nothing yet)"
        )
    if plan_only:
        count = sum(len(erp_by_key[k]) for k in plan_only)
        notes.append(
            f"ERP holds {count} open record(s) neither booked nor backed by a "
            "shopfloor fact (its plan): not compared"
        )
    if windowed:
        notes.append(
            "ERP keeps totals per order, not per shift or day: the order is compared "
            "whole; 'window' is shopfloor's part recorded in the window"
        )
    return tuple(notes)


def operation_totals(
    facts: Sequence[FactEntry],
    postings: Sequence[ErpPosting],
    per_operation: frozenset[str],
    order: str,
) -> tuple[OperationTotals, ...]:
    """Per operation: good (output included), scrap, rework and labour minutes recorded,
    and ERP's booked labour there when ERP keeps labour per operation."""
    sums: dict[int, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for fact in facts:
        if fact.order == order and fact.operation_no is not None:
            bucket = "good" if fact.kind in ("output", "good") else fact.kind
            sums[fact.operation_no][bucket] += fact.quantity
    erp_labour: dict[int, Decimal] = defaultdict(Decimal)
    for p in postings:
        op = _operation(p.operation_no)
        if p.erp_order_id == order and p.kind == "labour" and op is not None and p.state == BOOKED:
            erp_labour[op] += p.quantity
            sums.setdefault(op, defaultdict(Decimal))
    labour_kept = "labour" in per_operation
    return tuple(
        OperationTotals(
            op,
            s["good"],
            s["scrap"],
            s["rework"],
            s["labour"],
            erp_labour.get(op, ZERO) if labour_kept else None,
        )
        for op, s in sorted(sums.items())
    )
