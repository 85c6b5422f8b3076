"""Sparkplug B handling end to end through the ingest core (no broker): births and aliases,
sequence gaps answered with a Rebirth request, deaths making metrics stale, historical
metrics, stale Wills — on both databases."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopfloor.kernel.context import CommandContext
from shopfloor.machines import sparkplug_b_pb2 as pb
from shopfloor.machines.ingest import ingest_batch
from shopfloor.machines.setup import install_layout
from shopfloor.machines.signals_queries import DEATH_METRIC
from shopfloor.machines.simulator import PlantLayout, PlantSimulator
from shopfloor.machines.sparkplug import (
    BDSEQ,
    DOUBLE,
    INT64,
    REBIRTH,
    MetricOut,
    Outcome,
    SparkplugHost,
    encode,
    topic_for,
)
from shopfloor.machines.tables import MchEdgeNode, MchMetricCurrent, MchSignal
from shopfloor.machines.tag_map import load_tag_map
from tests.support.machines import ADMIN, T0

LAYOUT = PlantLayout(lines=(("SIM-L1", ("SIM-L1-M01", "SIM-L1-M02")),), process_values=2)
MS0 = int(T0.timestamp() * 1000)


def _plant(session: Session) -> tuple[PlantSimulator, SparkplugHost]:
    install_layout(session, CommandContext(ADMIN, T0, "plant-1"), LAYOUT)
    session.commit()
    return PlantSimulator(LAYOUT, seed=4), SparkplugHost(load_tag_map(session))


def _feed(session: Session, host: SparkplugHost, messages: list[tuple[str, bytes]]) -> Outcome:
    outcome = Outcome()
    for topic, payload in messages:
        host.handle(topic, payload, T0, outcome)
    ingest_batch(session, [], tag_map=host.tag_map, sparkplug=outcome)
    session.commit()
    return outcome


def _current(session: Session, code_id: int, metric: str) -> MchMetricCurrent | None:
    return session.get(MchMetricCurrent, (code_id, metric))


def test_births_resolve_aliases_and_data_is_stored(session: Session) -> None:
    sim, host = _plant(session)
    births = _feed(session, host, sim.births(MS0))
    data = _feed(session, host, sim.step(MS0 + 10_000, 10.0))
    assert births.commands == [] and data.commands == []
    assert data.unmapped == 0 and len(data.rows) >= 2 * 3  # values + counts/state
    metrics = set(session.scalars(select(MchSignal.metric)))
    assert {"state", "total", "reject", "product", "Process/Temperature"} <= metrics
    node = session.get(MchEdgeNode, "plant/SIM-L1")
    assert node is not None and node.online and node.births == 1 and node.seq_gaps == 0


def test_a_sequence_gap_is_answered_with_a_rebirth_request(session: Session) -> None:
    sim, host = _plant(session)
    _feed(session, host, sim.births(MS0))
    sim.step(MS0 + 1000, 1.0)  # these messages are "lost"
    later = _feed(session, host, sim.step(MS0 + 2000, 1.0))
    [(topic, payload)] = later.commands
    assert topic == topic_for("plant", "NCMD", "SIM-L1")
    command = pb.Payload.FromString(payload)
    assert [(m.name, m.boolean_value) for m in command.metrics] == [(REBIRTH, True)]
    assert later.rows, "resolvable data is kept even when a neighbour was lost"
    node = session.get(MchEdgeNode, "plant/SIM-L1")
    assert node is not None and node.seq_gaps >= 1 and node.rebirth_requests == 1
    # the edge node answers with births; the stream is whole again
    reborn = _feed(session, host, sim.command(topic, MS0 + 3000))
    after = _feed(session, host, sim.step(MS0 + 4000, 1.0))
    assert reborn.commands == [] and after.commands == [] and after.seq_gaps == []


def test_seq_wraps_after_255_without_a_gap(session: Session) -> None:
    sim, host = _plant(session)
    _feed(session, host, sim.births(MS0))
    outcome = Outcome()
    for n in range(200):  # 2 machines → 400 DDATA: seq wraps past 255
        for topic, payload in sim.step(MS0 + 1000 * (n + 1), 1.0):
            host.handle(topic, payload, T0, outcome)
    assert outcome.seq_gaps == [] and outcome.commands == []


def test_ndeath_makes_metrics_stale_and_the_machine_offline(session: Session) -> None:
    sim, host = _plant(session)
    _feed(session, host, sim.births(MS0))
    _feed(session, host, sim.step(MS0 + 1000, 1.0))
    stale_will = encode(MS0, None, [MetricOut(BDSEQ, None, INT64, 99)])
    ignored = _feed(session, host, [(topic_for("plant", "NDEATH", "SIM-L1"), stale_will)])
    assert ignored.deaths == [] and ignored.ignored == 1
    topic, payload = sim.death("SIM-L1")
    death = pb.Payload.FromString(payload)
    death.timestamp = MS0 + 5000
    _feed(session, host, [(topic, death.SerializeToString())])
    ids = dict(session.execute(select(MchSignal.metric, MchSignal.equipment_id)).all())
    equipment_id = ids["state"]
    state = _current(session, equipment_id, "state")
    assert state is not None and state.stale_since is not None
    offline = session.scalars(
        select(MchSignal.text_value).where(MchSignal.metric == DEATH_METRIC)
    ).all()
    assert offline == ["offline:NDEATH", "offline:NDEATH"]
    node = session.get(MchEdgeNode, "plant/SIM-L1")
    assert node is not None and not node.online and node.deaths == 1
    # data after the node is born again is current, not stale
    sim.bd_seq["SIM-L1"] += 1
    _feed(session, host, sim.births(MS0 + 10_000))
    session.expire_all()
    state = _current(session, equipment_id, "state")
    assert state is not None and state.stale_since is None


def test_historical_metrics_are_stored_but_not_current(session: Session) -> None:
    sim, host = _plant(session)
    _feed(session, host, sim.births(MS0))
    old = MetricOut(None, 1000 * 0 + 5, DOUBLE, 999.0, timestamp=MS0 - 60_000, historical=True)
    topic = topic_for("plant", "DDATA", "SIM-L1", "SIM-L1-M01")
    _feed(session, host, [(topic, encode(MS0 + 500, 3, [old]))])
    row = session.scalar(select(MchSignal).where(MchSignal.historical.is_(True)))
    assert row is not None and row.num_value == 999.0 and row.metric == "Process/Temperature"
    current = _current(session, row.equipment_id, "Process/Temperature")
    assert current is not None and current.num_value != 999.0
