"""`python -m bench outbox`: outbox events delivered to NATS JetStream on PostgreSQL.

shopfloor's side is the relay as it runs in production (`RelayWorker.run`): claim a batch
(fan-out + `FOR UPDATE SKIP LOCKED`, commit), publish it to JetStream with `Nats-Msg-Id`,
wait for the acknowledgements, mark the rows delivered (commit) — overlapping the database
work of one batch with the publishing of the previous one.

The floor is bare nats-py: the same payloads (the events' JSON as the relay sends it), the
same subjects and headers, published the same way (`publish_async` for a batch of the same
size, then waiting for its acknowledgements) — no database at all. Each side publishes to a
stream of its own, created for the run and deleted after it.

The events are split into rounds that alternate between the sides (A B, B A, …), so a
slow moment of the machine falls on both alike; each round's events are inserted into the
outbox before it, and the tables analysed as autovacuum would (not timed). A warm-up round
on each side is not counted.

Last line: `outbox: ratio=<events/s relay ÷ events/s floor> events_per_s=<relay events/s>`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
from rich.table import Table
from sqlalchemy import insert, select

from bench.lib import pg
from bench.lib.cpu import CpuMeter, CpuWindow
from bench.lib.report import console, warn_if_busy

NAME = "outbox"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench outbox",
        description="Outbox → NATS JetStream through the relay on PostgreSQL, against bare "
        "nats-py publishes of the same payloads.",
    )
    parser.add_argument("--events", type=int, default=50_000, help="events measured per side")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds (default 4)")
    parser.add_argument("--batch", type=int, default=500, help="events per batch (default 500)")
    parser.add_argument("--warmup", type=int, default=2_000, help="warm-up events per side")
    parser.add_argument("--nats-url", default="nats://127.0.0.1:4222")
    parser.add_argument("--database-url-admin", default=pg.DEFAULT_ADMIN_URL)
    parser.add_argument("--database", default="sf_bench_outbox")
    args = parser.parse_args(argv)
    if min(args.events, args.rounds, args.batch) < 1 or args.warmup < 0:
        parser.error("events, rounds and batch must be ≥ 1, warm-up ≥ 0")
    return args


# --- events ---------------------------------------------------------------------------


def insert_events(runtime: Any, count: int, start: int) -> None:
    """`count` production reports in the outbox, as the execution service writes them."""
    from shopfloor.kernel.ids import new_event_id
    from shopfloor.platform.outbox import SCHEMA_VERSION, OutboxEvent

    now = datetime.now(UTC)
    rows = [
        {
            "event_id": new_event_id(),
            "type": "production.reported",
            "occurred_at": now - timedelta(seconds=5),
            "recorded_at": now,
            "site": "bench-site",
            "glue": {"erp_order_id": f"PO-{(start + n) // 20:06d}", "operation_no": 10,
                     "work_center": "WC-ASSY-1", "item": "WS-100"},
            "bom_version": "BOM-WS-100-3",
            "routing_version": "RT-WS-100-2",
            "payload": {"kind": "good", "quantity": "1.000000", "unit": "pcs",
                        "serial": f"SN-{start + n:08d}", "operator": "maria.k"},
            "schema_version": SCHEMA_VERSION,
            "status": "pending",
            "attempts": 0,
        }
        for n in range(count)
    ]  # fmt: skip
    with runtime.unit_of_work() as uow:
        for chunk in range(0, count, 5000):
            uow.session.execute(insert(OutboxEvent), rows[chunk : chunk + 5000])
        uow.commit()
    with runtime.engine.begin() as connection:  # statistics, as autovacuum keeps them live
        connection.exec_driver_sql("ANALYZE platform_outbox_event")
        connection.exec_driver_sql("ANALYZE int_delivery")


def floor_payloads(runtime: Any, prefix: str) -> list[tuple[str, str, bytes]]:
    """The pending events exactly as the relay publishes them: subject, id, body bytes."""
    from shopfloor.integration.domain import nats_subject
    from shopfloor.integration.statements import message_columns, row_body
    from shopfloor.platform.outbox import OutboxEvent

    with runtime.sessions() as session:
        columns = message_columns(session)
        rows = session.execute(select(*columns).where(OutboxEvent.status == "pending")).all()
    written = bool(rows) and "body" in rows[0]._fields
    return [(nats_subject(prefix, r.site, r.type), r.event_id, row_body(r, written)) for r in rows]


# --- the two sides --------------------------------------------------------------------


class Floor:
    """Bare nats-py JetStream publishing on a loop of its own, batch by batch."""

    def __init__(self, url: str, stream: str, prefix: str, batch: int) -> None:
        self.url, self.stream, self.prefix, self.batch = url, stream, prefix, batch
        self.loop = asyncio.new_event_loop()
        self.nc: Any = None

    def open(self) -> None:
        async def connect() -> None:
            self.nc = await nats.connect(self.url)
            js = self.nc.jetstream()
            await js.add_stream(name=self.stream, subjects=[f"{self.prefix}.>"],
                                duplicate_window=7200)  # fmt: skip

        self.loop.run_until_complete(connect())

    def publish(self, payloads: list[tuple[str, str, bytes]]) -> float:
        async def run() -> None:
            js = self.nc.jetstream()
            for start in range(0, len(payloads), self.batch):
                futures = [
                    await js.publish_async(subject, body, headers={"Nats-Msg-Id": msg_id})
                    for subject, msg_id, body in payloads[start : start + self.batch]
                ]
                await asyncio.gather(*futures)

        began = time.perf_counter()
        self.loop.run_until_complete(run())
        return time.perf_counter() - began

    def close(self) -> None:
        async def done() -> None:
            await self.nc.jetstream().delete_stream(self.stream)
            await self.nc.close()

        self.loop.run_until_complete(done())
        self.loop.run_until_complete(_cancel_leftovers())
        self.loop.close()


def relay_round(worker: Any, expected: int) -> float:
    """Run the relay until `expected` more events are delivered; the seconds it took."""
    stop = threading.Event()
    target = worker.totals.delivered + expected
    thread = threading.Thread(target=worker.run, args=(stop,), name="bench-relay")
    began = time.perf_counter()
    thread.start()
    while worker.totals.delivered < target:
        if worker.totals.failed:
            stop.set()
            thread.join()
            raise SystemExit(f"the relay failed deliveries (first: {worker.totals.errors})")
        time.sleep(0.01)
    elapsed = time.perf_counter() - began
    stop.set()
    thread.join()
    return elapsed


# --- the run --------------------------------------------------------------------------


def round_sizes(events: int, rounds: int) -> list[int]:
    base, extra = divmod(events, rounds)
    return [base + (1 if n < extra else 0) for n in range(rounds) if base or n < extra]


Log = list[tuple[str, int, float, CpuWindow]]


def run(url: str, args: argparse.Namespace) -> Log:
    from shopfloor.bootstrap import build_runtime
    from shopfloor.integration.subscribers import parse_subscribers
    from shopfloor.platform.migrate import upgrade
    from shopfloor.platform.settings import load_settings
    from shopfloor.workers.relay import RelayWorker

    tag = uuid.uuid4().hex[:8]
    settings = load_settings(database_url=url, secret_key=secrets.token_urlsafe(32),
                             relay_batch=args.batch, relay_poll_seconds=0.01)  # fmt: skip
    runtime = build_runtime(settings)
    upgrade(runtime.engine)
    subscriber = {"name": "bus", "transport": "nats", "url": args.nats_url,
                  "stream": f"BENCH_RELAY_{tag}", "subject_prefix": f"benchrelay{tag}"}  # fmt: skip
    worker = RelayWorker(runtime, parse_subscribers([subscriber]))
    floor = Floor(args.nats_url, f"BENCH_FLOOR_{tag}", f"benchfloor{tag}", args.batch)
    floor.open()
    log: Log = []
    inserted = 0
    try:
        rounds = [(0, args.warmup)] if args.warmup else []
        rounds += list(enumerate(round_sizes(args.events, args.rounds), start=1))
        for number, size in rounds:
            with console.status(f"round {number}: inserting {size:,} events"):
                insert_events(runtime, size, inserted)
                inserted += size
                payloads = floor_payloads(runtime, floor.prefix)
            order = ("floor", "relay") if number % 2 else ("relay", "floor")
            for side in order:
                with console.status(f"round {number}: [bold]{side}[/] publishing {size:,} events"):
                    meter = CpuMeter(os.getpgid(0))
                    seconds = floor.publish(payloads) if side == "floor" else relay_round(
                        worker, size)  # fmt: skip
                    cpu = meter.stop()
                console.print(f"  round {number} {side:>6}: {size / seconds:10,.0f} events/s"
                              + ("  (warm-up, not counted)" if number == 0 else ""))  # fmt: skip
                if number:
                    log.append((side, size, seconds, cpu))
    finally:
        worker.close()
        floor.close()
        asyncio.run(_delete_stream(args.nats_url, subscriber["stream"]))
        runtime.close()
    return log


def _rate(log: Log, side: str) -> float:
    events = sum(size for name, size, _, _ in log if name == side)
    seconds = sum(s for name, _, s, _ in log if name == side)
    return events / seconds if seconds else 0.0


def _cpu(log: Log, side: str) -> CpuWindow:
    return CpuWindow.merge([cpu for name, _, _, cpu in log if name == side])


async def _cancel_leftovers() -> None:
    """The client's background tasks, so closing the loop prints nothing after the figure."""
    current = asyncio.current_task()
    others = [task for task in asyncio.all_tasks() if task is not current]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)


async def _delete_stream(url: str, stream: str) -> None:
    nc = await nats.connect(url)
    try:
        await nc.jetstream().delete_stream(stream)
    finally:
        await nc.close()


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    warn_if_busy()
    console.print(
        f"[bold]outbox[/]: {args.events:,} events per side in {args.rounds} alternating rounds, "
        f"batches of {args.batch}, PostgreSQL → NATS JetStream at {args.nats_url}"
    )
    with pg.fresh_database(args.database_url_admin, args.database) as url:
        log = run(url, args)
    relay_eps, floor_eps = _rate(log, "relay"), _rate(log, "floor")
    table = Table(title="Outbox → JetStream", caption="events/s over the measured rounds; CPU "
                  "in cores (this process holds the relay or the floor; other: nats-server and "
                  "the rest of the machine)")  # fmt: skip
    for column in ("", "events/s", "CPU this process", "CPU postgres", "CPU other"):
        table.add_column(column, justify="right" if column else "left")
    for label, side, rate in (("shopfloor relay", "relay", relay_eps),
                              ("floor (bare nats-py)", "floor", floor_eps)):  # fmt: skip
        cores = _cpu(log, side).cores
        shares = [f"{cores.get(k, 0.0):.2f}" for k in ("server", "postgres", "other")]
        table.add_row(label, f"{rate:,.0f}", *shares)
    console.print(table)
    ratio = relay_eps / floor_eps if floor_eps else 0.0
    print(f"{NAME}: ratio={ratio:.3f} events_per_s={relay_eps:.1f}")
    return 0
