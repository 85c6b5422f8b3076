"""A month of machine data for `python -m bench oee`, written straight into PostgreSQL.

The plant: one site, lines of 20 machines, one UTC calendar with three 8-hour shifts
(06:00, 14:00, 22:00), each with a 30-minute break two hours in; four products whose
routing has an operation on every machine (ideal cycle 0.8-1.4 s). Every machine:

- changes state every 2-5 minutes (running most of the time; down, idle, setup now and
  then; some stops shorter than the 3-minute micro-stop threshold);
- sends its total counter every minute (up to one piece a second while running) and its
  reject counter every five minutes; the counter is reset once (a PLC restart);
- changes product every 12 hours, and goes silent once for 20-40 minutes (a data gap).

Rows go in with COPY; the generator is seeded, so a run is reproducible.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import psycopg
from sqlalchemy.orm import Session

from shopfloor.machines.tables import MchEquipmentProfile, MchIngestStat
from shopfloor.masterdata.tables import (
    Equipment,
    Item,
    Routing,
    RoutingOperation,
    Shift,
    ShiftBreak,
    ShiftCalendar,
    UnitOfMeasure,
)

START = datetime(2026, 1, 5, tzinfo=UTC)
PRODUCTS = {
    "P-100": Decimal("1.0"),
    "P-200": Decimal("1.2"),
    "P-300": Decimal("0.8"),
    "P-400": Decimal("1.4"),
}
SHIFTS = (("S1", time(6)), ("S2", time(14)), ("S3", time(22)))
BREAK = ("break", 120, 30)
HEARTBEAT_S = 200.0
MICRO_STOP_S = 180.0
STATES = (
    ("running", 0.66),
    ("down:jam", 0.08),
    ("down:fault", 0.05),
    ("idle:starved", 0.08),
    ("idle:blocked", 0.05),
    ("setup", 0.08),
)
PRODUCT_EVERY = timedelta(hours=12)


@dataclass(frozen=True)
class Layout:
    machines: int
    days: int
    seed: int

    @property
    def end(self) -> datetime:
        return START + timedelta(days=self.days)


def build_plant(session: Session, layout: Layout) -> dict[str, int]:
    """Master data and machine profiles; returns machine code → equipment id."""
    site = Equipment(code="SITE", name="site", level="site", calendar_id=_calendar(session))
    session.add(site)
    session.flush()
    machines: dict[str, int] = {}
    for number in range(layout.machines):
        if number % 20 == 0:
            line = Equipment(
                code=f"L{number // 20 + 1:02d}", name="line", level="line", parent_id=site.id
            )
            session.add(line)
            session.flush()
        code = f"M{number + 1:03d}"
        machine = Equipment(code=code, name=code, level="work_center", parent_id=line.id)
        session.add(machine)
        session.flush()
        machines[code] = machine.id
        session.add(
            MchEquipmentProfile(
                equipment_id=machine.id,
                heartbeat_timeout_s=HEARTBEAT_S,
                micro_stop_s=MICRO_STOP_S,
                skew_tolerance_s=60.0,
            )
        )
        session.add(
            MchIngestStat(
                equipment_id=machine.id, received=0, inserted=0, duplicates=0,
                out_of_order=0, skewed=0, max_skew_ms=0, deaths=0,
            )
        )  # fmt: skip
    _routings(session, machines)
    session.flush()
    return machines


def _calendar(session: Session) -> int:
    calendar = ShiftCalendar(code="3x8", name="three shifts", timezone="UTC")
    session.add(calendar)
    session.flush()
    for code, starts_at in SHIFTS:
        shift = Shift(
            calendar_id=calendar.id,
            code=code,
            name=code,
            starts_at=starts_at,
            minutes=480,
            weekdays=list(range(7)),
        )
        session.add(shift)
        session.flush()
        name, offset, length = BREAK
        session.add(ShiftBreak(shift_id=shift.id, name=name, offset_minutes=offset, minutes=length))
    return calendar.id


def _routings(session: Session, machines: dict[str, int]) -> None:
    pcs = UnitOfMeasure(code="pcs", name="pieces", dimension="count")
    session.add(pcs)
    session.flush()
    for product, seconds in PRODUCTS.items():
        item = Item(code=product, name=product, uom_id=pcs.id, attributes={}, updated_at=START)
        session.add(item)
        session.flush()
        routing = Routing(
            item_id=item.id, version="1", effective_from=date(2025, 1, 1), recorded_at=START
        )
        session.add(routing)
        session.flush()
        for number, machine_id in enumerate(machines.values(), start=1):
            session.add(
                RoutingOperation(
                    routing_id=routing.id,
                    operation_no=number * 10,
                    name="run",
                    work_center_id=machine_id,
                    setup_minutes=Decimal(10),
                    ideal_cycle_seconds=seconds,
                )
            )


Row = tuple[int, str, datetime, str, datetime, float | None, str | None, bool, str]


def machine_rows(equipment_id: int, layout: Layout, rng: random.Random) -> Iterator[Row]:
    """One machine's signals in device-time order (see the module docstring)."""
    span = layout.end - START
    gap_start = START + timedelta(minutes=rng.randrange(60, int(span.total_seconds() // 60) - 60))
    gap_end = gap_start + timedelta(minutes=rng.randrange(20, 41))
    reset_at = START + timedelta(minutes=rng.randrange(1, int(span.total_seconds() // 60)))
    changes = _state_changes(layout, rng, gap_start)
    state_index, state = 0, changes[0][1]
    products = list(PRODUCTS)
    total = reject = 0
    minute = START
    product_change = START
    while minute < layout.end:
        while state_index < len(changes) and changes[state_index][0] <= minute:
            moment, state = changes[state_index]
            if not gap_start <= moment < gap_end:
                yield _row(equipment_id, "state", "state", moment, None, state)
            state_index += 1
        if minute == product_change:
            product = products[(minute - START) // PRODUCT_EVERY % len(products)]
            yield _row(equipment_id, "product", "context", minute, None, product)
            product_change += PRODUCT_EVERY
        if minute == reset_at:
            total = reject = 0
        if not gap_start <= minute < gap_end:
            yield _row(equipment_id, "total", "total", minute, float(total), None)
            if minute.minute % 5 == 0:
                yield _row(equipment_id, "reject", "reject", minute, float(reject), None)
        if state == "running":
            cycle = float(PRODUCTS[product])
            made = rng.randint(int(42 / cycle), int(60 / cycle))
            total += made
            reject += made // 40 if rng.random() < 0.3 else 0
        minute += timedelta(minutes=1)
        while state_index < len(changes) and changes[state_index][0] < minute:
            moment, state = changes[state_index]
            if not gap_start <= moment < gap_end:
                yield _row(equipment_id, "state", "state", moment, None, state)
            state_index += 1


def _state_changes(
    layout: Layout, rng: random.Random, gap_start: datetime
) -> list[tuple[datetime, str]]:
    """A state every 2-5 minutes; none in the two minutes before the data gap (so the last
    sign of life before the gap is the counter's)."""
    names = [name for name, _ in STATES]
    weights = [weight for _, weight in STATES]
    changes = [(START, "running")]
    moment = START
    while True:
        moment += timedelta(seconds=rng.randrange(120, 301))
        if moment >= layout.end:
            return changes
        if gap_start - timedelta(minutes=2) <= moment < gap_start:
            continue
        changes.append((moment, rng.choices(names, weights)[0]))


def _row(
    equipment_id: int,
    metric: str,
    kind: str,
    moment: datetime,
    number: float | None,
    text: str | None,
) -> Row:
    return (equipment_id, metric, moment, kind, moment, number, text, False, "bench")


def copy_signals(dsn: str, machines: dict[str, int], layout: Layout) -> int:
    """COPY every machine's rows into mch_signal; returns the number of rows."""
    rng = random.Random(layout.seed)
    count = 0
    columns = "equipment_id, metric, device_time, kind, received_at, num_value, text_value, "
    columns += "historical, source"
    with psycopg.connect(dsn) as conn, conn.cursor() as cursor:
        with cursor.copy(f"COPY mch_signal ({columns}) FROM STDIN") as copy:
            for equipment_id in machines.values():
                for row in machine_rows(equipment_id, layout, rng):
                    copy.write_row(row)
                    count += 1
        cursor.execute("ANALYZE mch_signal")
    return count
