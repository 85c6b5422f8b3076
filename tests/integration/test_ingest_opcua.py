"""The OPC UA ingest worker end to end: a real asyncua server started here (127.0.0.1, a
free port), the worker subscribed to the nodes of the tag map, values changed on the
server, rows stored."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from asyncua import Server, ua
from sqlalchemy import select

from shopfloor.bootstrap import Runtime
from shopfloor.machines.tables import MchSignal
from shopfloor.machines.tag_map import TagSpec
from shopfloor.workers.ingest_opcua import OpcUaIngestWorker
from tests.support.machines import add_tags, make_line


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PressServer:
    """An OPC UA server with a press: State (string), Count (UInt32), Temperature
    (double). Started once per module: asyncua takes seconds to start."""

    def __init__(self) -> None:
        self.endpoint = f"opc.tcp://127.0.0.1:{_free_port()}/press/"
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.nodes: dict[str, Any] = {}
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)

    async def _start(self) -> None:
        self.server = Server()
        await self.server.init()
        self.server.set_endpoint(self.endpoint)
        ns = await self.server.register_namespace("urn:shopfloor:test")
        press = await self.server.nodes.objects.add_object(ns, "Press")
        self.nodes["State"] = await press.add_variable(
            ua.NodeId("Press.State", ns), "State", "idle"
        )
        self.nodes["Count"] = await press.add_variable(
            ua.NodeId("Press.Count", ns), "Count", 0, ua.VariantType.UInt32
        )
        self.nodes["Temperature"] = await press.add_variable(
            ua.NodeId("Press.Temperature", ns), "Temperature", 20.0
        )
        await self.server.start()

    def node_id(self, name: str) -> str:
        return str(self.nodes[name].nodeid.to_string())

    def write(self, name: str, value: Any, variant: ua.VariantType | None = None) -> None:
        coroutine = self.nodes[name].write_value(value, variant)
        asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


@pytest.fixture(scope="module")
def press() -> Iterator[PressServer]:
    server = PressServer()
    server.start()
    yield server
    server.stop()


def test_opcua_subscription_end_to_end(runtime: Runtime, press: PressServer) -> None:
    press.write("State", "idle")  # the server is shared by the module's tests
    press.write("Count", 0, ua.VariantType.UInt32)
    with runtime.unit_of_work() as uow:
        make_line(uow.session, "L9", ["PRESS-1"])
        add_tags(uow.session, [
            TagSpec("opcua", "press", press.node_id("State"), "PRESS-1", "state"),
            TagSpec("opcua", "press", press.node_id("Count"), "PRESS-1", "total"),
            TagSpec("opcua", "press", press.node_id("Temperature"), "PRESS-1", "value",
                    "temperature", scale=1.0),
        ])  # fmt: skip
        uow.commit()
    worker = OpcUaIngestWorker(runtime, press.endpoint, "press", publishing_interval=0.05,
                               batch_seconds=0.1)  # fmt: skip
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert worker.subscribed.wait(20), "the worker did not subscribe"
        time.sleep(0.3)
        press.write("State", "running")
        press.write("Count", 42, ua.VariantType.UInt32)
        press.write("Temperature", 61.5)
        time.sleep(0.3)
        press.write("Count", 43, ua.VariantType.UInt32)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with runtime.sessions() as session:
                rows = session.execute(
                    select(MchSignal.metric, MchSignal.num_value, MchSignal.text_value)
                ).all()
            if (("total", 43.0, None)) in rows:
                break
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(15)
    assert ("state", None, "idle") in rows and ("state", None, "running") in rows
    assert ("total", 42.0, None) in rows and ("total", 43.0, None) in rows
    assert ("temperature", 61.5, None) in rows
