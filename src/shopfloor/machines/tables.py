"""Machine tables (prefix mch_): raw signals, current values, the tag map, ingest health.

`mch_signal` is written at machine speed, so it is shaped for bulk loading: no surrogate
key and no extra index, only the primary key (equipment, metric, device time), which is at
once the duplicate detector (a re-delivered sample hits it and is dropped and counted), the
history index (per equipment and metric over a time range) and the "last value before"
lookup. `equipment_id` is deliberately not a foreign key (a per-row trigger at machine
speed): only the tag map, whose rows do reference md_equipment, produces it. `metric` is
the canonical name the tag map gives (state, total, reject, heartbeat, order, operation,
product, or a process value's name), never the device's own tag name.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Double,
    ForeignKey,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from shopfloor.platform.db import Base, UtcDateTime


class MchSignal(Base):
    """One sample of one metric of one equipment, as the device stamped it.

    `device_time` is the device's clock, `received_at` the server's at receipt: both are
    kept, and their difference is the clock skew. `historical` samples (Sparkplug
    `is_historical`, store-and-forward) are facts of the past: stored, used in history,
    but never the current value. `kind`: state, total, reject, value, heartbeat, context.
    """

    __tablename__ = "mch_signal"

    equipment_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    metric: Mapped[str] = mapped_column(String(100), primary_key=True)
    device_time: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    num_value: Mapped[float | None] = mapped_column(Double())
    text_value: Mapped[str | None] = mapped_column(String(200))
    historical: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(16))


class MchSignalBlock(Base):
    """A sealed day: every `mch_signal` row of one metric of one equipment on one UTC day,
    as compressed columns (`signal_blocks_format`), written once the day is closed.

    The invariant: a block exists only while it equals exactly the raw rows of its
    (equipment, metric, day) — `mch_signal` stays the store of record, the block is a
    lossless copy the OEE recompute reads instead of thousands of rows. A late sample for a
    sealed day drops the day's block in the ingest transaction and queues the day in
    `mch_signal_reseal`. A day without samples is sealed as an empty block (`samples` 0),
    so a reader knows there is nothing to look for. The compressed columns are stored
    without PostgreSQL's own compression (STORAGE EXTERNAL).
    """

    __tablename__ = "mch_signal_block"

    equipment_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    metric: Mapped[str] = mapped_column(String(100), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    samples: Mapped[int] = mapped_column(Integer)
    first_time: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_time: Mapped[datetime | None] = mapped_column(UtcDateTime())
    encoding: Mapped[int] = mapped_column(SmallInteger)
    device_times: Mapped[bytes] = mapped_column(LargeBinary)
    num_values: Mapped[bytes | None] = mapped_column(LargeBinary)
    text_values: Mapped[bytes | None] = mapped_column(LargeBinary)
    ingest_details: Mapped[bytes] = mapped_column(LargeBinary)
    sealed_at: Mapped[datetime] = mapped_column(UtcDateTime())


class MchSignalReseal(Base):
    """An equipment-day whose blocks a late sample dropped: the next seal rebuilds them."""

    __tablename__ = "mch_signal_reseal"

    equipment_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    queued_at: Mapped[datetime] = mapped_column(UtcDateTime())


class MchMetricCurrent(Base):
    """The current value of each metric: the latest non-historical sample by device time.
    After a Sparkplug death the values are `stale` until a newer sample arrives."""

    __tablename__ = "mch_metric_current"

    equipment_id: Mapped[int] = mapped_column(
        ForeignKey("md_equipment.id", ondelete="CASCADE"), primary_key=True
    )
    metric: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))
    device_time: Mapped[datetime] = mapped_column(UtcDateTime())
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    num_value: Mapped[float | None] = mapped_column(Double())
    text_value: Mapped[str | None] = mapped_column(String(200))
    stale_since: Mapped[datetime | None] = mapped_column(UtcDateTime())


class MchTagMap(Base):
    """Where a value comes from → what it means for which equipment.

    `source`: sparkplug, json or opcua. `address`: for Sparkplug `group/edge_node` or
    `group/edge_node/device`; for JSON the topic after `shopfloor/json/`; for OPC UA the
    endpoint name. `metric`: the device's metric name (Sparkplug, JSON) or the node id (OPC
    UA); `*` maps every metric of the address not mapped on its own, as a process value.
    `name`: the canonical metric stored; `scale`: multiplies numbers (process values);
    `states`: the device's state codes → shopfloor states (`"3": "down:jam"`).
    """

    __tablename__ = "mch_tag_map"
    __table_args__ = (UniqueConstraint("source", "address", "metric"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(200))
    metric: Mapped[str] = mapped_column(String(200))
    equipment_id: Mapped[int] = mapped_column(ForeignKey("md_equipment.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(100))
    scale: Mapped[float] = mapped_column(Double(), default=1.0)
    states: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class MchEquipmentProfile(Base):
    """Per-equipment thresholds of the state and counter rules (defaults when absent)."""

    __tablename__ = "mch_equipment_profile"

    equipment_id: Mapped[int] = mapped_column(
        ForeignKey("md_equipment.id", ondelete="CASCADE"), primary_key=True
    )
    heartbeat_timeout_s: Mapped[float] = mapped_column(Double(), default=60.0)
    micro_stop_s: Mapped[float] = mapped_column(Double(), default=120.0)
    skew_tolerance_s: Mapped[float] = mapped_column(Double(), default=5.0)
    counter_modulus: Mapped[int | None] = mapped_column(BigInteger)


class MchIngestStat(Base):
    """Ingest health per equipment: what arrived, what was dropped and why, clock skew."""

    __tablename__ = "mch_ingest_stat"

    equipment_id: Mapped[int] = mapped_column(
        ForeignKey("md_equipment.id", ondelete="CASCADE"), primary_key=True
    )
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    inserted: Mapped[int] = mapped_column(BigInteger, default=0)
    duplicates: Mapped[int] = mapped_column(BigInteger, default=0)
    out_of_order: Mapped[int] = mapped_column(BigInteger, default=0)
    skewed: Mapped[int] = mapped_column(BigInteger, default=0)
    max_skew_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    last_skew_ms: Mapped[int | None] = mapped_column(BigInteger)
    deaths: Mapped[int] = mapped_column(BigInteger, default=0)
    last_device_time: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_seen: Mapped[datetime | None] = mapped_column(UtcDateTime())


class MchEdgeNode(Base):
    """A Sparkplug edge node as the host saw it: births, deaths, sequence gaps, rebirths."""

    __tablename__ = "mch_edge_node"

    address: Mapped[str] = mapped_column(String(200), primary_key=True)  # group/edge_node
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    bd_seq: Mapped[int | None] = mapped_column(BigInteger)
    births: Mapped[int] = mapped_column(BigInteger, default=0)
    deaths: Mapped[int] = mapped_column(BigInteger, default=0)
    seq_gaps: Mapped[int] = mapped_column(BigInteger, default=0)
    rebirth_requests: Mapped[int] = mapped_column(BigInteger, default=0)
    last_birth_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_death_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_seen: Mapped[datetime | None] = mapped_column(UtcDateTime())
