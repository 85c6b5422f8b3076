"""The relay publishing to a real NATS JetStream server at 127.0.0.1:4222.

The server is started when absent (and the tests fail loudly when it still is not there).
One test restarts the server mid-stream, which would disturb any other test using it at
that moment: every test of this module is in one xdist group, run with `--dist loadgroup`.
Each test uses its own stream and subject prefix.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import update

from shopfloor.bootstrap import build_runtime
from shopfloor.integration.dispatch import UNKNOWABLE
from shopfloor.integration.subscribers import parse_subscribers
from shopfloor.integration.tables import IntDelivery
from shopfloor.kernel.clock import utc_now
from shopfloor.platform.settings import load_settings
from shopfloor.workers.relay import RelayWorker
from tests.integration.test_relay import emit, rows
from tests.support.databases import DatabaseFactory
from tests.support.services import ensure_running, listening, one_at_a_time

pytestmark = [pytest.mark.nats]


@pytest.fixture(autouse=True)
def _nats_to_itself() -> Iterator[None]:
    """One test of this module at a time, on any worker: one restarts the NATS server."""
    with one_at_a_time("nats-server"):
        yield


NATS_URL = "nats://127.0.0.1:4222"
DAEMON = ["start-stop-daemon", "--exec", "/usr/sbin/nats-server"]
START = [*DAEMON, "--start", "--oknodo", "--background", "--", "-a", "127.0.0.1", "-p", "4222",
         "-js", "-sd", "/var/lib/nats-server", "-l", "/var/log/nats-server.log"]  # fmt: skip


def _listening() -> bool:
    return listening(4222)


def start_nats() -> None:
    """Start the server when it is not listening; fail loudly when it does not come up."""
    ensure_running("NATS", 4222, START)


def stop_nats() -> None:
    subprocess.run([*DAEMON, "--stop", "--retry", "10"], check=False, capture_output=True)
    for _ in range(50):
        if not _listening():
            return
        time.sleep(0.1)


@pytest.fixture
def stream() -> Iterator[tuple[str, str]]:
    """A fresh stream name and subject prefix; the stream is deleted afterwards."""
    start_nats()
    tag = uuid.uuid4().hex[:10]
    name, prefix = f"SFT_{tag}", f"sft{tag}"
    yield name, prefix
    start_nats()
    asyncio.run(_delete_stream(name))


async def _delete_stream(name: str) -> None:
    nc = await nats.connect(NATS_URL)
    with contextlib.suppress(Exception):  # never created
        await nc.jetstream().delete_stream(name)
    await nc.close()


async def _stream_ids(name: str, prefix: str) -> list[str]:
    """Every stored message's Nats-Msg-Id, in stream order (a consumer's view)."""
    nc = await nats.connect(NATS_URL)
    js = nc.jetstream()
    config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE)
    sub = await js.pull_subscribe(f"{prefix}.>", stream=name, config=config)
    ids: list[str] = []
    try:
        while True:
            try:
                batch = await sub.fetch(500, timeout=2)
            except TimeoutError:
                break
            ids += [m.headers["Nats-Msg-Id"] for m in batch if m.headers]
            if batch[-1].metadata.num_pending == 0:
                break
    finally:
        await nc.close()
    return ids


def stream_ids(name: str, prefix: str) -> list[str]:
    return asyncio.run(_stream_ids(name, prefix))


def nats_subscriber(name: str, prefix: str, **extra: object) -> dict[str, object]:
    return {"name": "bus", "transport": "nats", "url": NATS_URL, "stream": name,
            "subject_prefix": prefix, "timeout_seconds": 2, **extra}  # fmt: skip


def test_events_land_on_the_stream_once_under_their_subjects(runtime, ctx, stream):
    name, prefix = stream
    ids = emit(runtime, ctx, 40)
    worker = RelayWorker(runtime, parse_subscribers([nats_subscriber(name, prefix)]))
    try:
        assert worker.run_once().delivered == 40
        with runtime.unit_of_work() as uow:  # a lost acknowledgement: the same ids again
            uow.session.execute(update(IntDelivery).values(status="pending",
                                                           next_attempt_at=utc_now()))  # fmt: skip
            uow.commit()
        assert worker.run_once().delivered == 40  # JetStream: "duplicate", stored once
    finally:
        worker.close()
    assert stream_ids(name, prefix) == ids

    async def subject_of_first() -> str:
        nc = await nats.connect(NATS_URL)
        message = await nc.jetstream().get_msg(name, 1)
        await nc.close()
        return str(message.subject)

    assert asyncio.run(subject_of_first()) == f"{prefix}.plant-1.production.reported"


def _age_first_attempts(runtime, seconds: float) -> None:
    """As if the first attempt was made `seconds` ago and the outcome was never recorded."""
    with runtime.unit_of_work() as uow:
        uow.session.execute(
            update(IntDelivery).values(status="pending", next_attempt_at=utc_now(), attempts=1,
                                       first_attempt_at=utc_now() - timedelta(seconds=seconds))
        )  # fmt: skip
        uow.commit()


def test_after_the_duplicate_window_a_stored_message_is_found_not_published_again(
    runtime, ctx, stream
):
    name, prefix = stream
    ids = emit(runtime, ctx, 3)
    config = nats_subscriber(name, prefix, duplicate_window_seconds=2, window_margin_seconds=0.5)
    worker = RelayWorker(runtime, parse_subscribers([config]))
    try:
        assert worker.run_once().delivered == 3
        time.sleep(2.5)  # JetStream has forgotten these ids by now
        _age_first_attempts(runtime, 3)
        assert worker.run_once().delivered == 3
    finally:
        worker.close()
    assert stream_ids(name, prefix) == ids  # found on the stream: not published twice
    assert {r.status for r in rows(runtime, "bus")} == {"delivered"}


def test_when_the_stream_dropped_that_time_the_message_is_dead_lettered(runtime, ctx, stream):
    name, prefix = stream
    emit(runtime, ctx, 2)
    config = nats_subscriber(name, prefix, duplicate_window_seconds=2, window_margin_seconds=0.5)
    worker = RelayWorker(runtime, parse_subscribers([config]))
    try:
        worker.run_once()

        async def purge() -> None:
            nc = await nats.connect(NATS_URL)
            await nc.jetstream().purge_stream(name)
            await nc.close()

        asyncio.run(purge())
        _age_first_attempts(runtime, 3)
        assert worker.run_once().failed == 2
    finally:
        worker.close()
    assert {(r.status, r.last_error) for r in rows(runtime, "bus")} == {("dead", UNKNOWABLE)}


@pytest.fixture
def pg_url(database_factories: dict[str, DatabaseFactory]) -> Iterator[str]:
    factory = database_factories["postgresql"]
    url = factory.new_url()
    yield url
    factory.drop(url)


def test_nats_restart_mid_stream_loses_nothing_and_duplicates_nothing(pg_url, ctx, stream):
    name, prefix = stream
    settings = load_settings(database_url=pg_url, site="plant-1", relay_batch=200,
                             relay_poll_seconds=0.1, relay_lease_seconds=10)  # fmt: skip
    runtime = build_runtime(settings)
    ids = emit(runtime, ctx, 3000)
    config = nats_subscriber(name, prefix, backoff_base_seconds=0.5, backoff_cap_seconds=2,
                             max_attempts=1000)  # fmt: skip
    worker = RelayWorker(runtime, parse_subscribers([config]))
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while worker.totals.delivered < 600 and time.monotonic() < deadline:
            time.sleep(0.02)
        delivered_before_restart = worker.totals.delivered
        stop_nats()
        assert not _listening(), "the NATS server did not stop"
        time.sleep(1)
        start_nats()
        deadline = time.monotonic() + 90
        while worker.totals.delivered < len(ids) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(timeout=30)
        worker.close()
    try:
        assert {r.status for r in rows(runtime, "bus")} == {"delivered"}
    finally:
        runtime.close()
    assert 0 < delivered_before_restart < len(ids), "the restart did not fall mid-stream"
    stored = stream_ids(name, prefix)
    assert set(stored) == set(ids)  # nothing lost
    assert len(stored) == len(set(stored))  # JetStream stored each id once
