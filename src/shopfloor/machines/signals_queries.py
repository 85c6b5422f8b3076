"""The read side of machine signals: what the state, downtime and OEE rules are fed with.

`machine_history` returns, per equipment, the domain signals and counter samples of a
window, plus what carries into it from before: the last state (or death), the last value
of each context field, the last sample of each counter (the baseline of the first
increment) and the last sign of life. Rules of the translation:

- state rows hold `state` or `state:cause` (`down:jam`, `idle:starved`); a Sparkplug death
  is stored as the state `offline` with the cause NDEATH/DDEATH: nothing is known after it;
- context rows (order, operation, product) each carry one field; the signal handed out
  carries all three as they stand at that moment;
- every counter sample and heartbeat proves the machine alive: they become heartbeats,
  thinned to one per quarter of the heartbeat timeout (enough for the offline rule);
- historical samples are facts of the past and are included; duplicates never reach here.

`store_signals` and its row types are re-exported from `signal_store`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, union_all
from sqlalchemy.orm import Session

from shopfloor.kernel.clock import as_utc
from shopfloor.kernel.errors import NotFound
from shopfloor.machines.domain import (
    ContextSignal,
    CounterKind,
    CounterSample,
    CounterSettings,
    EquipmentProfile,
    EquipmentState,
    Heartbeat,
    StateSignal,
)
from shopfloor.machines.signal_store import SignalRow, StoreResult, store_signals
from shopfloor.machines.tables import MchEquipmentProfile, MchIngestStat, MchSignal
from shopfloor.masterdata.tables import Equipment

__all__ = [
    "DEATH_METRIC",
    "EquipmentHistory",
    "SignalRow",
    "StoreResult",
    "counter_settings",
    "equipment_profiles",
    "machine_history",
    "store_signals",
]

DEATH_METRIC = "$death"
CONTEXT_FIELDS = ("order", "operation", "product")
COUNTERS = ("total", "reject")
HISTORY_METRICS = ("state", DEATH_METRIC, "heartbeat", *CONTEXT_FIELDS, *COUNTERS)
DEFAULT_HEARTBEAT_TIMEOUT = timedelta(seconds=60)
DEFAULT_MICRO_STOP = timedelta(seconds=120)
DEFAULT_SKEW_TOLERANCE = timedelta(seconds=5)

Signal = StateSignal | Heartbeat | ContextSignal


@dataclass(frozen=True)
class EquipmentHistory:
    """One equipment's signals and counter samples for a window, in device-time order."""

    equipment: str
    line: str | None
    profile: EquipmentProfile
    signals: tuple[StateSignal | Heartbeat | ContextSignal, ...]
    counters: tuple[CounterSample, ...]


def machine_history(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    equipment_codes: Sequence[str] | None = None,
) -> list[EquipmentHistory]:
    """Signals and counters of [start, end) per equipment, with what carries into the
    window. Without `equipment_codes`: every equipment that ever sent data, by code."""
    start, end = as_utc(start), as_utc(end)
    tree = equipment_tree(session)
    ids = equipment_ids(session, tree, equipment_codes)
    profiles = equipment_profiles(session, ids, tree)
    rows = _window_rows(session, ids, start, end) + carry_in_rows(session, ids, start)
    by_equipment: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        by_equipment[row.equipment_id].append(row)
    histories = []
    for equipment_id in ids:
        profile = profiles[equipment_id]
        ordered = sorted(by_equipment[equipment_id], key=lambda r: (r.device_time, r.metric))
        signals, counters = _translate(profile, ordered)
        histories.append(
            EquipmentHistory(profile.equipment, profile.line, profile, signals, counters)
        )
    return histories


def equipment_profiles(
    session: Session, ids: Sequence[int], tree: dict[int, tuple[str, str, int | None]] | None = None
) -> dict[int, EquipmentProfile]:
    """The state-rule thresholds per equipment id (stored, or the defaults)."""
    tree = tree if tree is not None else equipment_tree(session)
    stored = {
        p.equipment_id: p
        for p in session.scalars(
            select(MchEquipmentProfile).where(MchEquipmentProfile.equipment_id.in_(ids))
        )
    }
    profiles = {}
    for equipment_id in ids:
        code, _level, _parent = tree[equipment_id]
        row = stored.get(equipment_id)
        profiles[equipment_id] = EquipmentProfile(
            equipment=code,
            line=_line_of(tree, equipment_id),
            heartbeat_timeout=timedelta(seconds=row.heartbeat_timeout_s)
            if row
            else DEFAULT_HEARTBEAT_TIMEOUT,
            micro_stop_threshold=timedelta(seconds=row.micro_stop_s) if row else DEFAULT_MICRO_STOP,
            skew_tolerance=timedelta(seconds=row.skew_tolerance_s)
            if row
            else DEFAULT_SKEW_TOLERANCE,
        )
    return profiles


def counter_settings(session: Session, equipment_code: str) -> CounterSettings:
    """The counter modulus of an equipment (16/32-bit counters roll over), if configured."""
    modulus = session.scalar(
        select(MchEquipmentProfile.counter_modulus)
        .join(Equipment, Equipment.id == MchEquipmentProfile.equipment_id)
        .where(Equipment.code == equipment_code)
    )
    return CounterSettings(modulus=modulus)


def equipment_tree(session: Session) -> dict[int, tuple[str, str, int | None]]:
    found = session.execute(
        select(Equipment.id, Equipment.code, Equipment.level, Equipment.parent_id)
    ).all()
    return {i: (code, level, parent) for i, code, level, parent in found}


def _line_of(tree: dict[int, tuple[str, str, int | None]], equipment_id: int) -> str | None:
    """The code of the nearest line at or above the equipment."""
    node: int | None = equipment_id
    for _ in range(len(tree)):
        if node is None:
            return None
        code, level, parent = tree[node]
        if level == "line":
            return code
        node = parent
    return None


def equipment_ids(
    session: Session,
    tree: dict[int, tuple[str, str, int | None]],
    codes: Sequence[str] | None,
) -> list[int]:
    if codes is None:
        known = session.scalars(select(MchIngestStat.equipment_id)).all()
        return sorted(known, key=lambda i: tree[i][0])
    by_code = {code: i for i, (code, _, _) in tree.items()}
    missing = [c for c in codes if c not in by_code]
    if missing:
        raise NotFound(f"no equipment with the code(s) {', '.join(missing)}")
    return list(dict.fromkeys(by_code[c] for c in codes))


_FIELDS = (
    MchSignal.equipment_id,
    MchSignal.metric,
    MchSignal.device_time,
    MchSignal.received_at,
    MchSignal.num_value,
    MchSignal.text_value,
)


def _window_rows(session: Session, ids: Sequence[int], start: datetime, end: datetime) -> list[Any]:
    if not ids:
        return []
    statement = select(*_FIELDS).where(
        MchSignal.equipment_id.in_(ids),
        MchSignal.metric.in_(HISTORY_METRICS),
        MchSignal.device_time >= start,
        MchSignal.device_time < end,
    )
    return list(session.execute(statement).all())


def carry_in_rows(session: Session, ids: Sequence[int], start: datetime) -> list[Any]:
    """The last row before `start` of each (equipment, metric): one index probe each."""
    probes: list[Any] = [
        select(*_FIELDS)
        .where(
            MchSignal.equipment_id == equipment_id,
            MchSignal.metric == metric,
            MchSignal.device_time < start,
        )
        .order_by(MchSignal.device_time.desc())
        .limit(1)
        for equipment_id in ids
        for metric in HISTORY_METRICS
    ]
    found: list[Any] = []
    for chunk in range(0, len(probes), 200):
        parts = [p.subquery().select() for p in probes[chunk : chunk + 200]]
        found.extend(session.execute(union_all(*parts)).all())
    return found


def _translate(
    profile: EquipmentProfile, rows: Sequence[Any]
) -> tuple[tuple[Signal, ...], tuple[CounterSample, ...]]:
    """Stored rows (in device-time order) → domain signals and counter samples.

    Samples closer together than a quarter of the heartbeat timeout are thinned to one
    sign of life, but the last sample before a pause is always kept: offline starts when
    the machine really fell silent, not at the last sample that happened to be kept.
    """
    code = profile.equipment
    thin = profile.heartbeat_timeout / 4
    context = dict.fromkeys(CONTEXT_FIELDS)
    signals: list[Signal] = []
    counters: list[CounterSample] = []
    last_alive: datetime | None = None
    skipped: Heartbeat | None = None
    for row in rows:
        moment, received = row.device_time, row.received_at
        if skipped is not None and moment - skipped.device_time >= thin:
            signals.append(skipped)
            last_alive, skipped = skipped.device_time, None
        if row.metric in ("state", DEATH_METRIC):
            state = parse_state(row.text_value)
            if state is None:
                continue
            signals.append(StateSignal(code, moment, state[0], state[1], received))
        elif row.metric in CONTEXT_FIELDS:
            context[row.metric] = row.text_value
            signals.append(
                ContextSignal(
                    code,
                    moment,
                    context["order"],
                    context["operation"],
                    context["product"],
                    received,
                )
            )
        else:
            if row.metric in COUNTERS and row.num_value is not None:
                value = int(row.num_value)
                if value >= 0:
                    counters.append(
                        CounterSample(code, CounterKind(row.metric), moment, value, received)
                    )
            if last_alive is not None and moment - last_alive < thin:
                skipped = Heartbeat(code, moment, received)
                continue
            signals.append(Heartbeat(code, moment, received))
        last_alive, skipped = moment, None
    if skipped is not None:
        signals.append(skipped)
    return tuple(signals), tuple(counters)


def parse_state(value: str | None) -> tuple[EquipmentState, str | None] | None:
    if not value:
        return None
    name, _, cause = value.partition(":")
    try:
        return EquipmentState(name), cause or None
    except ValueError:
        return None
