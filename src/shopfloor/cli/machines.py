"""`shopfloor worker ingest mqtt|opcua`, `shopfloor worker machines` and `shopfloor simulate`.

The ingest workers run until SIGTERM (or Ctrl-C): the batch in hand is stored, committed
and acknowledged before they exit. `simulate` publishes a seeded plant as Sparkplug B.
"""

from __future__ import annotations

import signal
import threading

import typer

from shopfloor.cli.common import DbOption, console, fail, plant_errors, runtime_for, settings_from
from shopfloor.cli.outbox import worker_app
from shopfloor.kernel.context import SYSTEM

ingest_app = typer.Typer(help="Machine data ingest (MQTT Sparkplug B / JSON, OPC UA).",
                         no_args_is_help=True)  # fmt: skip
worker_app.add_typer(ingest_app, name="ingest")

HostOption = typer.Option(
    "127.0.0.1", "--host", envvar="SHOPFLOOR_MQTT_HOST", help="MQTT broker (SHOPFLOOR_MQTT_HOST)"
)
PortOption = typer.Option(
    1883, "--port", envvar="SHOPFLOOR_MQTT_PORT", help="MQTT port (SHOPFLOOR_MQTT_PORT)"
)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop


@worker_app.command("machines")
def machine_watch(
    once: bool = typer.Option(False, "--once", help="One pass, then exit"),
    every: float | None = typer.Option(
        None, "--every", min=1, help="Seconds between passes [SHOPFLOOR_MACHINE_WATCH_SECONDS]"
    ),
    window_hours: float | None = typer.Option(
        None,
        "--window-hours",
        min=0.1,
        help="How far back stops are looked for [SHOPFLOOR_DOWNTIME_WINDOW_HOURS]",
    ),
    database_url: str | None = DbOption,
) -> None:
    """Record machine-detected stops, raise due maintenance requests and seal closed days of
    signals, pass after pass until SIGTERM (idempotent: a stop is recorded once however
    often it is seen)."""
    from datetime import timedelta

    from shopfloor.workers.machine_watch import MachineWatch

    settings = settings_from(database_url)
    every = every or settings.machine_watch_seconds or 60.0
    window = timedelta(hours=window_hours or settings.downtime_window_hours)
    with runtime_for(settings) as runtime, plant_errors():
        watch = MachineWatch(runtime, every=timedelta(seconds=every), window=window)
        if once:
            report = watch.run_once()
            console.print(
                f"{report.stops_recorded} stop(s) recorded, "
                f"{report.maintenance_requested} maintenance request(s) raised, "
                f"{report.days_sealed} equipment-day(s) of signals sealed"
            )
            return
        console.print(f"watching the machines every {every:g} s (SIGTERM to stop)")
        watch.run(_stop_on_signals())


@ingest_app.command("mqtt")
def ingest_mqtt(
    host: str = HostOption,
    port: int = PortOption,
    client_id: str = typer.Option(
        "shopfloor-ingest", "--client-id", help="Keep it stable: the broker keeps its session"
    ),
    batch: int = typer.Option(1000, help="Messages per transaction at most"),
    topic: list[str] | None = typer.Option(
        None,
        "--topic",
        help="Subscribe to this topic filter only (repeat for several): this worker's "
        "partition, e.g. 'spBv1.0/plant1/+/line-a/#'. Default: spBv1.0/# and shopfloor/json/#",
    ),
    username: str | None = typer.Option(
        None,
        "--username",
        envvar="SHOPFLOOR_MQTT_USERNAME",
        help="MQTT user; the password comes from SHOPFLOOR_MQTT_PASSWORD only",
    ),
    database_url: str | None = DbOption,
) -> None:
    """Store Sparkplug B (spBv1.0/#) and JSON (shopfloor/json/#) messages; acknowledge each
    to the broker only after its transaction committed."""
    from shopfloor.workers.ingest_mqtt import (
        TOPICS,
        MqttIngestWorker,
        MqttSettings,
        TopicFilterError,
        check_topic_filter,
    )

    settings = settings_from(database_url)
    try:
        topics = tuple(check_topic_filter(t) for t in topic) if topic else TOPICS
    except TopicFilterError as exc:
        fail(exc.detail)
    password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
    user = username or settings.mqtt_username
    if password and not user:
        fail("SHOPFLOOR_MQTT_PASSWORD is set but no user: give --username")
    mqtt = MqttSettings(host=host, port=port, client_id=client_id, batch_messages=batch,
                        topics=topics, username=user, password=password)  # fmt: skip
    with runtime_for(settings) as runtime:
        worker = MqttIngestWorker(runtime, mqtt)
        console.print(
            f"ingesting {', '.join(topics)} from mqtt://{host}:{port}"
            + (f" as {user}" if user else "")
            + " (SIGTERM to stop)"
        )
        worker.run(_stop_on_signals())
        t = worker.totals
        console.print(
            f"stopped: {t.messages} messages, {t.stored} samples stored, {t.duplicates} "
            f"duplicates, {t.unmapped} unmapped, {t.invalid} invalid, "
            f"{t.rebirth_requests} rebirth requests"
        )


@ingest_app.command("opcua")
def ingest_opcua(
    endpoint: str = typer.Option(..., "--endpoint", help="opc.tcp://host:4840/path"),
    name: str = typer.Option(
        "opcua", "--name", help="The address of this server's tags in the tag map"
    ),
    interval: float = typer.Option(0.5, help="Publishing interval, seconds"),
    database_url: str | None = DbOption,
) -> None:
    """Subscribe to every node the tag map lists for this server (source opcua, address
    --name) and store the data changes."""
    from shopfloor.workers.ingest_opcua import OpcUaIngestWorker

    settings = settings_from(database_url)
    with runtime_for(settings) as runtime:
        worker = OpcUaIngestWorker(runtime, endpoint, name, publishing_interval=interval)
        if not worker.nodes():
            fail(f"the tag map lists no opcua nodes for the address '{name}'")
        console.print(f"subscribed to {len(worker.nodes())} node(s) at {endpoint}")
        worker.run(_stop_on_signals())
        console.print(f"stopped: {worker.stored} samples stored")


def simulate(
    machines: int = typer.Option(5, help="Machines in the plant (5 per line)"),
    seed: int = typer.Option(1, help="The same seed, the same plant and story"),
    values: int = typer.Option(2, help="Process values per machine"),
    tick: float = typer.Option(1.0, help="Seconds between updates"),
    speed: float = typer.Option(1.0, help="Simulated seconds per real second"),
    host: str = HostOption,
    port: int = PortOption,
    install: bool = typer.Option(
        True, "--install/--no-install", help="Create missing equipment and tags in the database"
    ),
    database_url: str | None = DbOption,
) -> None:
    """Publish a seeded plant (states, failures, micro-stops, changeovers, counts) as
    Sparkplug B over MQTT until SIGTERM."""
    from shopfloor.machines.setup import install_layout
    from shopfloor.machines.simulator import PlantLayout, PlantSimulator
    from shopfloor.workers.plant_simulation import MqttPlantPublisher

    layout = PlantLayout.generated(machines, process_values=values)
    if install:
        settings = settings_from(database_url)
        with runtime_for(settings) as runtime, plant_errors(), runtime.unit_of_work() as uow:
            added = install_layout(uow.session, runtime.context(SYSTEM), layout)
            uow.commit()
        console.print(f"equipment in place; {added} tag(s) added to the tag map")
    publisher = MqttPlantPublisher(PlantSimulator(layout, seed), host, port)
    console.print(f"simulating {machines} machine(s) → mqtt://{host}:{port} (SIGTERM to stop)")
    publisher.run(_stop_on_signals(), tick=tick, speed=speed)
    console.print(f"stopped after {publisher.published} messages")
