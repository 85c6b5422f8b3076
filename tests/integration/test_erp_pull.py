"""Pulling ERP with the `rest` adapter from a real HTTP feed on 127.0.0.1, on SQLite and
PostgreSQL: conditional GETs (ETag / Last-Modified, 304), the cursor kept with the
documents, backoff on failures, `shopfloor worker erp-sync --once`, and facts posted back
as signed webhooks."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from shopfloor.cli.main import app
from shopfloor.integration.domain import verify_webhook
from shopfloor.integration.erp.ports import ErpAdapterError
from shopfloor.integration.erp.rest import RestAdapter
from shopfloor.integration.inbox import cursors
from shopfloor.integration.messages import Outgoing
from shopfloor.integration.subscribers import Subscriber, parse_subscribers
from shopfloor.orders.tables import ProductionOrder
from shopfloor.workers.background import Background
from shopfloor.workers.erp_sync import ErpSyncWorker
from tests.integration.test_erp_inbox import bom_doc, item_doc, order_doc, plant_in

SECRET = "whsec_" + base64.b64encode(b"e" * 32).decode()


class Feed:
    """ERP's feed: a JSON list of documents with an ETag and a Last-Modified; answers 304
    to a request that names the current ETag. Records each GET's conditional headers."""

    def __init__(self) -> None:
        self.documents: list[dict[str, Any]] = []
        self.status = 200
        self.wrapped = False
        self.modified = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)
        self.requests: list[dict[str, str | None]] = []
        self.posted: list[str] = []
        feed = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                feed.requests.append(
                    {
                        "if-none-match": self.headers.get("if-none-match"),
                        "if-modified-since": self.headers.get("if-modified-since"),
                    }
                )
                if feed.status != 200:
                    return self._send(feed.status, b"ERP is down for maintenance")
                body = json.dumps(
                    {"documents": feed.documents} if feed.wrapped else feed.documents
                ).encode()
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                if self.headers.get("if-none-match") == etag:
                    return self._send(304, b"", etag)
                return self._send(200, body, etag)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                feed.posted.append(verify_webhook([SECRET], dict(self.headers), body))
                self._send(204, b"")

            def _send(self, status: int, body: bytes, etag: str | None = None) -> None:
                self.send_response(status)
                if etag:
                    self.send_header("etag", etag)
                    self.send_header("last-modified", format_datetime(feed.modified, usegmt=True))
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def feed() -> Iterator[Feed]:
    found = Feed()
    yield found
    found.close()


def erp_subscriber(feed: Feed, **options: Any) -> Subscriber:
    (subscriber,) = parse_subscribers(
        [
            {
                "name": "erp",
                "transport": "erp",
                "adapter": "rest",
                "pull_seconds": 30,
                "options": {"pull_url": f"{feed.url}/feed", **options},
            }
        ]
    )
    return subscriber


def orders(runtime: Any) -> list[tuple[str, int, Any]]:
    with runtime.sessions() as session:
        return [
            (o.erp_order_id, o.erp_version, o.quantity)
            for o in session.scalars(select(ProductionOrder).order_by(ProductionOrder.id))
        ]


def test_pull_imports_then_304_then_a_changed_feed_is_pulled_again(runtime, feed):
    plant_in(runtime)
    feed.documents = [item_doc("SPRING"), order_doc()]
    worker = ErpSyncWorker(runtime, [erp_subscriber(feed)])
    try:
        (first,) = worker.run_once()
        assert first.outcomes == {"applied": 2} and first.error is None
        assert feed.requests[-1] == {"if-none-match": None, "if-modified-since": None}
        assert orders(runtime) == [("PO-4711", 1, 20)]

        (second,) = worker.run_once()
        assert second.outcomes == {}
        etag = feed.requests[-1]["if-none-match"]
        assert etag and etag.startswith('"')
        assert feed.requests[-1]["if-modified-since"] == "Mon, 02 Mar 2026 05:00:00 GMT"

        feed.documents.append(order_doc("PO-4711-v2", erp_version=2, quantity=25))
        feed.wrapped = True  # {"documents": [...]} is read the same way
        (third,) = worker.run_once()
        assert third.outcomes == {"duplicate": 2, "applied": 1}
        assert feed.requests[-1]["if-none-match"] == etag  # sent, but the feed had changed
        assert orders(runtime) == [("PO-4711", 2, 25)]
        with runtime.sessions() as session:
            row = cursors.cursor_of(session, "erp")
            assert row is not None and row.failures == 0 and row.documents == 5
            assert row.cursor and json.loads(row.cursor)["etag"] != etag
    finally:
        worker.close()


def test_a_failing_feed_backs_off_and_takes_nothing(runtime, feed):
    plant_in(runtime)
    worker = ErpSyncWorker(runtime, [erp_subscriber(feed)])
    try:
        feed.status = 503
        (down,) = worker.run_once()
        assert down.error and "HTTP 503" in down.error and down.next_try is not None
        feed.status = 200
        feed.documents = [order_doc(), {"kind": "item", "fields": {"code": "X"}}]
        (bad,) = worker.run_once()
        assert bad.error and "no message_id" in bad.error
        assert orders(runtime) == []  # never half a feed
        assert worker.run_once(due_only=True) == []  # backing off
        with runtime.sessions() as session:
            row = cursors.cursor_of(session, "erp")
            assert row is not None and row.failures == 2 and row.cursor is None
            assert row.next_pull_at is not None and row.last_error is not None
    finally:
        worker.close()


def test_erp_sync_once_through_the_cli_then_inbox_status(runtime, feed, db_url):
    plant_in(runtime)
    feed.documents = [order_doc(bom_version="B2"), item_doc("SPRING", uom="nope")]
    config = json.dumps(
        [{"name": "erp", "transport": "erp", "adapter": "rest", "pull_seconds": 5,
          "options": {"pull_url": f"{feed.url}/feed"}}]
    )  # fmt: skip
    env = {"COLUMNS": "200", "SHOPFLOOR_SUBSCRIBERS": config}

    def cli(*args: str, code: int = 0) -> str:
        result = CliRunner().invoke(app, [*args, "--database-url", db_url], env=env)
        assert result.exit_code == code, result.output
        return result.output

    assert "erp: waiting 2" in cli("worker", "erp-sync", "--once")
    assert "applied 0, waiting 2" in cli("inbox", "status")
    feed.documents.append(bom_doc("B2"))
    # the BOM is new, the order a repeat: filed before, waiting, now applied with the BOM
    assert "erp: applied 1, duplicate 2" in cli("worker", "erp-sync", "--once")
    assert orders(runtime) == [("PO-4711", 1, 20)]
    status = cli("inbox", "status")
    assert "applied 2, waiting 1 (oldest since" in status and "rejected 0" in status
    assert "Pulls of ERP" in status
    waiting = cli("inbox", "list", "--status", "waiting")
    assert "SPRING" in waiting and "nope" in waiting and "PO-4711" not in waiting
    assert "purged 0" in cli("inbox", "purge")


def test_facts_are_posted_as_signed_webhooks_and_postings_are_optional(feed):
    adapter = RestAdapter(
        {"pull_url": f"{feed.url}/feed", "post_url": f"{feed.url}/facts", "secrets": [SECRET]}
    )
    message = Outgoing("erp", "evt-1", "production.reported", "plant-1", b"{}", 1, 0, None)

    async def go() -> Any:
        try:
            return await adapter.post([message]), await adapter.postings(["PO-4711"])
        finally:
            await adapter.close()

    outcomes, postings = asyncio.run(go())
    assert [o.ok for o in outcomes] == [True] and feed.posted == ["evt-1"]
    assert postings == []
    with pytest.raises(ErpAdapterError, match="secret"):
        RestAdapter({"post_url": f"{feed.url}/facts"})


def test_the_server_s_background_sync_pulls_until_stopped(runtime, feed):
    plant_in(runtime)
    feed.documents = [order_doc()]
    sync = Background(ErpSyncWorker(runtime, [erp_subscriber(feed)]), "erp-sync")
    sync.start()
    try:
        deadline = time.monotonic() + 20
        while not orders(runtime) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        sync.stop()
    assert orders(runtime) == [("PO-4711", 1, 20)] and len(feed.requests) == 1
