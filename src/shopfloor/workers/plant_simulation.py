"""Running the simulated plant: published to MQTT (`shopfloor simulate`), or fed straight
into ingest in-process (`shopfloor demo` without a broker), so a first screen is alive.

Over MQTT each line is an edge node with a connection of its own, whose Will is the line's
NDEATH; it publishes its births on every connect and again on a Rebirth NCMD. Data goes out
with QoS 1 (Sparkplug allows 0; shopfloor wants no acknowledged sample lost).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from shopfloor.bootstrap import Runtime
from shopfloor.kernel.clock import utc_now
from shopfloor.machines.ingest import ingest_batch
from shopfloor.machines.simulator import PlantLayout, PlantSimulator
from shopfloor.machines.sparkplug import Outcome, SparkplugHost, topic_for
from shopfloor.machines.tag_map import load_tag_map
from shopfloor.platform.logging import logger

log = logger("shopfloor.simulate")


def _now_ms() -> int:
    return int(time.time() * 1000)


class MqttPlantPublisher:
    """One MQTT client per line; `run` steps the plant every `tick` seconds."""

    def __init__(
        self, simulator: PlantSimulator, host: str, port: int, *, client_prefix: str = "sim"
    ) -> None:
        self.simulator, self.host, self.port = simulator, host, port
        self.published = 0
        self.clients: dict[str, mqtt.Client] = {}
        self._lock = threading.Lock()
        for line in simulator.lines():
            client = mqtt.Client(
                CallbackAPIVersion.VERSION2,
                client_id=f"{client_prefix}-{simulator.layout.group}-{line}",
                protocol=MQTTProtocolVersion.MQTTv5,
            )
            client.max_inflight_messages_set(200)
            client.max_queued_messages_set(0)
            client.on_connect = self._on_connect(line)
            client.on_message = self._on_command
            self.clients[line] = client

    def _on_connect(self, line: str) -> Callable[..., None]:
        def connected(client: mqtt.Client, *_: object) -> None:
            with self._lock:
                self.simulator.bd_seq[line] += 1
                topic, will = self.simulator.death(line)
                client.will_set(topic, will, qos=1)  # for the next connection
                client.subscribe(topic_for(self.simulator.layout.group, "NCMD", line), qos=1)
                self._publish(self.simulator.births(_now_ms(), line))

        return connected

    def _on_command(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            births = self.simulator.command(message.topic, _now_ms())
            if births:
                log.info("rebirth requested", topic=message.topic)
            self._publish(births)

    def _publish(self, messages: list[tuple[str, bytes]]) -> None:
        for topic, payload in messages:
            line = topic.split("/")[3]
            self.clients[line].publish(topic, payload, qos=1)
            self.published += 1

    def run(self, stop: threading.Event, tick: float = 1.0, speed: float = 1.0) -> None:
        for line, client in self.clients.items():
            topic, will = self.simulator.death(line)
            client.will_set(topic, will, qos=1)
            client.connect_async(self.host, self.port, keepalive=30)
            client.loop_start()
        try:
            while not stop.wait(tick):
                with self._lock:
                    self._publish(self.simulator.step(_now_ms(), tick * speed))
        finally:
            for line, client in self.clients.items():
                topic, will = self.simulator.death(line)
                client.publish(topic, will, qos=1).wait_for_publish(2)
                client.disconnect()
                client.loop_stop()


class InProcessPlant:
    """The simulator feeding `ingest_batch` directly, one transaction per tick."""

    def __init__(self, runtime: Runtime, simulator: PlantSimulator, tick: float = 2.0) -> None:
        self.runtime, self.simulator, self.tick = runtime, simulator, tick
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="demo-plant", daemon=True)
        with runtime.sessions() as session:
            self.host = SparkplugHost(load_tag_map(session))

    def start(self) -> None:
        self._feed(self.simulator.births(_now_ms()))
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _feed(self, messages: list[tuple[str, bytes]]) -> None:
        outcome = Outcome()
        for topic, payload in messages:
            self.host.handle(topic, payload, utc_now(), outcome)
        with self.runtime.unit_of_work() as uow:
            ingest_batch(uow.session, [], tag_map=self.host.tag_map, sparkplug=outcome)
            uow.commit()
        for topic, _ in outcome.commands:
            self._feed(self.simulator.command(topic, _now_ms()))

    def _loop(self) -> None:
        while not self._stop.wait(self.tick):
            try:
                self._feed(self.simulator.step(_now_ms(), self.tick))
            except Exception:  # the demo goes on; the next tick tries again
                log.exception("demo plant tick failed")


def demo_layout() -> PlantLayout:
    """The demo plant's work centers, one edge node per line."""
    from shopfloor.demo.catalog import EQUIPMENT

    lines: dict[str, list[str]] = {}
    for code, _name, level, parent in EQUIPMENT:
        if level == "work_center" and parent is not None:
            lines.setdefault(parent, []).append(code)
    return PlantLayout(group="demo", lines=tuple((k, tuple(v)) for k, v in lines.items()))


def start_demo_machines(runtime: Runtime, mqtt_host: str | None = None) -> Callable[[], None]:
    """Install the demo plant's tags, then run it: published to `mqtt_host` with an ingest
    worker beside it, or in-process when no broker is configured. Returns the stopper."""
    from shopfloor.kernel.context import SYSTEM
    from shopfloor.machines.setup import install_layout

    layout = demo_layout()
    with runtime.unit_of_work() as uow:
        install_layout(uow.session, runtime.context(SYSTEM), layout)
        uow.commit()
    simulator = PlantSimulator(layout, seed=1)
    if mqtt_host is None:
        plant = InProcessPlant(runtime, simulator)
        plant.start()
        return plant.stop
    from shopfloor.workers.ingest_mqtt import MqttIngestWorker, MqttSettings

    host, _, port = mqtt_host.partition(":")
    stop = threading.Event()
    worker = MqttIngestWorker(runtime, MqttSettings(host=host, port=int(port or 1883),
                                                    client_id="shopfloor-demo"))  # fmt: skip
    publisher = MqttPlantPublisher(simulator, host, int(port or 1883), client_prefix="demo")
    threads = [threading.Thread(target=worker.run, args=(stop,), daemon=True),
               threading.Thread(target=publisher.run, args=(stop,), daemon=True)]  # fmt: skip
    for thread in threads:
        thread.start()

    def stopper() -> None:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)

    return stopper
