"""`shopfloor worker ingest mqtt`: Sparkplug B and plain JSON from an MQTT broker.

Delivery rule: a message is acknowledged to the broker (PUBACK, QoS 1) only after the
transaction holding its rows has committed. The client keeps a persistent session (MQTT 5,
clean start off, a session expiry), so whatever was delivered but not yet acknowledged
when the worker, the database or the broker went away is delivered again — and the
duplicate rows are dropped by the store. Nothing acknowledged is ever lost.

Throughput: paho's network thread only queues messages. The worker's own loop takes them
in batches (by size or age), decodes them (Sparkplug state is advanced in arrival order)
and hands the batch to a writer thread that stores, commits and then acknowledges — so the
next batch is decoded while the database works on the previous one. At most two batches
are in hand at once; the broker's flow control (MQTT 5 Receive Maximum) bounds the rest.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from shopfloor.bootstrap import Runtime
from shopfloor.kernel.clock import utc_now
from shopfloor.kernel.errors import ShopfloorError
from shopfloor.machines import json_format
from shopfloor.machines.ingest import IngestResult, Reading, ingest_batch
from shopfloor.machines.signal_copy import Encoded, encoded
from shopfloor.machines.sparkplug import NAMESPACE, Outcome, SparkplugHost
from shopfloor.machines.tag_map import TagMap, load_tag_map, tag_map_version
from shopfloor.platform.logging import logger

log = logger("shopfloor.ingest.mqtt")
# a batch as decoded: its messages, JSON readings, Sparkplug outcome, rows in COPY format
Decoded = tuple[list["_Message"], list[Reading], Outcome, Encoded | None]

TOPICS = (f"{NAMESPACE}/#", f"{json_format.TOPIC_PREFIX}#")


class TopicFilterError(ShopfloorError):
    """A topic filter the worker will not subscribe to."""


def check_topic_filter(topic: str) -> str:
    """A topic filter as MQTT defines it (`+` a whole level, `#` the last), and not a shared
    subscription: those hand an edge node's messages to several workers in turn, and each
    would see gaps in its sequence numbers (docs/deployment.md, partitioning)."""
    levels = topic.split("/")
    if not topic or "\x00" in topic:
        raise TopicFilterError(f"'{topic}' is not a topic filter")
    if levels[0] == "$share":
        raise TopicFilterError(
            f"'{topic}' is a shared subscription: partition ingest by topic instead (one "
            "worker per group of edge nodes), so that each node's messages reach one worker"
        )
    for n, level in enumerate(levels):
        if ("#" in level and (level != "#" or n != len(levels) - 1)) or (
            "+" in level and level != "+"
        ):
            raise TopicFilterError(
                f"'{topic}': '+' must be a whole level and '#' the last level alone"
            )
    return topic


@dataclass(frozen=True)
class MqttSettings:
    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str = "shopfloor-ingest"
    topics: tuple[str, ...] = TOPICS
    batch_messages: int = 1000
    batch_seconds: float = 0.1
    receive_maximum: int = 3000
    session_expiry: int = 86_400
    tag_reload_seconds: float = 10.0
    username: str | None = None
    password: str | None = None


@dataclass
class _Message:
    mid: int
    qos: int
    topic: str
    payload: bytes
    received_at: datetime


@dataclass
class BatchReport:
    """One committed batch: for the CLI's counters, the benchmark and tests."""

    messages: int
    result: IngestResult
    committed_at: float  # time.time()
    message_times_ms: list[int] = field(default_factory=list)


@dataclass
class Totals:
    messages: int = 0
    stored: int = 0
    duplicates: int = 0
    unmapped: int = 0
    invalid: int = 0
    rebirth_requests: int = 0
    batches: int = 0
    failures: int = 0


class MqttIngestWorker:
    """Subscribes, batches, stores, commits, acknowledges — until `stop` is set."""

    def __init__(
        self,
        runtime: Runtime,
        settings: MqttSettings = MqttSettings(),
        *,
        on_batch: Callable[[BatchReport], None] | None = None,
    ) -> None:
        self.runtime, self.settings, self.on_batch = runtime, settings, on_batch
        self.totals = Totals()
        self.connected = threading.Event()
        self._inbox: deque[_Message] = deque()
        self._arrived = threading.Condition()
        self._to_store: queue.Queue[Decoded | None] = queue.Queue(maxsize=1)
        self._copies = runtime.engine.dialect.name == "postgresql"  # rows stored by COPY
        self._tags, self._tags_checked = self._load_tags(), time.monotonic()
        self.host = SparkplugHost(self._tags)
        self.client = self._client()

    # --- MQTT ----------------------------------------------------------------------------

    def _client(self) -> mqtt.Client:
        s = self.settings
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=s.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
        )
        if s.username:
            client.username_pw_set(s.username, s.password)
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(1, 5)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, reason, _p) -> None:  # type: ignore[no-untyped-def]
        if reason.is_failure:
            log.warning("mqtt connect refused", reason=str(reason))
            return
        client.subscribe([(topic, 1) for topic in self.settings.topics])
        self.connected.set()
        log.info("mqtt connected", host=self.settings.host, port=self.settings.port)

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, reason, _p) -> None:  # type: ignore[no-untyped-def]
        self.connected.clear()
        log.warning("mqtt disconnected; reconnecting", reason=str(reason))

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        item = _Message(message.mid, message.qos, message.topic, bytes(message.payload), utc_now())
        with self._arrived:
            self._inbox.append(item)
            if len(self._inbox) >= self.settings.batch_messages:
                self._arrived.notify()

    def start(self) -> None:
        s = self.settings
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = s.session_expiry
        properties.ReceiveMaximum = s.receive_maximum
        self.client.connect_async(
            s.host, s.port, keepalive=30, clean_start=False, properties=properties
        )
        self.client.loop_start()

    # --- the batch loop ------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Connect and ingest until `stop` is set; the batch in hand is finished first."""
        writer = threading.Thread(target=self._write_loop, name="ingest-writer", daemon=True)
        writer.start()
        self.start()
        try:
            while not stop.is_set():
                batch = self._next_batch(stop)
                if batch:
                    self._to_store.put(self._decode(batch))
            rest = self._take()
            if rest:
                self._to_store.put(self._decode(rest))
        finally:
            self._to_store.put(None)
            writer.join()
            self.client.disconnect()
            self.client.loop_stop()

    def _take(self) -> list[_Message]:
        with self._arrived:
            batch = list(self._inbox)
            self._inbox.clear()
        return batch

    def _next_batch(self, stop: threading.Event) -> list[_Message]:
        deadline = time.monotonic() + self.settings.batch_seconds
        with self._arrived:
            while len(self._inbox) < self.settings.batch_messages and not stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._arrived.wait(left)
            count = min(len(self._inbox), self.settings.batch_messages)
            return [self._inbox.popleft() for _ in range(count)]

    def _decode(self, batch: list[_Message]) -> Decoded:
        self._refresh_tags()
        outcome = Outcome()
        readings: list[Reading] = []
        handle = self.host.handle
        for message in batch:
            if message.topic.startswith(NAMESPACE):
                handle(message.topic, message.payload, message.received_at, outcome)
            else:
                try:
                    readings += json_format.readings_from_payload(
                        message.topic, message.payload, message.received_at
                    )
                except ShopfloorError as exc:
                    outcome.invalid += 1
                    log.warning("json message refused", topic=message.topic, reason=exc.detail)
        for topic, payload in outcome.commands:
            self.client.publish(topic, payload, qos=1)  # survives a reconnect
            log.info("sparkplug rebirth requested", topic=topic)
        ready = encoded(outcome.rows) if self._copies else None  # the storing thread waits
        return batch, readings, outcome, ready

    def _write_loop(self) -> None:
        while True:
            item = self._to_store.get()
            if item is None:
                return
            batch, readings, outcome, ready = item
            result = self._store(readings, outcome, ready)
            committed = time.time()
            for message in batch:
                if message.qos > 0:
                    self.client.ack(message.mid, message.qos)
            self._count(batch, result, outcome)
            if self.on_batch is not None:
                self.on_batch(BatchReport(len(batch), result, committed, outcome.stamps_ms))

    def _store(
        self, readings: list[Reading], outcome: Outcome, ready: Encoded | None
    ) -> IngestResult:
        """Store and commit, retrying until the database takes it (unacknowledged messages
        would come back anyway, but retrying keeps the stream's order)."""
        pause = 0.5
        while True:
            try:
                with self.runtime.unit_of_work() as uow:
                    result = ingest_batch(uow.session, readings, tag_map=self._tags,
                                          sparkplug=outcome, ready=ready)  # fmt: skip
                    uow.commit()
                return result
            except Exception:
                self.totals.failures += 1
                log.exception("storing a batch failed; retrying", pause_s=pause)
                time.sleep(pause)
                pause = min(pause * 2, 10.0)

    def _count(self, batch: list[_Message], result: IngestResult, outcome: Outcome) -> None:
        t = self.totals
        t.messages += len(batch)
        t.stored += result.stored
        t.duplicates += result.duplicates
        t.unmapped += result.unmapped
        t.invalid += result.invalid
        t.rebirth_requests += len(outcome.commands)
        t.batches += 1

    def _load_tags(self) -> TagMap:
        with self.runtime.sessions() as session:
            return load_tag_map(session)

    def _refresh_tags(self) -> None:
        """Pick up tag map edits within `tag_reload_seconds` (a cheap version check)."""
        if time.monotonic() - self._tags_checked < self.settings.tag_reload_seconds:
            return
        self._tags_checked = time.monotonic()
        with self.runtime.sessions() as session:
            changed = tag_map_version(session) != self._tags.version
        if changed:
            self._tags = self._load_tags()
            self.host.use_tag_map(self._tags)
            log.info("tag map reloaded", tags=len(self._tags))
