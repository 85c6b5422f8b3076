"""`shopfloor worker ingest opcua`: an OPC UA subscription to the nodes of the tag map.

The tag map lists the nodes (source `opcua`, address = this server's name in the tag map,
metric = the node id, e.g. `ns=2;s=Press1.State`). Every data change becomes a reading
stamped with the value's source timestamp (the device's clock; else the server's), and
the readings are stored in one transaction every `batch_seconds`. OPC UA has no broker
that redelivers: a change is stored once its batch commits; if the connection drops, the
worker reconnects and the subscription's initial values fill the gap's end state.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime
from typing import Any

from asyncua.client.client import Client
from asyncua.common.node import Node

from shopfloor.bootstrap import Runtime
from shopfloor.kernel.clock import as_utc, utc_now
from shopfloor.machines.ingest import Reading, ingest_batch
from shopfloor.machines.tag_map import TagMap, load_tag_map
from shopfloor.platform.logging import logger

log = logger("shopfloor.ingest.opcua")
SOURCE = "opcua"


class _Changes:
    """asyncua's subscription handler: queues readings for the next batch."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.pending: list[Reading] = []

    def datachange_notification(self, node: Node, value: Any, data: Any) -> None:
        received = utc_now()
        data_value = data.monitored_item.Value
        stamp: datetime | None = data_value.SourceTimestamp or data_value.ServerTimestamp
        device_time = as_utc(stamp) if stamp else received
        if hasattr(value, "value"):  # enumerations and localized text
            value = value.value
        if not isinstance(value, bool | int | float | str) and value is not None:
            value = str(value)
        self.pending.append(
            Reading(SOURCE, self.address, node.nodeid.to_string(), device_time, value, received)
        )

    def status_change_notification(self, status: Any) -> None:
        log.warning("opcua subscription status changed", status=str(status))


class OpcUaIngestWorker:
    def __init__(
        self,
        runtime: Runtime,
        endpoint: str,
        address: str,
        *,
        publishing_interval: float = 0.5,
        batch_seconds: float = 0.5,
    ) -> None:
        self.runtime, self.endpoint, self.address = runtime, endpoint, address
        self.publishing_interval, self.batch_seconds = publishing_interval, batch_seconds
        self.stored = 0
        self.subscribed = threading.Event()
        self._tags = self._load()

    def _load(self) -> TagMap:
        with self.runtime.sessions() as session:
            return load_tag_map(session)

    def nodes(self) -> list[str]:
        return [m for m in self._tags.metrics(SOURCE, self.address) if m != "*"]

    def run(self, stop: threading.Event) -> None:
        """Subscribe and store until `stop` is set; reconnect after a lost connection."""
        asyncio.run(self._run(stop))

    async def _run(self, stop: threading.Event) -> None:
        pause = 1.0
        while not stop.is_set():
            try:
                await self._session(stop)
                pause = 1.0
            except (TimeoutError, OSError, ConnectionError) as exc:
                log.warning("opcua connection lost; reconnecting", error=str(exc), pause_s=pause)
                self.subscribed.clear()
                await asyncio.sleep(pause)
                pause = min(pause * 2, 30.0)

    async def _session(self, stop: threading.Event) -> None:
        changes = _Changes(self.address)
        async with Client(url=self.endpoint, timeout=10) as client:
            subscription = await client.create_subscription(
                self.publishing_interval * 1000, changes
            )
            nodes = [client.get_node(node_id) for node_id in self.nodes()]
            await subscription.subscribe_data_change(nodes)
            self.subscribed.set()
            try:
                while not stop.is_set():
                    await asyncio.sleep(self.batch_seconds)
                    await self._flush(changes)
            finally:
                await self._flush(changes)

    async def _flush(self, changes: _Changes) -> None:
        readings, changes.pending = changes.pending, []
        if readings:
            await asyncio.to_thread(self._store, readings)

    def _store(self, readings: list[Reading]) -> None:
        with self.runtime.unit_of_work() as uow:
            result = ingest_batch(uow.session, readings, tag_map=self._tags)
            uow.commit()
        self.stored += result.stored
