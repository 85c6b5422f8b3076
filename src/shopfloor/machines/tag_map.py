"""The tag map: which device value means what for which equipment — and its editing.

A tag is found by (source, address, metric): exactly, or else through the address's `*`
row, which takes every other metric of that address as a process value named after the
metric. What a value becomes depends on the tag's kind:

- state: the device's value, looked up in the tag's `states` table when it has one (codes
  → `running`, `idle:starved`, `down:jam`, …), must name a shopfloor state, optionally
  with a cause after a colon; anything else is refused (counted invalid, not stored);
- total, reject: cumulative counters, whole numbers ≥ 0 (`scale` does not apply);
- value: a process value, a number times `scale` (or a text);
- context: order, operation or product, as text (`name` says which);
- heartbeat: proof of life, the value is ignored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from shopfloor.audit import service as audit
from shopfloor.kernel.context import CommandContext
from shopfloor.kernel.errors import NotFound, RuleViolation
from shopfloor.machines.domain import EquipmentState
from shopfloor.machines.signal_store import SignalRow
from shopfloor.machines.tables import MchTagMap
from shopfloor.masterdata.tables import Equipment

SOURCES = ("sparkplug", "json", "opcua")
KINDS = ("state", "total", "reject", "value", "context", "heartbeat")
CONTEXT_NAMES = ("order", "operation", "product")
WILDCARD = "*"
Value = float | int | bool | str | None


@dataclass(frozen=True, slots=True)
class TagTarget:
    """What a tag resolves to; `name` is the canonical metric stored."""

    equipment_id: int
    equipment: str
    kind: str
    name: str
    scale: float = 1.0
    states: Mapping[str, str] | None = None

    def row(
        self,
        device_time: datetime,
        value: Value,
        received_at: datetime,
        historical: bool,
        source: str,
    ) -> SignalRow | None:
        """The row to store for one sample, or None when the value does not fit the kind."""
        kind = self.kind
        num: float | None = None
        text: str | None = None
        if kind == "value":
            if isinstance(value, bool):
                num = float(value)
            elif isinstance(value, int | float):
                num = value * self.scale
                if not math.isfinite(num):
                    return None
            elif value is None:
                return None
            else:
                text = str(value)[:200]
        elif kind in ("total", "reject"):
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                return None
            num = float(int(value))
        elif kind == "state":
            text = self.state_of(value)
            if text is None:
                return None
        elif kind == "context":
            text = None if value is None or value == "" else str(value)[:200]
        return SignalRow(
            self.equipment_id, self.name, kind, device_time, received_at, num, text,
            historical, source,
        )  # fmt: skip

    def state_of(self, value: Value) -> str | None:
        """`running`, `down:jam`, … from the device's value, or None when it names none."""
        if value is None:
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        raw = str(value).lower() if isinstance(value, bool) else str(value)
        if self.states is not None:
            mapped = self.states.get(raw)
            if mapped is None:
                return None
            raw = mapped
        state, _, cause = raw.partition(":")
        try:
            EquipmentState(state)
        except ValueError:
            return None
        return f"{state}:{cause}" if cause else state


class TagMap:
    """The whole tag map in memory, for resolving at machine speed."""

    def __init__(self, targets: Mapping[tuple[str, str, str], TagTarget], version: str) -> None:
        self._targets = dict(targets)
        self.version = version

    def __len__(self) -> int:
        return len(self._targets)

    def resolve(self, source: str, address: str, metric: str) -> TagTarget | None:
        found = self._targets.get((source, address, metric))
        if found is not None:
            return found
        every = self._targets.get((source, address, WILDCARD))
        if every is None:
            return None
        return TagTarget(every.equipment_id, every.equipment, "value", metric[:100], every.scale)

    def equipment_under(self, source: str, address: str) -> set[int]:
        """Equipment mapped at `address` or below it (`group/edge` covers its devices)."""
        prefix = address + "/"
        return {
            t.equipment_id
            for (s, a, _), t in self._targets.items()
            if s == source and (a == address or a.startswith(prefix))
        }

    def addresses(self, source: str) -> list[str]:
        return sorted({a for (s, a, _) in self._targets if s == source})

    def metrics(self, source: str, address: str) -> list[str]:
        return sorted(m for (s, a, m) in self._targets if s == source and a == address)


def load_tag_map(session: Session) -> TagMap:
    rows = session.execute(select(MchTagMap, Equipment.code).join(Equipment)).all()
    targets = {}
    newest = ""
    for tag, code in rows:
        states = {str(k): str(v) for k, v in tag.states.items()} if tag.states else None
        targets[(tag.source, tag.address, tag.metric)] = TagTarget(
            tag.equipment_id, code, tag.kind, tag.name, tag.scale, states
        )
        newest = max(newest, tag.updated_at.isoformat())
    return TagMap(targets, f"{len(targets)}@{newest}")


def tag_map_version(session: Session) -> str:
    """Changes whenever a tag is added, changed or removed (cheap to poll)."""
    from sqlalchemy import func

    count, newest = session.execute(
        select(func.count(MchTagMap.id), func.max(MchTagMap.updated_at))
    ).one()
    return f"{count}@{newest.isoformat() if newest else ''}"


@dataclass(frozen=True)
class TagSpec:
    """One tag as an engineer writes it (API, CLI, simulator)."""

    source: str
    address: str
    metric: str
    equipment: str
    kind: str
    name: str | None = None
    scale: float = 1.0
    states: Mapping[str, str] | None = None


def _check(spec: TagSpec) -> str:
    if spec.source not in SOURCES:
        raise RuleViolation(f"source '{spec.source}' is not one of {', '.join(SOURCES)}")
    if spec.kind not in KINDS:
        raise RuleViolation(f"kind '{spec.kind}' is not one of {', '.join(KINDS)}")
    if not spec.address or not spec.metric:
        raise RuleViolation("a tag needs an address and a metric")
    name = spec.name or (spec.kind if spec.kind in (*KINDS[:3], "heartbeat") else spec.metric)
    if spec.kind == "context" and name not in CONTEXT_NAMES:
        raise RuleViolation(f"a context tag's name must be one of {', '.join(CONTEXT_NAMES)}")
    if spec.kind in ("state", "total", "reject", "heartbeat") and name != spec.kind:
        raise RuleViolation(f"a {spec.kind} tag is stored under the name '{spec.kind}'")
    if spec.kind == "value" and (name in KINDS or name in CONTEXT_NAMES or name.startswith("$")):
        raise RuleViolation(f"'{name}' is reserved; give the process value another name")
    if spec.states:
        for code, state in spec.states.items():
            if TagTarget(0, "", "state", "state").state_of(state) is None:
                raise RuleViolation(f"state code '{code}' maps to '{state}', not a state")
    return name[:100]


def set_tags(session: Session, ctx: CommandContext, specs: Sequence[TagSpec]) -> list[MchTagMap]:
    """Add or replace tags (keyed by source, address and metric); audited."""
    codes = {s.equipment for s in specs}
    equipment = dict(
        session.execute(select(Equipment.code, Equipment.id).where(Equipment.code.in_(codes))).all()
    )
    saved = []
    for spec in specs:
        name = _check(spec)
        if spec.equipment not in equipment:
            raise NotFound(f"no equipment with the code {spec.equipment}")
        tag = session.scalar(
            select(MchTagMap).where(
                MchTagMap.source == spec.source,
                MchTagMap.address == spec.address,
                MchTagMap.metric == spec.metric,
            )
        )
        old = _plain(tag) if tag else None
        if tag is None:
            tag = MchTagMap(source=spec.source, address=spec.address, metric=spec.metric)
            session.add(tag)
        tag.equipment_id = equipment[spec.equipment]
        tag.kind, tag.name, tag.scale = spec.kind, name, spec.scale
        tag.states = dict(spec.states) if spec.states else None
        tag.updated_at = ctx.now
        session.flush()
        audit.record(session, ctx, "tag.set", "mch_tag_map", tag.id, old=old, new=_plain(tag))
        saved.append(tag)
    return saved


def remove_tag(session: Session, ctx: CommandContext, tag_id: int) -> None:
    tag = session.get(MchTagMap, tag_id)
    if tag is None:
        raise NotFound(f"no tag with the id {tag_id}")
    audit.record(session, ctx, "tag.removed", "mch_tag_map", tag_id, old=_plain(tag))
    session.execute(delete(MchTagMap).where(MchTagMap.id == tag_id))


def list_tags(session: Session, source: str | None = None) -> list[tuple[MchTagMap, str]]:
    statement = select(MchTagMap, Equipment.code).join(Equipment)
    if source:
        statement = statement.where(MchTagMap.source == source)
    rows = session.execute(
        statement.order_by(MchTagMap.source, MchTagMap.address, MchTagMap.metric)
    )
    return [(tag, code) for tag, code in rows.all()]


def _plain(tag: MchTagMap) -> dict[str, Any]:
    return {
        "source": tag.source,
        "address": tag.address,
        "metric": tag.metric,
        "equipment_id": tag.equipment_id,
        "kind": tag.kind,
        "name": tag.name,
        "scale": tag.scale,
        "states": tag.states,
    }
