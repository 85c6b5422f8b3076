"""Sealed blocks of machine signals: which metrics are sealed, when a day may be sealed, and
how a late sample keeps the invariant *a block exists ⇒ it equals exactly the raw rows of
its (equipment, metric, day)*.

- Sealed are the metrics the OEE recompute reads as arrays (`SEALED_METRICS`: states,
  deaths, heartbeats and the two counters); the context fields (a few rows per order
  change) and process values stay rows only.
- A UTC day may be sealed once it ended `signal_seal_after_hours` ago (never less than
  `SEAL_AFTER_MIN`): late enough that live data no longer arrives for it.
- A *late* sample is one whose day a sealer may already be sealing: stamped before the
  midnight that `SEAL_AFTER_MIN` less a safety margin (`LATE_MARGIN`) makes sealable. Ingest
  decides it in Python from the device times, so a batch of live samples costs one `min()`.
  For a batch with late samples ingest takes, before it inserts, a shared transaction-level
  advisory lock per equipment concerned (PostgreSQL; a sealer takes the same locks
  exclusively while it reads and writes a day), and after it inserted drops the blocks of
  the (equipment, metric, day)s its late samples fall on — unless every sample of that
  equipment was a re-delivery — and queues those days in `mch_signal_reseal`; all in the
  ingest transaction. On SQLite the single writer lock (every unit of work begins
  IMMEDIATE) keeps sealer and ingest apart.

The margin covers the clocks of two hosts and an ingest transaction's length: a sealer
seals a day at least `LATE_MARGIN` after the last moment an ingest could have judged a
sample of it not late.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

from sqlalchemy import delete, text, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from shopfloor.kernel.clock import as_utc
from shopfloor.kernel.errors import RuleViolation
from shopfloor.machines.tables import MchSignalBlock, MchSignalReseal

SEALED_METRICS = ("state", "$death", "heartbeat", "total", "reject")
PG_EPOCH_US = 946_684_800_000_000  # PostgreSQL's binary timestamps count from 2000-01-01
SEAL_AFTER_MIN = timedelta(hours=1)
LATE_MARGIN = timedelta(minutes=15)
_LOCK_SPACE = 0x5EA1  # the first key of the sealing advisory locks; the second: equipment id

LateDays = dict[int, set[tuple[str, date]]]  # equipment id → (metric, day) of late samples


class Sample(Protocol):
    @property
    def equipment_id(self) -> int: ...
    @property
    def metric(self) -> str: ...
    @property
    def device_time(self) -> datetime: ...


def midnight(moment: datetime) -> datetime:
    """The start of the moment's UTC day."""
    return datetime.combine(as_utc(moment).date(), time(), tzinfo=UTC)


def sealable_before(now: datetime, seal_after: timedelta) -> datetime:
    """The midnight before which every UTC day ended at least `seal_after` ago."""
    if seal_after < SEAL_AFTER_MIN:
        raise RuleViolation(
            f"signals are sealed at least {SEAL_AFTER_MIN.total_seconds() / 3600:g} h after "
            "their day ended"
        )
    return midnight(as_utc(now) - seal_after)


def late_before(now: datetime) -> datetime:
    """Samples stamped before this midnight are late: their day may be sealed."""
    return midnight(as_utc(now) - SEAL_AFTER_MIN + LATE_MARGIN)


def late_days(samples: Sequence[Sample], now: datetime) -> LateDays:
    """The (metric, day) of each sealed metric's late samples, per equipment; empty (after
    one pass over the device times) when none is late."""
    cutoff = late_before(now)
    if not samples or min(s.device_time for s in samples) >= cutoff:
        return {}
    late: LateDays = {}
    for s in samples:
        if s.device_time < cutoff and s.metric in SEALED_METRICS:
            late.setdefault(s.equipment_id, set()).add((s.metric, as_utc(s.device_time).date()))
    return late


def lock_equipment(session: Session, equipment_ids: Iterable[int], *, exclusive: bool) -> None:
    """Transaction-level advisory locks on the sealed days of these equipment (PostgreSQL;
    in id order, so a sealer and an ingest never wait for each other in a circle)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    statement = text(f"SELECT {function}(:space, :equipment)")
    for equipment_id in sorted(set(equipment_ids)):
        session.execute(statement, {"space": _LOCK_SPACE, "equipment": equipment_id})


def drop_late_blocks(
    session: Session, late: LateDays, inserted: Mapping[int, int], now: datetime
) -> int:
    """Drop the blocks late samples fell on (of equipment with rows inserted: a batch of
    re-deliveries changes nothing) and queue their days for sealing again; returns the
    number of blocks dropped. Call with the locks of `lock_equipment` held."""
    keys = [
        (equipment_id, metric, day)
        for equipment_id, days in late.items()
        if inserted.get(equipment_id, 0) > 0
        for metric, day in days
    ]
    if not keys:
        return 0
    block = MchSignalBlock
    dropped = session.execute(
        delete(block)
        .where(tuple_(block.equipment_id, block.metric, block.day).in_(keys))
        .returning(block.equipment_id, block.day),
        execution_options={"synchronize_session": False},
    ).all()
    queue_reseal(session, {(e, d) for e, d in dropped}, now)
    return len(dropped)


def queue_reseal(session: Session, days: Iterable[tuple[int, date]], now: datetime) -> None:
    values = [{"equipment_id": e, "day": d, "queued_at": now} for e, d in sorted(days)]
    if not values:
        return
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(MchSignalReseal).on_conflict_do_nothing(), values)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def days_between(first: date, last: date) -> list[date]:
    """Every day from `first` to `last`, both included."""
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]
