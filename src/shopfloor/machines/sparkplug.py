"""Sparkplug B 3.0 as a host application sees it: topics, payloads, births and deaths.

Payloads are decoded with `sparkplug_b_pb2`, generated once from the Eclipse Tahu proto
(EPL-2.0, see that file) — only the `protobuf` runtime is needed. The rules kept here:

- Aliases: a birth (NBIRTH for the node, DBIRTH for a device) names every metric and may
  give it an alias; later NDATA/DDATA carry the alias only. Aliases are per edge node.
  An NBIRTH starts the node afresh (all alias tables dropped).
- `seq`: every message of an edge node after its NBIRTH (seq 0) carries the previous seq
  + 1, wrapping 255 → 0. A gap (a lost message), data from a node never seen born (this
  host started late, or a broker delivered DBIRTH before NBIRTH), or an alias nobody
  declared is answered with a Rebirth request: NCMD `Node Control/Rebirth` = true, at most
  one per node every `rebirth_interval` seconds. Data that can be resolved is kept anyway:
  a sample is a fact even when its neighbour was lost.
- `bdSeq`: the NBIRTH's bdSeq ties it to the node's death certificate (the MQTT Will). An
  NDEATH whose bdSeq is not the current birth's is a stale Will from an older session and
  is ignored; otherwise the node and all its devices die (DDEATH: one device) — their
  metrics are stale from the death's time until newer data arrives.
- `is_historical`: a metric sent late on purpose (store-and-forward). It is stored with
  `historical` set, so it never overwrites the current value.
- A metric's time is its own timestamp, else the payload's, else the receipt time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from math import isfinite

from shopfloor.machines import sparkplug_b_pb2 as pb
from shopfloor.machines.signal_store import SignalRow
from shopfloor.machines.tag_map import TagMap, TagTarget, Value

NAMESPACE = "spBv1.0"
REBIRTH = "Node Control/Rebirth"
BDSEQ = "bdSeq"
SOURCE = "sparkplug"
_SIGNED = {1: 1 << 32, 2: 1 << 32, 3: 1 << 32, 4: 1 << 64}  # Int8/16/32 in uint32, Int64
_IGNORED_PREFIXES = ("Node Control/", "Properties/", "Device Control/", BDSEQ)

# Sparkplug DataType numbers used when encoding
INT64, UINT32, UINT64, FLOAT, DOUBLE, BOOLEAN, STRING = 4, 7, 8, 9, 10, 11, 12


@dataclass(frozen=True, slots=True)
class Topic:
    group: str
    message_type: str
    edge_node: str
    device: str | None = None

    @property
    def node_address(self) -> str:
        return f"{self.group}/{self.edge_node}"

    @property
    def address(self) -> str:
        return self.node_address if self.device is None else f"{self.node_address}/{self.device}"


def parse_topic(topic: str) -> Topic | None:
    parts = topic.split("/")
    if len(parts) not in (4, 5) or parts[0] != NAMESPACE or not all(parts):
        return None
    return Topic(parts[1], parts[2], parts[3], parts[4] if len(parts) == 5 else None)


def topic_for(group: str, message_type: str, edge_node: str, device: str | None = None) -> str:
    tail = f"/{device}" if device is not None else ""
    return f"{NAMESPACE}/{group}/{message_type}/{edge_node}{tail}"


@dataclass(frozen=True)
class MetricOut:
    """A metric to encode: `name` in births, `alias` always (when the node uses them)."""

    name: str | None
    alias: int | None
    datatype: int
    value: Value
    timestamp: int | None = None
    historical: bool = False


def encode(timestamp_ms: int, seq: int | None, metrics: Iterable[MetricOut]) -> bytes:
    payload = pb.Payload(timestamp=timestamp_ms)
    if seq is not None:
        payload.seq = seq
    for m in metrics:
        out = payload.metrics.add()
        if m.name is not None:
            out.name = m.name
        if m.alias is not None:
            out.alias = m.alias
        out.datatype = m.datatype
        if m.timestamp is not None:
            out.timestamp = m.timestamp
        if m.historical:
            out.is_historical = True
        _set_value(out, m.datatype, m.value)
    return bytes(payload.SerializeToString())


def _set_value(out: pb.Payload.Metric, datatype: int, value: Value) -> None:
    if value is None:
        out.is_null = True
    elif datatype == BOOLEAN:
        out.boolean_value = bool(value)
    elif datatype == STRING:
        out.string_value = str(value)
    elif datatype == FLOAT:
        out.float_value = float(value)
    elif datatype == DOUBLE:
        out.double_value = float(value)
    elif datatype in (INT64, UINT64, 13):
        out.long_value = int(value) % (1 << 64)
    else:
        out.int_value = int(value) % (1 << 32)


def rebirth_request(timestamp_ms: int) -> bytes:
    return encode(timestamp_ms, None, [MetricOut(REBIRTH, None, BOOLEAN, True)])


def metric_value(metric: pb.Payload.Metric, datatype: int) -> Value:
    if metric.is_null:
        return None
    kind = metric.WhichOneof("value")
    if kind is None:
        return None
    value = getattr(metric, kind)
    if kind in ("int_value", "long_value") and datatype in _SIGNED:
        span = _SIGNED[datatype]
        if value >= span >> 1:
            value -= span
    if kind in ("bytes_value", "dataset_value", "template_value", "extension_value"):
        return None  # not a signal shopfloor stores
    return value  # type: ignore[no-any-return]


@dataclass
class _Node:
    bd_seq: int | None = None
    seq: int | None = None
    born: bool = False
    aliases: dict[int, tuple[str, int]] = field(default_factory=dict)  # alias → (name, type)
    rebirth_at: float = 0.0


@dataclass
class Outcome:
    """What one or more Sparkplug messages produced."""

    rows: list[SignalRow] = field(default_factory=list)
    deaths: list[tuple[str, datetime, str]] = field(default_factory=list)  # address, at, cause
    commands: list[tuple[str, bytes]] = field(default_factory=list)  # topic, payload
    births: list[tuple[str, int | None, datetime]] = field(default_factory=list)
    seq_gaps: list[str] = field(default_factory=list)  # node addresses
    unmapped: int = 0
    invalid: int = 0
    ignored: int = 0  # not Sparkplug, or stale deaths
    stamps_ms: list[int] = field(default_factory=list)  # payload times of data messages


class SparkplugHost:
    """The host application's view of every edge node; feed it messages in arrival order."""

    def __init__(
        self,
        tag_map: TagMap,
        *,
        rebirth_interval: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tag_map = tag_map
        self.rebirth_interval = rebirth_interval
        self._monotonic = monotonic
        self._nodes: dict[str, _Node] = {}
        self._targets: dict[tuple[str, str], TagTarget | None] = {}

    def use_tag_map(self, tag_map: TagMap) -> None:
        if tag_map.version != self.tag_map.version:
            self.tag_map = tag_map
            self._targets.clear()

    def node(self, address: str) -> _Node:
        return self._nodes.setdefault(address, _Node())

    def handle(self, topic: str, payload: bytes, received_at: datetime, outcome: Outcome) -> None:
        parsed = parse_topic(topic)
        if parsed is None or parsed.message_type in ("NCMD", "DCMD", "STATE"):
            outcome.ignored += 1
            return
        try:
            message = pb.Payload.FromString(payload)
        except Exception:  # a corrupt payload must not stop the stream
            outcome.invalid += 1
            return
        node = self.node(parsed.node_address)
        kind = parsed.message_type
        if kind == "NDEATH":
            self._death(parsed, message, node, received_at, outcome)
            return
        if kind == "NBIRTH":
            node.aliases.clear()
            node.born, node.seq = True, message.seq
            node.bd_seq = _bd_seq(message)
            outcome.births.append((parsed.node_address, node.bd_seq, received_at))
        else:
            self._check_seq(parsed, message, node, outcome)
        if kind in ("NBIRTH", "DBIRTH"):
            for metric in message.metrics:
                if metric.HasField("alias") and metric.name:
                    node.aliases[metric.alias] = (metric.name, metric.datatype)
        if kind == "DDEATH":
            at = _millis(message.timestamp) if message.timestamp else received_at
            outcome.deaths.append((parsed.address, at, "DDEATH"))
            return
        self._rows(parsed, message, node, received_at, outcome)

    def _death(
        self, topic: Topic, message: pb.Payload, node: _Node, received_at: datetime, out: Outcome
    ) -> None:
        bd_seq = _bd_seq(message)
        if node.bd_seq is not None and bd_seq is not None and bd_seq != node.bd_seq:
            out.ignored += 1  # the Will of an older session
            return
        node.born, node.seq = False, None
        at = _millis(message.timestamp) if message.timestamp else received_at
        out.deaths.append((topic.node_address, at, "NDEATH"))

    def _check_seq(self, topic: Topic, message: pb.Payload, node: _Node, out: Outcome) -> None:
        seq = message.seq if message.HasField("seq") else None
        expected = None if node.seq is None else (node.seq + 1) % 256
        if not node.born or (seq is not None and expected is not None and seq != expected):
            out.seq_gaps.append(topic.node_address)
            self._request_rebirth(topic, out)
        if seq is not None:
            node.seq = seq

    def _request_rebirth(self, topic: Topic, out: Outcome) -> None:
        node = self.node(topic.node_address)
        now = self._monotonic()
        if node.rebirth_at and now - node.rebirth_at < self.rebirth_interval:
            return
        node.rebirth_at = now
        command = topic_for(topic.group, "NCMD", topic.edge_node)
        out.commands.append((command, rebirth_request(int(time.time() * 1000))))

    def _rows(
        self, topic: Topic, message: pb.Payload, node: _Node, received_at: datetime, out: Outcome
    ) -> None:
        address = topic.address
        default_ms = message.timestamp
        if default_ms:
            out.stamps_ms.append(default_ms)
        aliases = node.aliases
        unknown_alias = False
        last_stamp: int | None = None
        at = received_at
        rows = out.rows
        for metric in message.metrics:
            name = metric.name
            datatype = metric.datatype
            if not name:
                known = aliases.get(metric.alias)
                if known is None:
                    unknown_alias = True
                    continue
                name, born_type = known
                datatype = datatype or born_type
            target = self._target(address, name)
            if target is None:
                if not name.startswith(_IGNORED_PREFIXES):
                    out.unmapped += 1
                continue
            stamp = metric.timestamp or default_ms
            if stamp != last_stamp:  # metrics of a message mostly share their time
                last_stamp, at = stamp, (_millis(stamp) if stamp else received_at)
            if datatype == DOUBLE and target.kind == "value" and not metric.is_null:
                # the common case at machine speed: a process value
                number = metric.double_value * target.scale
                if isfinite(number):
                    rows.append(SignalRow(target.equipment_id, target.name, "value", at,
                                          received_at, number, None, metric.is_historical,
                                          SOURCE))  # fmt: skip
                    continue
            row = target.row(
                at, metric_value(metric, datatype), received_at, metric.is_historical, SOURCE
            )
            if row is None:
                out.invalid += 1
            else:
                rows.append(row)
        if unknown_alias:
            out.seq_gaps.append(topic.node_address)
            self._request_rebirth(topic, out)

    def _target(self, address: str, name: str) -> TagTarget | None:
        key = (address, name)
        try:
            return self._targets[key]
        except KeyError:
            found = None
            if not name.startswith(_IGNORED_PREFIXES):
                found = self.tag_map.resolve(SOURCE, address, name)
            self._targets[key] = found
            return found


def _bd_seq(message: pb.Payload) -> int | None:
    for metric in message.metrics:
        if metric.name == BDSEQ:
            value = metric_value(metric, metric.datatype or INT64)
            return int(value) if isinstance(value, int | float) else None
    return None


def _millis(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)
