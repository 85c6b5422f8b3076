"""A full OEE recompute shared among worker processes (`machines.oee_parallel`) gives the
very rows of the in-process recompute — the same Decimals, exponents included — on SQLite
and PostgreSQL, for every grouping: ten machines on two lines over three days, two of them
sealed into blocks and one raw, with state changes and micro-stops, counter resets, data
gaps, product changes and a maintenance stop. A plant error in a worker is raised as in
the caller; a worker that fails or dies is an error, never a wait."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from decimal import Decimal
from functools import partial

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from shopfloor.kernel.context import CommandContext
from shopfloor.kernel.errors import RuleViolation
from shopfloor.machines import maintenance, oee_parallel
from shopfloor.machines import oee_queries as queries
from shopfloor.machines.oee_parallel import (
    OeeWorkerError,
    shareable_url,
    start_workers,
    tallies_in_workers,
)
from shopfloor.machines.oee_tallies import GroupTallies
from shopfloor.machines.signal_blocks_seal import seal_signals
from shopfloor.machines.signals_queries import SignalRow, store_signals
from shopfloor.machines.tables import MchEquipmentProfile
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
END = START + timedelta(days=3)
WINDOW = {
    "start": START + timedelta(hours=2, minutes=17, seconds=5),
    "end": END - timedelta(minutes=50),
}
SEALED_BY = END + timedelta(hours=2)  # the first two days are sealed, the third is raw
PRODUCTS = {"P-100": Decimal("1.0"), "P-200": Decimal("1.25"), "P-300": Decimal("0.8")}
STATES = ("running",) * 12 + ("down:jam", "down:fault", "idle:starved", "idle:blocked", "setup")
GROUPINGS = (
    ["equipment", "shift"],
    ["line"],
    ["order", "product", "line"],
    ["day"],
    ["product", "shift"],
)


def machine_samples(equipment_id: int, seed: int) -> Iterator[SignalRow]:
    """Three days of one machine: a state every 1-6 minutes (stops shorter than the
    3-minute micro-stop threshold among them), the total counter every minute, the reject
    counter every five, a product every 12 hours, a counter reset, a silent half hour."""
    rng = random.Random(seed)
    gap = START + timedelta(minutes=rng.randrange(600, 3600))
    reset = START + timedelta(minutes=rng.randrange(60, 4000))
    next_state, state = START, "running"
    total = reject = 0
    minute = START
    while minute < END:
        silent = gap <= minute < gap + timedelta(minutes=30)
        while next_state <= minute:
            if not silent:
                yield SignalRow(equipment_id, "state", "state", next_state, next_state, None, state)
            next_state += timedelta(seconds=rng.randrange(60, 360))
            state = rng.choice(STATES)
        if minute.minute == 0 and minute.hour % 12 == 0:
            product = list(PRODUCTS)[(minute.hour // 12 + seed) % len(PRODUCTS)]
            yield SignalRow(equipment_id, "product", "context", minute, minute, None, product)
        if minute == reset:
            total = reject = 0
        if not silent:
            yield SignalRow(equipment_id, "total", "total", minute, minute, float(total))
            if minute.minute % 5 == 0:
                yield SignalRow(equipment_id, "reject", "reject", minute, minute, float(reject))
        if state == "running":
            total += rng.randint(30, 45)
            reject += rng.randint(0, 2)
        minute += timedelta(minutes=1)


def stored_plant(session: Session, ctx: CommandContext) -> list[str]:
    """The plant and its samples, sealed and committed (worker processes read only what is
    committed); returns the machine codes."""
    calendar = ShiftCalendar(code="3x8", name="three shifts", timezone="UTC")
    session.add(calendar)
    session.flush()
    for code, hour in (("S1", 6), ("S2", 14), ("S3", 22)):
        shift = Shift(
            calendar_id=calendar.id, code=code, name=code, starts_at=clock(hour), minutes=480,
            weekdays=list(range(7)),
        )  # fmt: skip
        session.add(shift)
        session.flush()
        session.add(ShiftBreak(shift_id=shift.id, name="break", offset_minutes=120, minutes=30))
    site = Equipment(code="SITE", name="site", level="site", calendar_id=calendar.id)
    session.add(site)
    session.flush()
    machines: dict[str, int] = {}
    for line_no in (1, 2):
        line = Equipment(code=f"L{line_no}", name="line", level="line", parent_id=site.id)
        session.add(line)
        session.flush()
        for n in range(5):
            code = f"M{line_no}{n}"
            machine = Equipment(code=code, name=code, level="work_center", parent_id=line.id)
            session.add(machine)
            session.flush()
            machines[code] = machine.id
            session.add(
                MchEquipmentProfile(
                    equipment_id=machine.id, heartbeat_timeout_s=200.0, micro_stop_s=180.0,
                    skew_tolerance_s=60.0,
                )
            )  # fmt: skip
    _routings(session, machines)
    for seed, machine_id in enumerate(machines.values()):
        store_signals(session, list(machine_samples(machine_id, seed)))
    maintenance.put_under_maintenance(
        session, ctx, "M13", note="belt", at=START + timedelta(hours=30)
    )
    maintenance.end_maintenance(session, ctx, "M13", at=START + timedelta(hours=31, minutes=10))
    seal_signals(session, now=SEALED_BY, seal_after=timedelta(hours=3))
    session.commit()
    return list(machines)


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
                    routing_id=routing.id, operation_no=number * 10, name="run",
                    work_center_id=machine_id, setup_minutes=Decimal(10),
                    ideal_cycle_seconds=seconds,
                )
            )  # fmt: skip
    session.flush()


def published(rows: list[queries.OeeRow]) -> list[str]:
    """Every field of every row, each Decimal with its digits and exponent."""
    return [repr(row) for row in rows]


@pytest.fixture
def plant(session: Session, ctx: CommandContext, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setattr(oee_parallel, "cores", lambda: 3)  # two workers, whatever the machine
    return stored_plant(session, ctx)


@pytest.fixture
def workers_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """The caller tallies no chunk itself: every chunk comes from a worker process."""
    alone = partial(tallies_in_workers, caller_works=False)
    monkeypatch.setattr(queries, "tallies_in_workers", alone)


def test_worker_processes_give_the_very_rows_of_the_in_process_recompute(
    session: Session, plant: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert shareable_url(session) is not None  # committed: the workers see it all
    here = {tuple(g): queries.oee(session, **WINDOW, group_by=g, workers=1) for g in GROUPINGS}
    by_shift = here[("equipment", "shift")]
    assert len(by_shift) >= 90 and {row.group["equipment"] for row in by_shift} == set(plant)
    assert sum(row.total_count for row in by_shift) > 500_000
    assert all(sum(row.minutes[k] for row in by_shift) for k in ("micro_stop", "offline"))
    assert sum(row.minutes["planned_stop"] for row in here[("line",)]) > 30 * 9
    for group_by in GROUPINGS:
        shared = queries.oee(session, **WINDOW, group_by=group_by, workers=3)
        assert published(shared) == published(here[tuple(group_by)]), group_by
    monkeypatch.setattr(
        queries, "tallies_in_workers", partial(tallies_in_workers, caller_works=False)
    )
    for group_by in GROUPINGS:
        alone = queries.oee(session, **WINDOW, group_by=group_by)
        assert published(alone) == published(here[tuple(group_by)]), group_by


def oee_workers() -> set[int]:
    return {c.pid for c in multiprocessing.active_children() if c.name == "oee-worker" and c.pid}


def test_workers_started_ahead_serve_the_next_recompute(session: Session, plant: list[str]) -> None:
    """What a server does as it starts: the recompute then uses those very processes."""
    assert start_workers(1) == 0
    assert start_workers(None) == 2
    ready = oee_workers()
    assert len(ready) >= 2
    here = queries.oee(session, **WINDOW, group_by=["equipment", "shift"], workers=1)
    shared = queries.oee(session, **WINDOW, group_by=["equipment", "shift"], workers=3)
    assert published(shared) == published(here)
    assert oee_workers() == ready  # none started for the recompute, none lost


def test_a_plant_error_in_a_worker_is_raised_as_in_process(
    session: Session, plant: list[str], workers_alone: None
) -> None:
    moment = START + timedelta(hours=40, minutes=1, seconds=30)
    machine_id = session.scalars(text("SELECT id FROM md_equipment WHERE code = 'M21'")).one()
    store_signals(
        session, [SignalRow(machine_id, "product", "context", moment, moment, None, "P-999")]
    )
    session.commit()
    with pytest.raises(RuleViolation) as here:
        queries.oee(session, **WINDOW, group_by=["equipment"], workers=1)
    with pytest.raises(RuleViolation) as shared:
        queries.oee(session, **WINDOW, group_by=["equipment"])
    assert "P-999" in str(here.value) and str(shared.value) == str(here.value)


def test_uncommitted_rows_keep_the_recompute_in_process(session: Session, plant: list[str]) -> None:
    assert shareable_url(session) is not None
    session.execute(text("UPDATE md_equipment SET name = 'renamed' WHERE code = 'M10'"))
    assert shareable_url(session) is None  # only this transaction sees the change
    session.rollback()
    assert shareable_url(session) is not None


def workers_only(url: str) -> Iterator[GroupTallies]:
    """Eight machines' tallies by worker processes reading `url` (the caller has none)."""
    codes = [f"M{n}" for n in range(8)]
    return tallies_in_workers(
        None, url, codes, start=START, end=END, keys=["line"], processes=2, caller_works=False
    )


def test_a_worker_that_fails_is_an_error_with_its_traceback(tmp_path) -> None:
    empty = f"sqlite:///{tmp_path / 'empty.db'}"  # no tables: the worker's first query fails
    with pytest.raises(OeeWorkerError, match="no such table"):
        list(workers_only(empty))


def test_a_worker_that_dies_is_an_error_not_a_wait() -> None:
    """The worker hangs connecting to a server that never answers; killed, its closed pipe
    tells the caller."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    url = f"postgresql+psycopg://nobody@127.0.0.1:{silent.getsockname()[1]}/none"
    killed: list[int] = []

    def kill_the_worker() -> None:
        deadline = time.monotonic() + 60
        while not killed and time.monotonic() < deadline:
            time.sleep(0.05)
            try:  # the caller's starter thread may be adding the worker right now
                children = multiprocessing.active_children()
            except RuntimeError:
                continue
            for child in children:
                if child.name == "oee-worker" and child.pid:
                    os.kill(child.pid, signal.SIGKILL)
                    killed.append(child.pid)

    killer = threading.Thread(target=kill_the_worker)
    killer.start()
    try:
        with pytest.raises(OeeWorkerError, match="never came back"):
            list(workers_only(url))
    finally:
        killer.join()
        silent.close()
    assert killed
