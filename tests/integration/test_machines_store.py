"""Storing machine signals on both databases: duplicates, order, skew, current values, and
the history the state and OEE rules read."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shopfloor.machines.domain import (
    ContextSignal,
    CounterKind,
    EquipmentState,
    Heartbeat,
    StateSignal,
    derive_intervals,
)
from shopfloor.machines.ingest import Reading, ingest_batch
from shopfloor.machines.signal_copy import COLUMNS, encoded
from shopfloor.machines.signals_queries import SignalRow, machine_history, store_signals
from shopfloor.machines.tables import (
    MchEquipmentProfile,
    MchIngestStat,
    MchMetricCurrent,
    MchSignal,
)
from tests.support.machines import T0, add_tags, make_line, standard_tags


def _row(eq: int, metric: str, kind: str, seconds: float, num=None, text=None, **kw) -> SignalRow:
    at = T0 + timedelta(seconds=seconds)
    return SignalRow(eq, metric, kind, at, kw.pop("received_at", at), num, text, **kw)


def _stored(session: Session) -> list[tuple]:
    return [
        tuple(r)
        for r in session.execute(
            select(
                MchSignal.equipment_id, MchSignal.metric, MchSignal.device_time,
                MchSignal.kind, MchSignal.num_value, MchSignal.text_value, MchSignal.historical,
            ).order_by(MchSignal.equipment_id, MchSignal.metric, MchSignal.device_time)
        )
    ]  # fmt: skip


def test_duplicates_are_dropped_and_counted(session: Session) -> None:
    ids = make_line(session, "L1", ["M1"])
    rows = [_row(ids["M1"], "total", "total", s, num=s * 10) for s in range(5)]
    first = store_signals(session, rows)
    again = store_signals(session, rows[2:] + rows[2:3])
    session.commit()
    assert (first.inserted, first.duplicates) == (5, 0)
    assert (again.inserted, again.duplicates) == (0, 4)
    stat = session.get(MchIngestStat, ids["M1"])
    assert stat is not None
    assert (stat.received, stat.inserted, stat.duplicates) == (9, 5, 4)
    assert session.scalar(select(func.count()).select_from(MchSignal)) == 5


def test_duplicate_and_out_of_order_delivery_store_the_same_result(
    sessions: sessionmaker[Session],
) -> None:
    """The same readings delivered in order once, and shuffled with re-deliveries, leave
    the same rows and the same current values; the second delivery counts what it saw."""
    with sessions() as session:
        ids = make_line(session, "L1", ["M1", "M2"])
        for code in ids:
            add_tags(session, standard_tags("json", f"plant/{code}", code))
        session.commit()
    readings = []
    for code in ids:
        for n in range(40):
            at = T0 + timedelta(seconds=n)
            readings += [
                Reading("json", f"plant/{code}", "Count/Total", at, n * 3, at),
                Reading("json", f"plant/{code}", "State", at, "running" if n % 7 else "down", at),
            ]
    shuffled = readings + random.Random(7).sample(readings, 30)
    random.Random(3).shuffle(shuffled)
    results, stored, current = [], [], []
    for batch in (readings, shuffled):
        with sessions() as session:
            session.execute(MchSignal.__table__.delete())
            session.execute(MchMetricCurrent.__table__.delete())
            results.append(ingest_batch(session, batch))
            session.commit()
            stored.append(_stored(session))
            current.append(
                session.execute(
                    select(
                        MchMetricCurrent.equipment_id,
                        MchMetricCurrent.metric,
                        MchMetricCurrent.num_value,
                        MchMetricCurrent.text_value,
                    ).order_by(MchMetricCurrent.equipment_id, MchMetricCurrent.metric)
                ).all()
            )
    assert stored[0] == stored[1] and len(stored[0]) == 160
    assert current[0] == current[1]
    in_order, mixed = results
    assert (in_order.stored, in_order.duplicates, in_order.out_of_order) == (160, 0, 0)
    assert (mixed.stored, mixed.duplicates) == (160, 30)
    assert mixed.out_of_order > 0


def test_clock_skew_is_detected_and_historical_values_do_not_replace_current(
    session: Session,
) -> None:
    ids = make_line(session, "L1", ["M1"])
    eq = ids["M1"]
    late = T0 + timedelta(minutes=3)
    result = store_signals(
        session,
        [
            _row(eq, "temperature", "value", 0, num=20.0, received_at=late),
            _row(eq, "temperature", "value", 200, num=21.0),
            _row(eq, "temperature", "value", 300, num=99.0, historical=True),
        ],
    )
    session.commit()
    assert result.skewed == 1
    stat = session.get(MchIngestStat, eq)
    assert stat is not None and stat.max_skew_ms == 180_000 and stat.skewed == 1
    current = session.get(MchMetricCurrent, (eq, "temperature"))
    assert current is not None and current.num_value == 21.0
    assert len(_stored(session)) == 3


def test_machine_history_feeds_the_state_rules(session: Session) -> None:
    ids = make_line(session, "L1", ["M1"])
    eq = ids["M1"]
    session.add(MchEquipmentProfile(equipment_id=eq, heartbeat_timeout_s=900.0,
                                    micro_stop_s=120.0, skew_tolerance_s=5.0))  # fmt: skip
    store_signals(
        session,
        [
            _row(eq, "state", "state", -600, text="running"),  # carried into the window
            _row(eq, "total", "total", -30, num=100),
            _row(eq, "product", "context", -20, text="WS-100"),
            _row(eq, "state", "state", 60, text="down:jam"),
            _row(eq, "total", "total", 60, num=130),
            _row(eq, "state", "state", 400, text="running"),
            _row(eq, "reject", "reject", 400, num=2),
            _row(eq, "temperature", "value", 30, num=21.5),  # not a signal
            _row(eq, "state", "state", 4000, text="idle"),  # after the window
        ],
    )
    session.commit()
    start, end = T0, T0 + timedelta(minutes=10)
    [history] = machine_history(session, start=start, end=end, equipment_codes=["M1"])
    assert (history.equipment, history.line) == ("M1", "L1")
    assert history.profile.heartbeat_timeout == timedelta(seconds=900)
    states = [s for s in history.signals if isinstance(s, StateSignal)]
    assert [s.state for s in states] == [
        EquipmentState.RUNNING, EquipmentState.DOWN, EquipmentState.RUNNING,
    ]  # fmt: skip
    assert states[1].cause == "jam"
    assert [s.product for s in history.signals if isinstance(s, ContextSignal)] == ["WS-100"]
    assert any(isinstance(s, Heartbeat) for s in history.signals)
    assert [(c.counter, c.value) for c in history.counters] == [
        (CounterKind.TOTAL, 100), (CounterKind.TOTAL, 130), (CounterKind.REJECT, 2),
    ]  # fmt: skip
    profile = history.profile
    timeline = derive_intervals(history.signals, profile, start, end)
    down = [i for i in timeline.intervals if i.state is EquipmentState.DOWN]
    assert len(down) == 1 and down[0].duration_ms == 340_000
    assert machine_history(session, start=start, end=end)[0].equipment == "M1"


def test_rows_encoded_ahead_for_copy_are_stored_as_they_are(session: Session) -> None:
    """The COPY bytes made on the decoding thread (`signal_copy`) hold every kind of value
    exactly — NULLs, text beyond ASCII, fractions, historical flags, microseconds — on
    PostgreSQL; SQLite stores the same rows its own way. Re-sent, the batch is all
    duplicates, through the staging table."""
    ids = make_line(session, "L1", ["M1", "M2"])
    odd = T0 + timedelta(microseconds=123_457)
    rows = [
        _row(ids["M1"], "state", "state", 1, num=2.0),
        _row(ids["M1"], "product", "context", 1, text="Gehäuse Ø12 — 型号"),
        _row(ids["M2"], "temperature", "value", 2, num=-0.1 + 0.2, historical=True),
        SignalRow(
            ids["M2"],
            "total",
            "total",
            odd,
            odd + timedelta(hours=1),
            1e15,
            None,
            False,
            "sparkplug",
        ),
        _row(ids["M2"], "note", "value", 3),  # neither a number nor a text
    ]
    result = store_signals(session, rows, encoded(rows[:3]))
    again = store_signals(session, rows, encoded(rows[:3]))
    session.commit()
    assert (result.inserted, again.duplicates) == (5, 5)
    stored = session.execute(
        select(*(getattr(MchSignal, c) for c in SignalRow._fields)).order_by(MchSignal.metric)
    ).all()
    assert sorted(stored, key=lambda r: r.metric) == sorted(rows, key=lambda r: r.metric)


def test_the_copy_encoder_knows_the_columns_of_a_signal_row() -> None:
    assert SignalRow._fields == COLUMNS
