"""`python -m bench ingest`: Sparkplug B DDATA through Mosquitto into committed PostgreSQL rows.

The plant: `--machines` simulated machines (5 per line, a line = one edge node), each DDATA
carrying its process values (`--values`, default 30) plus state and counter changes — 30 to
34 metrics per message, QoS 1, encoded by the simulator exactly as `shopfloor simulate`
sends them. The publisher runs in a process of its own, as fast as it can but closed-loop:
it never has more than `--window` messages published and not yet taken by the side being
measured, so every side runs at the rate it can sustain and the lag stays meaningful.

Sides, each measured in the same run, on a private Mosquitto (a free port, no persistence,
unlimited queues) and a throw-away PostgreSQL database:

- shopfloor: `MqttIngestWorker` as in production (decode, tag map, COPY into staging,
  INSERT … ON CONFLICT, commit, then PUBACK), for `--seconds` (≥ 30 by default);
- floor "bare subscriber": paho-mqtt with the same connection options (MQTT 5, QoS 1,
  persistent session) counting messages x metrics, nothing else;
- floor "bare COPY": the rows shopfloor stored, COPYed into a table of the same shape
  (same primary key) in batches of the same size, a commit per batch.

An event is one metric. Last line:
`ingest: ratio=<shopfloor events/s ÷ the slower floor's> events_per_s=… lag_p99_ms=…`
The lag — commit time minus the message's Sparkplug timestamp, set when it was published —
is measured in a last run paced at half the throughput shopfloor sustained (`--lag-seconds`):
at saturation the lag only shows the closed loop's window.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from bench.lib import pg
from bench.lib.report import console, warn_if_busy

NAME = "ingest"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench ingest", description=__doc__.split(
        "\n")[0])  # fmt: skip
    parser.add_argument("--seconds", type=int, default=30, help="shopfloor's measured time")
    parser.add_argument("--floor-seconds", type=int, default=15, help="bare subscriber's time")
    parser.add_argument(
        "--lag-seconds",
        type=int,
        default=10,
        help="lag measured at half the throughput shopfloor sustained",
    )
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds not counted")
    parser.add_argument("--machines", type=int, default=100)
    parser.add_argument("--values", type=int, default=30, help="process values per machine")
    parser.add_argument("--window", type=int, default=4000, help="messages in flight at most")
    parser.add_argument("--database-url-admin", default=pg.DEFAULT_ADMIN_URL)
    parser.add_argument("--database", default="sf_bench_ingest")
    args = parser.parse_args(argv)
    if args.seconds < 1 or args.machines < 1 or args.values < 8:
        parser.error("seconds and machines must be ≥ 1, values ≥ 8 (10-50 metrics a message)")
    return args


# --- a private broker -----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    """Mosquitto on a free port with unlimited queues, for this run only."""

    def __init__(self) -> None:
        if shutil.which("mosquitto") is None:
            raise SystemExit("mosquitto is not installed (apt-get install mosquitto)")
        self.port = _free_port()
        self.dir = tempfile.mkdtemp(prefix="bench-mosquitto-")
        conf = Path(self.dir) / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "max_queued_messages 0\nmax_inflight_messages 0\nlog_dest none\n"
        )
        self.process = subprocess.Popen(["mosquitto", "-c", str(conf)])
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("the benchmark's mosquitto did not start")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


# --- the publisher process ------------------------------------------------------------


def _bodies(layout: Any, steps: int) -> list[tuple[str, str, bytes]]:
    """The simulator's DDATA for `steps` steps: (topic, edge node, payload without the
    timestamp and seq), so publishing only puts a fresh header in front (protobuf merges
    concatenated messages: the header's fields and the body's metrics)."""
    from shopfloor.machines import sparkplug_b_pb2 as pb
    from shopfloor.machines.simulator import PlantSimulator

    simulator = PlantSimulator(layout, seed=1)
    simulator.births(0)
    found = []
    for step in range(steps):
        for topic, payload in simulator.step(step * 50, 0.05):
            message = pb.Payload.FromString(payload)
            message.ClearField("timestamp")
            message.ClearField("seq")
            found.append((topic, topic.split("/")[3], message.SerializeToString()))
    return found


def publisher(
    port: int,
    layout: Any,
    bodies: list[tuple[str, str, bytes]],
    counters: Any,
    window: int,
    stop: Any,
    ready: Any,
    rate: float,
) -> None:
    """Births, then the simulator's DDATA as fast as the side keeps up (closed loop, QoS 1)
    with fresh timestamps and each edge node's seq; the prepared steps repeat."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

    from shopfloor.machines import sparkplug_b_pb2 as pb
    from shopfloor.machines.simulator import PlantSimulator

    published, taken = counters
    simulator = PlantSimulator(layout, seed=1)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{os.getpid()}",
                         protocol=MQTTProtocolVersion.MQTTv5)  # fmt: skip
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    for topic, payload in simulator.births(int(time.time() * 1000)):
        client.publish(topic, payload, qos=1)
    seq = dict.fromkeys(simulator.lines(), len(layout.lines[0][1]))
    ready.set()
    count = last = 0
    per_step = sum(len(machines) for _, machines in layout.lines)
    began = time.perf_counter()
    while not stop.is_set():
        for start in range(0, len(bodies), per_step):
            while count - taken.value > window and not stop.is_set():
                time.sleep(0.0005)
            if rate:  # paced: the lag at a load the side sustains with room to spare
                ahead = count / rate - (time.perf_counter() - began)
                if ahead > 0:
                    time.sleep(ahead)
            now = last = max(int(time.time() * 1000), last + 1)  # device times increase
            for topic, line, body in bodies[start : start + per_step]:
                seq[line] = (seq[line] + 1) % 256
                header = pb.Payload(timestamp=now, seq=seq[line]).SerializeToString()
                client.publish(topic, header + body, qos=1)
                count += 1
            published.value = count
    client.loop_stop()
    client.disconnect()


# --- the sides ------------------------------------------------------------------------


@dataclass
class Measured:
    events: int = 0
    seconds: float = 0.0
    lags_ms: list[float] = field(default_factory=list)

    @property
    def per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def p99_ms(self) -> float:
        if not self.lags_ms:
            return 0.0
        ordered = sorted(self.lags_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


class Window:
    """Counts what a side took; opens and closes the measured window."""

    def __init__(self, taken: Any) -> None:
        self.taken = taken
        self.lock = threading.Lock()
        self.open_at: float | None = None
        self.result = Measured()

    def add(self, messages: int, events: int, lags: Sequence[float] = ()) -> None:
        with self.lock:
            self.taken.value += messages
            if self.open_at is not None:
                self.result.events += events
                self.result.lags_ms.extend(lags)

    def measure(self, warmup: float, seconds: float) -> Measured:
        time.sleep(warmup)
        with self.lock:
            self.open_at = time.perf_counter()
        time.sleep(seconds)
        with self.lock:
            self.result.seconds = time.perf_counter() - self.open_at
            self.open_at = None
        return self.result


def run_side(
    name: str,
    port: int,
    layout: Any,
    bodies: Any,
    args: argparse.Namespace,
    consume: Any,
    seconds: float,
    rate: float = 0.0,
) -> Measured:
    """Start the publisher, let `consume(window, stop)` take messages, measure, stop."""
    ctx = mp.get_context("spawn")
    published, taken, stop, ready = ctx.Value("q", 0), ctx.Value("q", 0), ctx.Event(), ctx.Event()
    window = Window(taken)
    consumer_stop = threading.Event()
    consumer = threading.Thread(target=consume, args=(window, consumer_stop), daemon=True)
    consumer.start()
    time.sleep(1.0)  # subscribed
    process = ctx.Process(target=publisher, args=(port, layout, bodies, (published, taken),
                                                  args.window, stop, ready, rate))  # fmt: skip
    process.start()
    ready.wait(60)
    with console.status(f"[bold]{name}[/]: {args.warmup:.0f} s warm-up, {seconds} s measured"):
        result = window.measure(args.warmup, seconds)
    stop.set()
    process.join(10)
    consumer_stop.set()
    consumer.join(30)
    time.sleep(3)  # the side's session expires at the broker
    console.print(f"  {name:>16}: {result.per_s:12,.0f} events/s  (published {published.value:,}"
                  f" messages)")  # fmt: skip
    return result


def shopfloor_side(runtime: Any, port: int) -> Any:
    from shopfloor.workers.ingest_mqtt import MqttIngestWorker, MqttSettings

    def consume(window: Window, stop: threading.Event) -> None:
        def on_batch(report: Any) -> None:
            now_ms = report.committed_at * 1000
            lags = [now_ms - stamp for stamp in report.message_times_ms]
            window.add(report.messages, report.result.stored, lags)

        # the session outlives a disconnect only briefly: a persistent session left behind
        # would make the broker queue every later message for nobody
        settings = MqttSettings(port=port, client_id=f"bench-ingest-{secrets.token_hex(4)}",
                                session_expiry=2)  # fmt: skip
        MqttIngestWorker(runtime, settings, on_batch=on_batch).run(stop)

    return consume


def bare_subscriber_side(port: int, metrics_per_message: float) -> Any:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    def consume(window: Window, stop: threading.Event) -> None:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-bare",
                             protocol=MQTTProtocolVersion.MQTTv5)  # fmt: skip
        received = [0]

        def on_message(_c: Any, _u: Any, message: Any) -> None:
            received[0] += 1
            if received[0] % 100 == 0:
                window.add(100, int(100 * metrics_per_message))

        client.on_message = on_message
        client.on_connect = lambda c, *_: c.subscribe("spBv1.0/#", qos=1)
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval, properties.ReceiveMaximum = 2, 3000
        client.connect("127.0.0.1", port, clean_start=False, properties=properties)
        client.loop_start()
        stop.wait()
        client.loop_stop()
        client.disconnect()

    return consume


def bare_copy(runtime: Any, rows_per_batch: int, limit: int) -> Measured:
    """The rows shopfloor stored, COPYed into a table of the same shape."""
    columns = ("equipment_id, metric, device_time, kind, received_at, num_value, text_value, "
               "historical, source")  # fmt: skip
    with runtime.engine.connect() as connection:
        raw = connection.connection.driver_connection
        rows = raw.execute(f"SELECT {columns} FROM mch_signal LIMIT {limit}").fetchall()
        raw.execute("CREATE TABLE mch_signal_floor (LIKE mch_signal INCLUDING ALL)")
        raw.commit()
        types = ["int4", "varchar", "timestamptz", "varchar", "timestamptz", "float8", "varchar",
                 "bool", "varchar"]  # fmt: skip
        began = time.perf_counter()
        for start in range(0, len(rows), rows_per_batch):
            with raw.cursor() as cursor:
                statement = f"COPY mch_signal_floor ({columns}) FROM STDIN (FORMAT BINARY)"
                with cursor.copy(statement) as copy:
                    copy.set_types(types)
                    for row in rows[start : start + rows_per_batch]:
                        copy.write_row(row)
            raw.commit()
        seconds = time.perf_counter() - began
    result = Measured(len(rows), seconds)
    console.print(f"  {'bare COPY':>16}: {result.per_s:12,.0f} events/s  ({len(rows):,} rows)")
    return result


# --- the run --------------------------------------------------------------------------


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    warn_if_busy()
    from shopfloor.bootstrap import build_runtime
    from shopfloor.kernel.context import SYSTEM
    from shopfloor.machines.setup import install_layout
    from shopfloor.machines.simulator import PlantLayout
    from shopfloor.platform.migrate import upgrade
    from shopfloor.platform.settings import load_settings

    layout = PlantLayout.generated(args.machines, process_values=args.values)
    console.print(f"[bold]ingest[/]: {args.machines} machines x {args.values} process values, "
                  f"Sparkplug B DDATA, QoS 1, Mosquitto → PostgreSQL")  # fmt: skip
    broker = Broker()
    try:
        with pg.fresh_database(args.database_url_admin, args.database) as url:
            settings = load_settings(database_url=url, secret_key=secrets.token_urlsafe(32))
            runtime = build_runtime(settings)
            try:
                upgrade(runtime.engine)
                with runtime.unit_of_work() as uow:
                    install_layout(uow.session, runtime.context(SYSTEM), layout)
                    uow.commit()
                metrics_per_message = args.values + 0.3  # values always, state/counts often
                with console.status("preparing the simulator's messages"):
                    bodies = _bodies(layout, 60)
                floor_sub = run_side("bare subscriber", broker.port, layout, bodies, args,
                                     bare_subscriber_side(broker.port, metrics_per_message),
                                     args.floor_seconds)  # fmt: skip
                ours = run_side("shopfloor", broker.port, layout, bodies, args,
                                shopfloor_side(runtime, broker.port), args.seconds)  # fmt: skip
                paced = 0.5 * ours.per_s / metrics_per_message
                at_half = run_side("shopfloor, 50% load", broker.port, layout, bodies, args,
                                   shopfloor_side(runtime, broker.port), args.lag_seconds,
                                   rate=paced)  # fmt: skip
                batch_rows = 1000 * int(metrics_per_message)
                floor_copy = bare_copy(runtime, batch_rows, max(ours.events, 200_000))
            finally:
                runtime.close()
    finally:
        broker.close()
    slower = min(floor_sub.per_s, floor_copy.per_s)
    table = Table(title="Sparkplug B → Mosquitto → PostgreSQL", caption="an event = one metric")
    for column in ("", "events/s", "lag p99 ms"):
        table.add_column(column, justify="right" if column else "left")
    table.add_row("shopfloor ingest (saturated)", f"{ours.per_s:,.0f}", f"{ours.p99_ms():,.0f}")
    table.add_row("shopfloor ingest at 50% load", f"{at_half.per_s:,.0f}",
                  f"{at_half.p99_ms():,.0f}")  # fmt: skip
    table.add_row("floor: bare subscriber", f"{floor_sub.per_s:,.0f}", "")
    table.add_row("floor: bare COPY", f"{floor_copy.per_s:,.0f}", "")
    console.print(table)
    ratio = ours.per_s / slower if slower else 0.0
    print(f"{NAME}: ratio={ratio:.3f} events_per_s={ours.per_s:.1f} "
          f"lag_p99_ms={at_half.p99_ms():.1f}")  # fmt: skip
    return 0
