"""What shopfloor's facts mean for one Tryton production, pure: no I/O here.

Tryton has no field on a stock move or a work cycle that could carry shopfloor's event id,
so the adapter keeps, per production, a ledger: a JSON file attached to the production
(`shopfloor-ledger.json`) holding every fact applied, by event id, plus the plan the
production had when the first fact arrived. The production's moves and cycles are then a
pure function of that ledger (`target`), written as absolute values. So a message sent
twice is one entry; a crash between writing the ledger and writing the moves is repaired
by the next posting, which writes the same target again.

Stock rules (Tryton's production model):
- inputs: net consumption per component and lot, from storage to the production location;
  until the order completes, what the plan still expects is kept on the component's
  lot-less move, so Tryton keeps showing the full requirement;
- outputs: good units of the last operation per lot to storage, scrap of every operation
  to the warehouse's waste location, returned components back to storage;
- cycles: one per labour record (minutes), on the work of its operation; reversed labour
  records are left out.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

LEDGER_NAME = "shopfloor-ledger.json"
# Event types that change nothing in Tryton (acknowledged as delivered).
NO_EFFECT = frozenset(
    {
        "work_order.received",
        "work_order.released_to_floor",
        "work_order.aborted",
        "operation.started",
        "operation.paused",
        "operation.resumed",
        "downtime.recorded",
        "lot.created",
        "maintenance.requested",
        "maintenance.started",
        "maintenance.completed",
    }
)
Key = tuple[str, str | None]  # (item code, lot code)


@dataclass(frozen=True)
class Fact:
    """One shopfloor event as the ledger keeps it."""

    event_id: str
    order: str
    kind: str  # consume, return, good, scrap, labour, unlabour, op_done, complete, none
    item: str | None = None
    quantity: Decimal = Decimal(0)
    lot: str | None = None
    operation_no: int | None = None
    fact_id: int | None = None
    totals: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"k": self.kind}
        for name, value in (
            ("item", self.item),
            ("q", str(self.quantity) if self.quantity else None),
            ("lot", self.lot),
            ("op", self.operation_no),
            ("f", self.fact_id),
            ("t", dict(self.totals) or None),
        ):
            if value is not None:
                entry[name] = value
        return entry

    @classmethod
    def from_json(cls, event_id: str, order: str, entry: Mapping[str, Any]) -> Fact:
        return cls(
            event_id, order, entry["k"], entry.get("item"), Decimal(entry.get("q", "0")),
            entry.get("lot"), entry.get("op"), entry.get("f"), entry.get("t") or {},
        )  # fmt: skip


class UnreadableMessage(ValueError):
    """A message the adapter cannot understand: no retry will change that."""


def facts_of(body: bytes) -> list[Fact]:
    """The facts in one outbox message: one event, or every event of an aggregate."""
    try:
        message = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UnreadableMessage(f"not JSON: {exc}") from exc
    events = message.get("events") if isinstance(message.get("events"), list) else [message]
    return [fact for event in events if (fact := fact_of(event)) is not None]


def _number(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def fact_of(event: Mapping[str, Any]) -> Fact | None:
    """One event as a fact of its order; None for events without an order."""
    kind, payload = str(event.get("type", "")), event.get("payload") or {}
    order = event.get("erp_order_id")
    if not order or kind in NO_EFFECT:
        return None
    event_id, item, lot = str(event["id"]), event.get("item"), event.get("lot")
    op = int(event["operation_no"]) if event.get("operation_no") is not None else None
    base: dict[str, Any] = {
        "event_id": event_id,
        "order": str(order),
        "item": item,
        "operation_no": op,
    }
    quantity = _number(payload.get("quantity"))
    if kind == "material.consumed":
        return Fact(**base, kind="consume", quantity=quantity, lot=lot)
    if kind == "material.returned":
        return Fact(**base, kind="return", quantity=quantity, lot=lot)
    if kind == "production.reported" and payload.get("kind") in ("good", "scrap"):
        return Fact(**base, kind=str(payload["kind"]), quantity=quantity, lot=lot)
    if kind == "labor.reported":
        minutes = _number(payload.get("minutes"))
        return Fact(**base, kind="labour", quantity=minutes, fact_id=payload.get("labor_id"))
    if kind == "fact.reversed":
        return _reversal(base, payload, lot)
    if kind == "operation.completed":
        return Fact(**base, kind="op_done")
    if kind == "work_order.completed":
        totals: dict[str, Any] = {
            "good": str(_number(payload.get("good"))),
            "scrap": str(_number(payload.get("scrap"))),
        }
        if "components" in payload:
            totals["components"] = {
                str(c["item"]): str(_number(c["consumed"])) for c in payload["components"]
            }
        if "labour_minutes" in payload:
            totals["labour_minutes"] = str(_number(payload["labour_minutes"]))
        if isinstance(payload.get("facts"), Mapping):
            totals["facts"] = {str(k): int(v) for k, v in payload["facts"].items()}
        return Fact(**base, kind="complete", totals=totals)
    return Fact(**base, kind="none")


def _reversal(base: dict[str, Any], payload: Mapping[str, Any], lot: str | None) -> Fact:
    """A reversal is the original fact with the negated quantity (labour: drop its cycle)."""
    original, quantity = payload.get("original_type"), _number(payload.get("quantity"))
    if original == "labor.reported":
        return Fact(**base, kind="unlabour", fact_id=payload.get("fact_id"))
    if original in ("material.consumed", "material.returned") and payload.get("kind") in (
        "consume",
        "return",
    ):
        return Fact(**base, kind=str(payload["kind"]), quantity=quantity, lot=lot)
    if original == "production.reported" and payload.get("kind") in ("good", "scrap"):
        return Fact(**base, kind=str(payload["kind"]), quantity=quantity, lot=lot)
    return Fact(**base, kind="none")


@dataclass
class Ledger:
    """The facts applied to one production, and its plan when the first one came."""

    order: str
    plan_inputs: dict[str, Decimal] = field(default_factory=dict)
    plan_output: Decimal = Decimal(0)
    facts: dict[str, Fact] = field(default_factory=dict)

    def add(self, facts: Iterable[Fact]) -> list[Fact]:
        """Record the facts not recorded yet; returns those that are new."""
        new = [f for f in facts if f.event_id not in self.facts]
        for fact in new:
            self.facts[fact.event_id] = fact
        return new

    def dumps(self) -> bytes:
        document = {
            "order": self.order,
            "plan": {
                "inputs": {k: str(v) for k, v in sorted(self.plan_inputs.items())},
                "output": str(self.plan_output),
            },
            "facts": {k: f.as_json() for k, f in self.facts.items()},
        }
        return json.dumps(document, separators=(",", ":")).encode()

    @classmethod
    def loads(cls, raw: bytes) -> Ledger:
        document = json.loads(raw)
        order = str(document["order"])
        plan = document.get("plan", {})
        return cls(
            order,
            {k: Decimal(v) for k, v in plan.get("inputs", {}).items()},
            Decimal(plan.get("output", "0")),
            {k: Fact.from_json(k, order, v) for k, v in document.get("facts", {}).items()},
        )

    def of_kind(self, *kinds: str) -> list[Fact]:
        return [f for f in self.facts.values() if f.kind in kinds]

    @property
    def completion(self) -> Fact | None:
        return next(iter(self.of_kind("complete")), None)


@dataclass(frozen=True)
class Target:
    """What the production's moves and cycles must be."""

    inputs: dict[Key, Decimal]
    good: dict[Key, Decimal]
    scrap: dict[Key, Decimal]
    returns: dict[Key, Decimal]
    cycles: dict[int, list[Decimal]]


def _positive(amounts: Mapping[Key, Decimal]) -> dict[Key, Decimal]:
    return {k: v for k, v in amounts.items() if v > 0}


def target(ledger: Ledger, product: str, last_operation: int | None, *, final: bool) -> Target:
    """The moves and cycles that express the ledger (see the module docstring)."""
    inputs: dict[Key, Decimal] = defaultdict(Decimal)
    good: dict[Key, Decimal] = defaultdict(Decimal)
    scrap: dict[Key, Decimal] = defaultdict(Decimal)
    returns: dict[Key, Decimal] = defaultdict(Decimal)
    for fact in ledger.facts.values():
        key = (fact.item or product, fact.lot)
        if fact.kind == "consume":
            inputs[key] += fact.quantity
        elif fact.kind == "return":
            returns[key] += fact.quantity
        elif fact.kind == "scrap":
            scrap[(product, fact.lot)] += fact.quantity
        elif fact.kind == "good" and fact.operation_no in (None, last_operation):
            good[(product, fact.lot)] += fact.quantity
    if not final:
        for item, planned in ledger.plan_inputs.items():
            used = sum((q for (i, _), q in inputs.items() if i == item), Decimal(0))
            inputs[(item, None)] += max(Decimal(0), planned - used)
        made = sum(good.values(), Decimal(0)) + sum(scrap.values(), Decimal(0))
        good[(product, None)] += max(Decimal(0), ledger.plan_output - made)
    return Target(
        _positive(inputs), _positive(good), _positive(scrap), _positive(returns),
        cycles(ledger),
    )  # fmt: skip


def cycles(ledger: Ledger) -> dict[int, list[Decimal]]:
    """Minutes of every live labour record, per operation number, in a stable order."""
    reversed_ids = {f.fact_id for f in ledger.of_kind("unlabour")}
    per_operation: dict[int, list[Decimal]] = defaultdict(list)
    for fact in ledger.of_kind("labour"):
        if fact.fact_id not in reversed_ids and fact.quantity > 0:
            per_operation[fact.operation_no or 0].append(fact.quantity)
    return {op: sorted(minutes) for op, minutes in per_operation.items()}


def missing_for_completion(ledger: Ledger, last_operation: int | None) -> list[str]:
    """Why the order cannot be closed yet: the completion says more facts exist than the
    ledger holds (they were delayed and will come). Empty: every fact is in."""
    completion = ledger.completion
    if completion is None:
        return ["the work order has not completed"]
    totals, gaps = completion.totals, []
    good = sum(
        (f.quantity for f in ledger.of_kind("good") if f.operation_no in (None, last_operation)),
        Decimal(0),
    )
    scrap = sum((f.quantity for f in ledger.of_kind("scrap")), Decimal(0))
    for name, held in (("good", good), ("scrap", scrap)):
        if Decimal(totals.get(name, "0")) != held:
            gaps.append(f"{name} {_plain(held)} of {_plain(totals.get(name, '0'))}")
    net: dict[str, Decimal] = defaultdict(Decimal)
    for fact in ledger.of_kind("consume", "return"):
        net[fact.item or ""] += fact.quantity if fact.kind == "consume" else -fact.quantity
    for item, consumed in (totals.get("components") or {}).items():
        if net[item] != Decimal(consumed):
            gaps.append(f"{item} consumed {_plain(net[item])} of {_plain(consumed)}")
    if "labour_minutes" in totals:
        minutes = sum((sum(m, Decimal(0)) for m in cycles(ledger).values()), Decimal(0))
        if minutes != Decimal(totals["labour_minutes"]):
            gaps.append(f"labour {_plain(minutes)} of {_plain(totals['labour_minutes'])} minutes")
    held_facts = Counter(f.kind for f in ledger.facts.values())
    for kind, count in (totals.get("facts") or {}).items():  # sums can cancel out; counts not
        if held_facts[kind] < count:
            gaps.append(f"{held_facts[kind]} of {count} {kind} facts")
    return gaps


def _plain(value: Any) -> str:
    """A quantity as people write it: 16, not 16.000000."""
    return format(Decimal(str(value)).normalize(), "f")
