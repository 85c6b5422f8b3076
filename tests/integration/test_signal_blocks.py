"""Sealed day blocks of machine signals, on SQLite and PostgreSQL: a block equals exactly
the raw rows of its (equipment, metric, day); the OEE arrays read from blocks equal the
arrays read from raw rows, whatever the window cuts and whatever arrived late; a late
sample drops its day's block (a re-delivery does not) and waits for a sealer at work."""

from __future__ import annotations

import threading
import time
from datetime import date, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from shopfloor.cli.main import app
from shopfloor.machines import oee_queries as queries
from shopfloor.machines.domain.steps import epoch_us
from shopfloor.machines.domain.tallies import SignalArrays
from shopfloor.machines.signal_arrays import signal_arrays
from shopfloor.machines.signal_blocks import SEALED_METRICS, sealable_before
from shopfloor.machines.signal_blocks_format import EncodedBlock, decode
from shopfloor.machines.signal_blocks_seal import days_to_seal, seal_days, seal_signals
from shopfloor.machines.signals_queries import SignalRow, equipment_profiles, store_signals
from shopfloor.machines.tables import MchSignal, MchSignalBlock, MchSignalReseal
from shopfloor.workers.machine_watch import MachineWatch
from tests.support.oee import DAY, MACHINE, at, machine_plant, plant_day, store

NOW = DAY + timedelta(days=5)
SEAL_AFTER = timedelta(hours=3)
FIRST, SECOND = DAY.date(), DAY.date() + timedelta(days=1)
WINDOWS = (
    (DAY - timedelta(days=1), DAY + timedelta(days=3)),  # every day whole
    (at(4, 13, 7), at(2, day=DAY + timedelta(days=1))),  # both ends cut a sealed day
    (at(1, day=DAY + timedelta(days=1)), at(2, day=DAY + timedelta(days=1))),  # within a day
    (at(20), NOW + timedelta(days=1)),  # reaching past the sealed days
)
FIELDS = ("alive", "state_t", "state", "total_t", "total", "reject_t", "reject")


def stored_plant(session: Session) -> int:
    """WC-ASSY's day and a half, with samples of every kind: historical ones, another
    source, a NULL count, a process value (never sealed), a data gap."""
    plant = machine_plant(session)
    store(session, plant.machine_id, plant_day(seed=5))
    extra = [
        SignalRow(plant.machine_id, "total", "total", at(3, 0, 0, SECOND_DAY), at(9), 5.0,
                  historical=True, source="opcua"),
        SignalRow(plant.machine_id, "reject", "reject", at(23, 59, 59), at(23, 59, 59)),
        SignalRow(plant.machine_id, "speed", "value", at(8), at(8), 12.5),
        SignalRow(plant.machine_id, "heartbeat", "heartbeat", at(9, 10), at(9, 10, 1)),
    ]  # fmt: skip
    store_signals(session, extra)
    session.flush()
    return plant.machine_id


SECOND_DAY = DAY + timedelta(days=1)


def arrays_of(session: Session, machine_id: int, start: datetime, end: datetime) -> SignalArrays:
    profiles = equipment_profiles(session, [machine_id])
    found = dict(signal_arrays(session, profiles, start, end).arrays)
    return found[machine_id]


def assert_same(a: SignalArrays, b: SignalArrays) -> None:
    for name in FIELDS:
        left, right = getattr(a, name), getattr(b, name)
        assert left.dtype == right.dtype and np.array_equal(left, right), name
    assert a.contexts == b.contexts


def raw_rows(session: Session, machine_id: int, metric: str, day: date) -> list[tuple]:
    start = datetime.combine(day, datetime.min.time(), tzinfo=DAY.tzinfo)
    rows = session.execute(
        select(MchSignal)
        .where(
            MchSignal.equipment_id == machine_id,
            MchSignal.metric == metric,
            MchSignal.device_time >= start,
            MchSignal.device_time < start + timedelta(days=1),
        )
        .order_by(MchSignal.device_time)
    ).scalars()
    return [
        (epoch_us(r.device_time), r.kind, epoch_us(r.received_at), r.num_value, r.text_value,
         r.historical, r.source)
        for r in rows
    ]  # fmt: skip


def block_rows(block: MchSignalBlock) -> list[tuple]:
    columns = EncodedBlock(
        block.device_times, block.num_values, block.text_values, block.ingest_details
    )
    return list(decode(columns, block.samples).rows())


def blocks(session: Session) -> dict[tuple[str, date], MchSignalBlock]:
    session.expire_all()
    return {(b.metric, b.day): b for b in session.scalars(select(MchSignalBlock))}


def test_a_sealed_day_is_exactly_its_raw_rows(session):
    machine_id = stored_plant(session)
    report = seal_signals(session, now=NOW, seal_after=SEAL_AFTER)
    assert (report.days, report.blocks) == (2, 2 * len(SEALED_METRICS))
    sealed = blocks(session)
    assert set(sealed) == {(m, d) for m in SEALED_METRICS for d in (FIRST, SECOND)}
    for (metric, day), block in sealed.items():
        rows = raw_rows(session, machine_id, metric, day)
        assert block_rows(block) == rows, (metric, day)
        assert block.samples == len(rows)
        if rows:
            assert (epoch_us(block.first_time), epoch_us(block.last_time)) == (
                rows[0][0], rows[-1][0]
            )  # fmt: skip
    assert sealed[("$death", FIRST)].samples == 0  # a day without samples is sealed empty
    assert sealed[("total", SECOND)].samples > 0
    assert days_to_seal(session, sealable_before(NOW, SEAL_AFTER)) == []
    again = seal_days(session, [(machine_id, FIRST)], NOW)
    assert again.blocks == len(SEALED_METRICS)
    for key, block in blocks(session).items():
        assert block_rows(block) == block_rows(sealed[key])


def test_a_day_not_over_long_enough_is_not_sealed(session):
    stored_plant(session)
    report = seal_signals(session, now=at(2, day=SECOND_DAY), seal_after=SEAL_AFTER)
    assert report.days == 0
    report = seal_signals(session, now=at(3, 30, day=SECOND_DAY), seal_after=SEAL_AFTER)
    assert report.days == 1 and set(d for _, d in blocks(session)) == {FIRST}


@pytest.mark.parametrize("window", WINDOWS)
def test_arrays_from_blocks_equal_arrays_from_raw_rows(session, window):
    machine_id = stored_plant(session)
    start, end = window
    raw = arrays_of(session, machine_id, start, end)
    assert raw.total_t.size and raw.state_t.size
    seal_signals(session, now=NOW, seal_after=SEAL_AFTER)
    assert_same(arrays_of(session, machine_id, start, end), raw)


def test_late_samples_and_redeliveries_keep_blocks_and_raw_rows_equal(session):
    machine_id = stored_plant(session)
    seal_signals(session, now=NOW, seal_after=SEAL_AFTER)
    sealed = blocks(session)

    stored = session.scalars(
        select(MchSignal).where(MchSignal.metric == "total", MchSignal.device_time > at(10))
    ).first()
    assert stored is not None
    again = SignalRow(machine_id, "total", "total", stored.device_time, NOW, stored.num_value)
    assert store_signals(session, [again]).duplicates == 1  # a re-delivery changes nothing
    assert set(blocks(session)) == set(sealed)
    late = [
        SignalRow(machine_id, "state", "state", at(12, 0, 0) + timedelta(microseconds=500),
                  NOW, text_value="down:jam"),
        SignalRow(machine_id, "total", "total", at(2, 30, 30, SECOND_DAY), NOW, 10**6),
        SignalRow(machine_id, "speed", "value", at(13), NOW, 3.0),  # not sealed: drops nothing
    ]  # fmt: skip
    store_signals(session, late)
    session.flush()
    assert set(sealed) - set(blocks(session)) == {("state", FIRST), ("total", SECOND)}
    queued = session.execute(select(MchSignalReseal.equipment_id, MchSignalReseal.day)).all()
    assert sorted(tuple(q) for q in queued) == [(machine_id, FIRST), (machine_id, SECOND)]

    mixed = {w: arrays_of(session, machine_id, *w) for w in WINDOWS}
    assert days_to_seal(session, sealable_before(NOW, SEAL_AFTER)) == [
        (machine_id, FIRST), (machine_id, SECOND)
    ]  # fmt: skip
    seal_signals(session, now=NOW, seal_after=SEAL_AFTER)
    assert session.scalar(select(func.count()).select_from(MchSignalReseal)) == 0
    for (metric, day), block in blocks(session).items():
        assert block_rows(block) == raw_rows(session, machine_id, metric, day)
    resealed = {w: arrays_of(session, machine_id, *w) for w in WINDOWS}
    session.execute(delete(MchSignalBlock))
    for window in WINDOWS:
        raw = arrays_of(session, machine_id, *window)
        assert_same(mixed[window], raw)
        assert_same(resealed[window], raw)


def test_oee_is_the_same_from_blocks(session):
    stored_plant(session)
    start, end = DAY - timedelta(hours=6), DAY + timedelta(days=2)
    group_by = ["equipment", "shift"]
    before = [queries.as_plain(r) for r in queries.oee(session, start=start, end=end,
                                                        group_by=group_by)]  # fmt: skip
    seal_signals(session, now=NOW, seal_after=SEAL_AFTER)
    after = [queries.as_plain(r) for r in queries.oee(session, start=start, end=end,
                                                       group_by=group_by)]  # fmt: skip
    assert after == before and len(before) > 2
    by_line = queries.oee(session, start=start, end=end, group_by=["line", "product"])
    assert sum(r.total_count for r in by_line) == sum(r["total_count"] for r in before)


def test_a_late_sample_waits_for_the_sealer_of_its_equipment(runtime):
    with runtime.unit_of_work() as uow:
        machine_id = stored_plant(uow.session)
        uow.commit()
    stored = threading.Event()

    def ingest_late() -> None:
        with runtime.unit_of_work() as uow:
            late = SignalRow(machine_id, "state", "state", at(12, 30), NOW, text_value="idle")
            store_signals(uow.session, [late])
            uow.commit()
        stored.set()

    with runtime.unit_of_work() as sealer:
        seal_days(sealer.session, [(machine_id, FIRST)], NOW)
        ingest = threading.Thread(target=ingest_late)
        ingest.start()
        time.sleep(0.5)
        assert not stored.is_set()  # the sealer read the day: the late sample waits
        sealer.commit()
    ingest.join(timeout=30)
    assert stored.is_set()
    with runtime.sessions() as session:
        assert ("state", FIRST) not in blocks(session)  # dropped after the sealer committed
        assert ("total", FIRST) in blocks(session)
        seal_signals(session, now=NOW, seal_after=SEAL_AFTER)
        block = blocks(session)[("state", FIRST)]
        assert block_rows(block) == raw_rows(session, machine_id, "state", FIRST)


def test_the_machine_watch_and_the_cli_seal_closed_days(runtime, db_url):
    with runtime.unit_of_work() as uow:
        machine_id = stored_plant(uow.session)
        uow.commit()
    watch = MachineWatch(runtime, clock=lambda: NOW, seal_per_pass=1)
    assert watch.run_once().days_sealed == 1  # bounded: the oldest first
    assert watch.run_once().days_sealed == 1
    assert watch.run_once().days_sealed == 0
    with runtime.unit_of_work() as uow:
        uow.session.execute(delete(MchSignalBlock).where(MchSignalBlock.day == SECOND))
        uow.commit()
    argv = ["signals", "seal", "--database-url", db_url]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert f"1 equipment-day(s) sealed: {len(SEALED_METRICS)} block(s)" in result.output
    again = CliRunner().invoke(app, argv)
    assert "0 equipment-day(s) sealed" in again.output
    with runtime.sessions() as session:
        assert {d for _, d in blocks(session)} == {FIRST, SECOND}
        assert machine_id == session.scalar(select(func.min(MchSignalBlock.equipment_id)))
    assert MACHINE
