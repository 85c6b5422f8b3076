"""The MQTT ingest worker against the real Mosquitto at 127.0.0.1:1883.

The broker is started when absent (and the tests fail loudly when it still is not there).
One test stops and restarts the broker mid-stream, which would disturb any other test using
it at that moment: every test of this module is in one xdist group — run with
`--dist loadgroup`. Each test uses its own client ids and topics.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import func, select

from shopfloor.bootstrap import Runtime
from shopfloor.kernel.context import CommandContext
from shopfloor.machines.setup import install_layout
from shopfloor.machines.simulator import PlantLayout, PlantSimulator
from shopfloor.machines.tables import MchEdgeNode, MchSignal
from shopfloor.workers.ingest_mqtt import MqttIngestWorker, MqttSettings
from tests.support.machines import ADMIN, T0, add_tags, make_line, standard_tags
from tests.support.services import ensure_running, listening, one_at_a_time


@pytest.fixture(autouse=True)
def _mosquitto_to_itself() -> Iterator[None]:
    """One test of this module at a time, on any worker: some stop the broker."""
    with one_at_a_time("mosquitto"):
        yield


START = ["mosquitto", "-d", "-c", "/etc/mosquitto/mosquitto.conf"]


def _listening() -> bool:
    return listening(1883)


def start_mosquitto() -> None:
    ensure_running("Mosquitto", 1883, START, wait=5)


def stop_mosquitto() -> None:
    subprocess.run(["pkill", "-x", "mosquitto"], check=False)
    for _ in range(100):
        if not _listening():
            return
        time.sleep(0.05)


@pytest.fixture
def worker(runtime: Runtime) -> Iterator[MqttIngestWorker]:
    start_mosquitto()
    # a short session expiry: long enough for the broker restart, and no session is left
    # behind for the broker to queue every later message for
    settings = MqttSettings(client_id=f"test-ingest-{uuid.uuid4().hex[:8]}", batch_seconds=0.05,
                            tag_reload_seconds=0.2, session_expiry=30)  # fmt: skip
    running = MqttIngestWorker(runtime, settings)
    stop = threading.Event()
    thread = threading.Thread(target=running.run, args=(stop,), daemon=True)
    thread.start()
    assert running.connected.wait(10), "the worker did not connect"
    time.sleep(0.2)  # the subscription is in place
    yield running
    stop.set()
    thread.join(15)


def _publisher(client_id: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=MQTTProtocolVersion.MQTTv5)  # fmt: skip
    client.max_inflight_messages_set(50)
    client.max_queued_messages_set(0)
    client.reconnect_delay_set(0.1, 1)
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 30
    client.connect("127.0.0.1", 1883, clean_start=False, properties=properties)
    client.loop_start()
    return client


def _wait(condition, seconds: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _count(runtime: Runtime, **where: object) -> int:
    with runtime.sessions() as session:
        statement = select(func.count()).select_from(MchSignal)
        for name, value in where.items():
            statement = statement.where(getattr(MchSignal, name) == value)
        return int(session.scalar(statement) or 0)


def test_sparkplug_and_json_are_stored_and_a_gap_asks_for_rebirth(
    runtime: Runtime, worker: MqttIngestWorker
) -> None:
    tag = uuid.uuid4().hex[:6]
    layout = PlantLayout(group=f"g{tag}", lines=((f"L{tag}", (f"M{tag}",)),), process_values=3)
    with runtime.unit_of_work() as uow:
        install_layout(uow.session, CommandContext(ADMIN, T0, "plant-1"), layout)
        add_tags(uow.session, standard_tags("json", f"hall/{tag}", f"M{tag}"))
        uow.commit()
    worker._tags_checked = 0  # pick the new tags up now
    sim = PlantSimulator(layout, seed=2)
    commands: list[str] = []
    client = _publisher(f"pub-{tag}")
    client.subscribe(f"spBv1.0/g{tag}/NCMD/#", qos=1)
    client.on_message = lambda _c, _u, m: commands.append(m.topic)
    now = int(time.time() * 1000)
    time.sleep(0.4)
    for topic, payload in sim.births(now) + sim.step(now + 1000, 1.0):
        client.publish(topic, payload, qos=1).wait_for_publish(5)
    body = {"ts": now + 500, "metrics": {"State": "running", "Count/Total": 7, "Temperature": 21.5}}
    client.publish(f"shopfloor/json/hall/{tag}", json.dumps(body), qos=1).wait_for_publish(5)
    assert _wait(lambda: _count(runtime, source="json") == 3), (worker.totals, _count(runtime))
    assert _wait(lambda: _count(runtime, source="sparkplug", metric="Process/V2") == 2)
    sim.step(now + 2000, 1.0)  # lost on the way
    for topic, payload in sim.step(now + 3000, 1.0):
        client.publish(topic, payload, qos=1).wait_for_publish(5)
    assert _wait(lambda: f"spBv1.0/g{tag}/NCMD/L{tag}" in commands)

    def rebirth_recorded() -> bool:
        with runtime.sessions() as session:
            node = session.get(MchEdgeNode, f"g{tag}/L{tag}")
            return node is not None and node.rebirth_requests >= 1

    assert _wait(rebirth_recorded)
    client.loop_stop()
    client.disconnect()


def test_broker_restart_mid_stream_loses_no_acknowledged_message(
    runtime: Runtime, worker: MqttIngestWorker
) -> None:
    """Every message the publisher got a PUBACK for is stored exactly once, although the
    broker was stopped and started again while messages were in flight."""
    tag = uuid.uuid4().hex[:6]
    with runtime.unit_of_work() as uow:
        make_line(uow.session, f"L{tag}", [f"M{tag}"])
        add_tags(uow.session, standard_tags("json", f"hall/{tag}", f"M{tag}"))
        uow.commit()
    worker._tags_checked = 0
    acked: set[int] = set()
    client = _publisher(f"pub-{tag}")
    client.on_publish = lambda _c, _u, mid, reason, _p: acked.add(mid)
    sent: dict[int, int] = {}  # mid → counter value
    time.sleep(0.4)

    def publish(n: int) -> None:
        body = {"ts": int((T0 + timedelta(seconds=n)).timestamp() * 1000),
                "metrics": {"Count/Total": n}}  # fmt: skip
        info = client.publish(f"shopfloor/json/hall/{tag}", json.dumps(body), qos=1)
        sent[info.mid] = n

    for n in range(150):
        publish(n)
        time.sleep(0.002)
    stop_mosquitto()
    for n in range(150, 250):  # queued by the client while the broker is away
        publish(n)
    time.sleep(0.5)
    start_mosquitto()
    assert _wait(lambda: len(acked) == 250, 30), f"only {len(acked)} PUBACKs"
    assert _wait(lambda: worker.connected.is_set(), 20)
    expected = {sent[mid] for mid in acked}
    assert _wait(lambda: _count(runtime, metric="total") >= len(expected), 30)
    time.sleep(0.5)
    with runtime.sessions() as session:
        stored = session.scalars(select(MchSignal.num_value).where(MchSignal.metric == "total"))
        values = sorted(int(v) for v in stored if v is not None)
    assert values == sorted(expected)  # each exactly once: the key forbids twins
    client.loop_stop()
    client.disconnect()


@pytest.fixture
def private_broker(tmp_path) -> Iterator[int]:
    """Mosquitto on a free port that lets in only 'ingest' with its password."""
    passwords = tmp_path / "passwords"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "ingest", "s3cret-pw"],
                   check=True)  # fmt: skip
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(  # run as root, it keeps root: the files are in root's private tmp
        f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {passwords}\n"
        "persistence false\nlog_dest none\nuser root\nsys_interval 1\n"
    )
    broker = subprocess.Popen(["mosquitto", "-c", str(conf)])
    try:
        assert _wait(lambda: listening(port), 10), "the private mosquitto did not start"
        yield port
    finally:
        broker.terminate()
        broker.wait(10)


def test_the_command_ingests_its_partition_only_and_signs_in(
    runtime: Runtime, db_url: str, private_broker: int
) -> None:
    """`worker ingest mqtt --topic … --username …` with the password from the environment:
    one line's edge node is its partition, the other line's messages are not its to store;
    the broker refuses anyone without the password."""
    tag = uuid.uuid4().hex[:6]
    lines = ((f"A{tag}", (f"MA{tag}",)), (f"B{tag}", (f"MB{tag}",)))
    layout = PlantLayout(group=f"g{tag}", lines=lines, process_values=2)
    with runtime.unit_of_work() as uow:
        install_layout(uow.session, CommandContext(ADMIN, T0, "plant-1"), layout)
        uow.commit()
    env = {**os.environ, "SHOPFLOOR_MQTT_PASSWORD": "s3cret-pw", "SHOPFLOOR_LOG_LEVEL": "WARNING"}
    partition = f"spBv1.0/g{tag}/+/A{tag}/#"
    command = [str(Path(sys.executable).parent / "shopfloor"), "worker", "ingest", "mqtt",
               "--port", str(private_broker), "--topic", partition, "--username", "ingest",
               "--client-id", f"part-{tag}", "--database-url", db_url]  # fmt: skip
    worker = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)  # fmt: skip
    try:
        answers: list[bool] = []
        anonymous = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
        anonymous.on_connect = lambda _c, _u, _f, code, _p: answers.append(code.is_failure)
        anonymous.connect("127.0.0.1", private_broker)
        anonymous.loop_start()
        assert _wait(lambda: answers, 5) and answers[0], "the broker let a stranger in"
        anonymous.loop_stop()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
        client.username_pw_set("ingest", "s3cret-pw")
        subscriptions: list[int] = []
        client.on_message = lambda _c, _u, m: subscriptions.append(int(m.payload))
        client.connect("127.0.0.1", private_broker)
        client.loop_start()
        client.subscribe("$SYS/broker/subscriptions/count")
        assert _wait(lambda: subscriptions and subscriptions[-1] >= 2, 30), "no subscriber"
        sim = PlantSimulator(layout, seed=3)
        now = int(time.time() * 1000)
        for topic, payload in sim.births(now) + sim.step(now + 1000, 1.0):
            client.publish(topic, payload, qos=1).wait_for_publish(5)
        mine = _equipment_id(runtime, f"MA{tag}")
        theirs = _equipment_id(runtime, f"MB{tag}")
        assert _wait(lambda: _count(runtime, equipment_id=mine) > 0, 30), worker.poll()
        time.sleep(1)
        assert _count(runtime, equipment_id=theirs) == 0
        client.loop_stop()
        client.disconnect()
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    assert worker.returncode == 0, output
    assert partition in output and "as ingest" in output


def _equipment_id(runtime: Runtime, code: str) -> int:
    from shopfloor.masterdata.tables import Equipment

    with runtime.sessions() as session:
        return int(session.scalars(select(Equipment.id).where(Equipment.code == code)).one())
