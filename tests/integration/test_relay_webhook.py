"""Webhooks to a real HTTP receiver on 127.0.0.1 that checks every signature and counts by
`webhook-id`, the way a receiver following Standard Webhooks deduplicates.

The crash test runs `shopfloor worker relay` as a process on PostgreSQL, kills it with
SIGKILL in the middle of a batch, starts it again, and checks that every event arrived and
that no event took effect twice.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from shopfloor.bootstrap import build_runtime
from shopfloor.integration.domain import WebhookVerificationError, verify_webhook
from shopfloor.integration.subscribers import parse_subscribers
from shopfloor.platform.settings import load_settings
from shopfloor.workers.background import Background
from shopfloor.workers.relay import RelayWorker
from tests.integration.test_relay import emit, rows
from tests.support.databases import DatabaseFactory

NEW_SECRET = "whsec_" + base64.b64encode(b"n" * 32).decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"o" * 32).decode()
SHOPFLOOR = Path(sys.executable).with_name("shopfloor")


class Receiver:
    """An ERP-like receiver: verifies, applies each webhook-id once, answers 200."""

    def __init__(self, secrets: list[str], delay: float = 0.0) -> None:
        self.secrets, self.delay = secrets, delay
        self.seen: Counter[str] = Counter()
        self.applied: Counter[str] = Counter()
        self.rejected = 0
        self.cut = 0
        self.bodies: dict[str, dict[str, object]] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver

            def do_POST(self) -> None:
                length = int(self.headers["content-length"])
                body = self.rfile.read(length)
                if len(body) < length:  # the sender died mid-request: nothing arrived
                    with receiver._lock:
                        receiver.cut += 1
                    return
                try:
                    message_id = verify_webhook(receiver.secrets, dict(self.headers), body)
                except WebhookVerificationError:
                    with receiver._lock:
                        receiver.rejected += 1
                    self.send_response(401)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                time.sleep(receiver.delay)
                receiver.accept(message_id, body)
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def accept(self, message_id: str, body: bytes) -> None:
        with self._lock:
            self.seen[message_id] += 1
            if message_id not in self.applied:  # the effect: once per id, whatever comes
                self.applied[message_id] += 1
                self.bodies[message_id] = json.loads(body)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/shopfloor"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def webhook(url: str, secrets: list[str], **extra: object) -> dict[str, object]:
    return {"name": "erp", "transport": "webhook", "url": url, "secrets": secrets, **extra}


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds} s waiting for {what}")
        time.sleep(0.05)


def test_signed_webhooks_reach_a_verifying_receiver_during_a_secret_rotation(runtime, ctx):
    ids = emit(runtime, ctx, 30)
    with Receiver([OLD_SECRET]) as old_side, Receiver([NEW_SECRET]) as new_side:
        config = [
            webhook(old_side.url, [NEW_SECRET, OLD_SECRET]),
            {**webhook(new_side.url, [NEW_SECRET, OLD_SECRET]), "name": "mom"},
        ]
        relay = Background(RelayWorker(runtime, parse_subscribers(config)), "outbox-relay")
        relay.worker.poll = 0.05
        relay.start()
        try:
            wait_for(lambda: len(old_side.seen) == len(new_side.seen) == 30, 20, "deliveries")
        finally:
            relay.stop()
    for receiver in (old_side, new_side):
        assert receiver.rejected == 0
        assert set(receiver.seen) == set(ids)
        assert receiver.bodies[ids[0]]["type"] == "production.reported"
    assert {r.status for r in rows(runtime, "erp")} == {"delivered"}


def test_a_receiver_refusing_the_signature_leads_to_backoff_not_delivery(runtime, ctx):
    emit(runtime, ctx, 2)
    with Receiver([NEW_SECRET]) as receiver:
        subscribers = parse_subscribers([webhook(receiver.url, [OLD_SECRET])])
        worker = RelayWorker(runtime, subscribers)
        try:
            report = worker.run_once()
        finally:
            worker.close()
    assert (report.delivered, report.failed, receiver.rejected) == (0, 2, 2)
    assert all(r.status == "pending" and "HTTP 401" in (r.last_error or "")
               for r in rows(runtime, "erp"))  # fmt: skip


@pytest.fixture
def pg_url(database_factories: dict[str, DatabaseFactory]) -> Iterator[str]:
    factory = database_factories["postgresql"]
    url = factory.new_url()
    yield url
    factory.drop(url)


def _start_relay(url: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(SHOPFLOOR), "worker", "relay", "--database-url", url],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def test_kill_9_mid_batch_then_restart_loses_nothing_and_applies_nothing_twice(
    pg_url, ctx, tmp_path
):
    runtime = build_runtime(load_settings(database_url=pg_url, site="plant-1"))
    try:
        ids = emit(runtime, ctx, 2000)
    finally:
        runtime.close()
    with Receiver([NEW_SECRET], delay=0.004) as receiver:
        config = [webhook(receiver.url, [NEW_SECRET], concurrency=8)]
        env = {
            **os.environ,
            "SHOPFLOOR_SUBSCRIBERS": json.dumps(config),
            "SHOPFLOOR_RELAY_BATCH": "200",
            "SHOPFLOOR_RELAY_LEASE_SECONDS": "5",
            "SHOPFLOOR_RELAY_POLL_SECONDS": "0.2",
            "SHOPFLOOR_LOG_LEVEL": "WARNING",
        }
        log = tmp_path / "relay.log"
        first = _start_relay(pg_url, env, log)
        wait_for(lambda: len(receiver.seen) >= 500, 60, "the first relay to get going")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        at_kill = len(receiver.seen)
        assert at_kill < len(ids), "the relay finished before it could be killed"
        second = _start_relay(pg_url, env, log)
        try:
            wait_for(lambda: len(receiver.seen) == len(ids), 90, "every event after restart")
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=30) == 0, log.read_text()
    assert set(receiver.seen) == set(ids)
    assert set(receiver.applied.values()) == {1}  # no effect twice
    assert receiver.rejected == 0
    resent = sum(receiver.seen.values()) - len(ids)  # the killed batch's in-flight part
    assert resent >= 0
    runtime = build_runtime(load_settings(database_url=pg_url))
    try:
        assert {r.status for r in rows(runtime, "erp")} == {"delivered"}
    finally:
        runtime.close()
