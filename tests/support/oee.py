"""A machine on the WS-100 plant for the OEE and downtime tests: WC-ASSY sends stored
signals, works a shift calendar (set on the site, so the work center inherits it) and runs
order PO-4711 operation 10. Vorne's worked example is shift A of 2026-03-01, 06:00-14:00
UTC with breaks 08:00 (15 min), 10:00 (meal, 30 min) and 12:00 (15 min).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopfloor.machines.signals_queries import SignalRow, store_signals
from shopfloor.machines.tables import MchEquipmentProfile
from shopfloor.masterdata.tables import Equipment, Shift, ShiftBreak, ShiftCalendar
from shopfloor.orders.tables import Operation, ProductionOrder
from tests.support.plant import Plant, build_plant, make_order

MACHINE = "WC-ASSY"
DAY = datetime(2026, 3, 1, tzinfo=UTC)
VORNE_BREAKS = (("break", 120, 15), ("meal", 240, 30), ("break", 360, 15))
CONTEXT = ("order", "operation", "product")


def at(hour: int, minute: int = 0, second: int = 0, day: datetime = DAY) -> datetime:
    return day + timedelta(hours=hour, minutes=minute, seconds=second)


@dataclass
class MachinePlant:
    plant: Plant
    order: ProductionOrder
    machine_id: int

    def operation(self, session: Session, number: int = 10) -> Operation:
        return session.scalars(
            select(Operation).where(
                Operation.order_id == self.order.id, Operation.operation_no == number
            )
        ).one()


def machine_plant(
    session: Session,
    *,
    shifts: Sequence[tuple[str, time, int, Sequence[tuple[str, int, int]]]] = (
        ("A", time(6), 480, VORNE_BREAKS),
    ),
    heartbeat_s: float = 90,
    micro_stop_s: float = 120,
    ideal_cycle_s: Decimal = Decimal("1.0"),
) -> MachinePlant:
    """The WS-100 plant, a calendar on its site, a profile for WC-ASSY and order PO-4711
    whose operation 10 (on WC-ASSY) has the given ideal cycle time."""
    plant = build_plant(session)
    calendar = ShiftCalendar(code="3x8", name="three shifts", timezone="UTC")
    session.add(calendar)
    session.flush()
    for code, starts_at, minutes, breaks in shifts:
        shift = Shift(
            calendar_id=calendar.id,
            code=code,
            name=code,
            starts_at=starts_at,
            minutes=minutes,
            weekdays=list(range(7)),
        )
        session.add(shift)
        session.flush()
        for name, offset, length in breaks:
            session.add(
                ShiftBreak(shift_id=shift.id, name=name, offset_minutes=offset, minutes=length)
            )
    site = session.scalars(select(Equipment).where(Equipment.code == "SITE-1")).one()
    site.calendar_id = calendar.id
    machine = plant.centers[MACHINE]
    session.add(
        MchEquipmentProfile(
            equipment_id=machine.id,
            heartbeat_timeout_s=heartbeat_s,
            micro_stop_s=micro_stop_s,
            skew_tolerance_s=3600.0,
        )
    )
    order = make_order(session, plant)
    result = MachinePlant(plant, order, machine.id)
    result.operation(session).ideal_cycle_seconds = ideal_cycle_s
    session.flush()
    return result


Sample = tuple[datetime, str, object]  # (device time, metric, value)


def store(session: Session, equipment_id: int, samples: Iterable[Sample]) -> None:
    """Store samples as ingest would: states as text, counters as numbers, context fields."""
    rows = []
    for moment, metric, value in samples:
        if metric in ("total", "reject"):
            kind, number, text = metric, float(value), None  # type: ignore[arg-type]
        elif metric in CONTEXT:
            kind, number, text = "context", None, str(value) if value is not None else None
        elif metric == "heartbeat":
            kind, number, text = "heartbeat", None, None
        else:
            kind, number, text = "state", None, str(value)
        rows.append(SignalRow(equipment_id, metric, kind, moment, moment, number, text))
    store_signals(session, rows)
    session.flush()


def context(moment: datetime, order: str, operation: str, product: str) -> list[Sample]:
    return [
        (moment, "order", order),
        (moment, "operation", operation),
        (moment, "product", product),
    ]


def counter_ramp(
    start: datetime, end: datetime, first: int, last: int, metric: str = "total"
) -> list[Sample]:
    """One sample a minute from `start` (value `first`) rising evenly, and a last sample
    one second before `end` with the value `last`."""
    steps = int((end - start) / timedelta(minutes=1))
    samples: list[Sample] = [
        (start + timedelta(minutes=n), metric, first + (last - first) * n // steps)
        for n in range(steps)
    ]
    samples.append((end - timedelta(seconds=1), metric, last))
    return samples


def vorne_samples() -> list[Sample]:
    """Shift A: running all shift except 07:00-07:20 and 11:00-11:27 down (47 minutes),
    19,271 pieces of which 423 rejected, order PO-4711 operation 10 all along."""
    states: list[Sample] = [
        (at(6), "state", "running"),
        (at(7), "state", "down:jam"),
        (at(7, 20), "state", "running"),
        (at(11), "state", "down:motor trip"),
        (at(11, 27), "state", "running"),
    ]
    return [
        *states,
        *context(at(6), "PO-4711", "10", "WS-100"),
        *counter_ramp(at(6), at(14), 0, 19_271),
        *counter_ramp(at(6), at(14), 0, 423, "reject"),
    ]


def plant_day(seed: int, day: datetime = DAY) -> list[Sample]:
    """A generated day and a half on WC-ASSY (seeded): a state every 1-9 minutes (some
    stops shorter than the micro-stop threshold), counters every minute with a reset, a
    silent half hour, the order context changing twice, and a death."""
    import random

    rng = random.Random(seed)
    states = ["running"] * 5 + ["down:jam", "down:fault", "idle:starved", "setup"]
    samples: list[Sample] = [*context(day, "PO-4711", "10", "WS-100")]
    moment, total, reject = day, 0, 0
    gap = (day + timedelta(hours=9), day + timedelta(hours=9, minutes=30))
    while moment < day + timedelta(hours=36):
        if not gap[0] <= moment < gap[1]:
            if moment.minute % 7 == 0 or rng.random() < 0.2:
                samples.append((moment, "state", rng.choice(states)))
            samples.append((moment, "total", total))
            if moment.minute % 5 == 0:
                samples.append((moment, "reject", reject))
        total += rng.randint(0, 60)
        reject += rng.randint(0, 2)
        if moment == day + timedelta(hours=20):
            total = reject = 0
        moment += timedelta(minutes=1, seconds=rng.choice([0, 0, 7]))
    samples += context(day + timedelta(hours=13, seconds=30), "PO-4711", "20", "WS-100")
    samples += context(day + timedelta(hours=27), "PO-4711", "10", "WS-100")
    samples.append((day + timedelta(hours=30, minutes=3), "$death", "offline:NDEATH"))
    return samples
