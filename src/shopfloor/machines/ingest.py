"""Ingest, the synchronous core every entry point shares (MQTT, OPC UA, HTTP, demo).

`ingest_batch` maps readings through the tag map, stores them in one batch with
`store_signals` (duplicates dropped and counted, out-of-order and clock skew counted) and
records what Sparkplug said about its edge nodes (births, deaths, sequence gaps, rebirth
requests). It never commits: the entry point commits, and only then acknowledges the
messages to their sender (MQTT PUBACK, HTTP 200), so an acknowledged message is stored.

Unmapped readings (no tag) and invalid values (a state code the tag does not know, a
negative counter) are counted and dropped: ingest never stops for one bad value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from shopfloor.kernel.clock import utc_now
from shopfloor.machines.signal_copy import Encoded
from shopfloor.machines.signal_store import SignalRow, store_signals
from shopfloor.machines.signals_queries import DEATH_METRIC
from shopfloor.machines.sparkplug import SOURCE as SPARKPLUG
from shopfloor.machines.sparkplug import Outcome
from shopfloor.machines.tables import MchEdgeNode, MchIngestStat, MchMetricCurrent
from shopfloor.machines.tag_map import TagMap, Value, load_tag_map


@dataclass(frozen=True, slots=True)
class Reading:
    """One value from a device: JSON over MQTT or HTTP, or an OPC UA data change."""

    source: str
    address: str
    metric: str
    device_time: datetime
    value: Value
    received_at: datetime
    historical: bool = False


@dataclass(frozen=True)
class IngestResult:
    received: int
    stored: int
    duplicates: int
    out_of_order: int
    skewed: int
    unmapped: int
    invalid: int
    deaths: int


def ingest_batch(
    session: Session,
    messages: Sequence[Reading],
    *,
    tag_map: TagMap | None = None,
    sparkplug: Outcome | None = None,
    ready: Encoded | None = None,
) -> IngestResult:
    """Map, store and count one batch; the caller commits (and then acknowledges).
    `ready`: the Sparkplug rows in PostgreSQL's COPY format already (`signal_copy`)."""
    tags = tag_map if tag_map is not None else load_tag_map(session)
    rows: list[SignalRow] = list(sparkplug.rows) if sparkplug else []
    unmapped = sparkplug.unmapped if sparkplug else 0
    invalid = sparkplug.invalid if sparkplug else 0
    for reading in messages:
        target = tags.resolve(reading.source, reading.address, reading.metric)
        if target is None:
            unmapped += 1
            continue
        row = target.row(
            reading.device_time, reading.value, reading.received_at, reading.historical,
            reading.source,
        )  # fmt: skip
        if row is None:
            invalid += 1
        else:
            rows.append(row)
    deaths = _death_rows(tags, sparkplug) if sparkplug else []
    if ready is not None and (sparkplug is None or ready.count != len(sparkplug.rows)):
        ready = None  # not these rows: encoded again
    stored = store_signals(session, rows + [row for row, _ in deaths], ready)
    for row, cause in deaths:
        _mark_stale(session, row, cause)
    if sparkplug:
        record_edge_nodes(session, sparkplug)
    received = len(messages) + (len(sparkplug.rows) + sparkplug.unmapped + sparkplug.invalid
                                if sparkplug else 0)  # fmt: skip
    return IngestResult(
        received=received,
        stored=stored.inserted - len(deaths),
        duplicates=stored.duplicates,
        out_of_order=stored.out_of_order,
        skewed=stored.skewed,
        unmapped=unmapped,
        invalid=invalid,
        deaths=len(deaths),
    )


def _death_rows(tags: TagMap, outcome: Outcome) -> list[tuple[SignalRow, str]]:
    """A death makes every equipment under its address offline from the death's time."""
    found = []
    for address, at, cause in outcome.deaths:
        for equipment_id in sorted(tags.equipment_under(SPARKPLUG, address)):
            row = SignalRow(
                equipment_id, DEATH_METRIC, "state", at, utc_now(), None, f"offline:{cause}",
                False, SPARKPLUG,
            )  # fmt: skip
            found.append((row, cause))
    return found


def _mark_stale(session: Session, death: SignalRow, cause: str) -> None:
    """Current values recorded before the death are stale until newer samples arrive."""
    current = MchMetricCurrent
    session.execute(
        update(current)
        .where(
            current.equipment_id == death.equipment_id,
            current.device_time <= death.device_time,
            current.stale_since.is_(None) | (current.stale_since < death.device_time),
        )
        .values(stale_since=death.device_time)
    )
    session.execute(
        update(MchIngestStat)
        .where(MchIngestStat.equipment_id == death.equipment_id)
        .values(deaths=MchIngestStat.deaths + 1)
    )


def record_edge_nodes(session: Session, outcome: Outcome) -> None:
    """Births, deaths, sequence gaps and rebirth requests per edge node."""
    nodes: dict[str, dict[str, object]] = {}

    def tally(address: str) -> dict[str, object]:
        node_address = "/".join(address.split("/")[:2])
        return nodes.setdefault(
            node_address,
            {"births": 0, "deaths": 0, "seq_gaps": 0, "rebirth_requests": 0},
        )

    now = utc_now()
    for address, bd_seq, at in outcome.births:
        entry = tally(address)
        entry["births"] = int(entry["births"]) + 1  # type: ignore[call-overload]
        entry.update(online=True, bd_seq=bd_seq, last_birth_at=at)
    for address, at, cause in outcome.deaths:
        if cause == "NDEATH":
            entry = tally(address)
            entry["deaths"] = int(entry["deaths"]) + 1  # type: ignore[call-overload]
            entry.update(online=False, last_death_at=at)
    for address in outcome.seq_gaps:
        entry = tally(address)
        entry["seq_gaps"] = int(entry["seq_gaps"]) + 1  # type: ignore[call-overload]
    for topic, _payload in outcome.commands:
        parts = topic.split("/")
        entry = tally(f"{parts[1]}/{parts[3]}")
        entry["rebirth_requests"] = int(entry["rebirth_requests"]) + 1  # type: ignore[call-overload]
    if not nodes:
        return
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    table = MchEdgeNode.__table__.c
    for address, entry in sorted(nodes.items()):
        values = {"address": address, "last_seen": now, "online": True, **entry}
        statement = insert(MchEdgeNode).values(values)
        changes: dict[str, object] = {
            name: table[name] + statement.excluded[name]
            for name in ("births", "deaths", "seq_gaps", "rebirth_requests")
        }
        changes["last_seen"] = now
        for name in ("online", "bd_seq", "last_birth_at", "last_death_at"):
            if name in entry:
                changes[name] = statement.excluded[name]
        session.execute(
            statement.on_conflict_do_update(index_elements=[table.address], set_=changes)
        )
