"""The outbox relay against a real database (SQLite and PostgreSQL), with an in-memory
transport: fan-out, claim, delivery, backoff, dead letters, retry, replay, leases after a
crash, aggregation per operation, and two relays side by side never sending twice."""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from typer.testing import CliRunner

from shopfloor.cli.main import app
from shopfloor.integration import admin, queries, service
from shopfloor.integration.subscribers import Subscriber
from shopfloor.integration.tables import IntDelivery
from shopfloor.kernel.clock import utc_now
from shopfloor.kernel.context import CommandContext
from shopfloor.platform import outbox
from shopfloor.workers.relay import RelayWorker
from tests.support.transports import FakeTransport

SECRET = "whsec_" + base64.b64encode(b"s" * 32).decode()
T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


class Clock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def subscriber(name: str, **overrides: object) -> Subscriber:
    values: dict[str, object] = {"secrets": (SECRET,), "backoff_base_seconds": 10.0}
    values.update(overrides)
    return Subscriber(name, "webhook", "http://127.0.0.1:9/hook", **values)  # type: ignore[arg-type]


def emit(runtime, ctx: CommandContext, count: int, event_type: str = "production.reported",
         **glue: object) -> list[str]:  # fmt: skip
    with runtime.unit_of_work() as uow:
        event_ids = [
            outbox.emit(
                uow.session, ctx, event_type, {"n": n}, glue={"erp_order_id": "PO-1", **glue}
            )
            for n in range(count)
        ]
        uow.commit()
    return event_ids


def relay(runtime, subs: Sequence[Subscriber], clock=None, **transports: FakeTransport):
    fakes = transports or {s.name: FakeTransport(s) for s in subs}
    worker = RelayWorker(runtime, subs, clock=clock or Clock(), transports=dict(fakes))
    return worker, fakes


def rows(runtime, name: str) -> list[IntDelivery]:
    with runtime.sessions() as session:
        query = select(IntDelivery).where(IntDelivery.subscriber == name)
        return list(session.scalars(query.order_by(IntDelivery.position)))


def test_every_event_reaches_every_subscriber_once_with_its_id(runtime, ctx):
    ids = emit(runtime, ctx, 5)
    worker, fakes = relay(runtime, [subscriber("erp"), subscriber("mom")])
    try:
        report = worker.run_once()
        assert (report.claimed, report.delivered, report.failed) == (10, 10, 0)
        assert worker.run_once().claimed == 0
    finally:
        worker.close()
    with runtime.sessions() as session:
        [event] = outbox.events_for(session, erp_order_id="PO-1")[:1]
        contract = event.as_message()
    for fake in fakes.values():
        assert fake.ids() == ids
        body = json.loads(fake.received[0].body)
        assert body["id"] == ids[0] and body["type"] == "production.reported"
        assert body["site"] == "plant-1" and body["erp_order_id"] == "PO-1"
        # the data contract, whichever side wrote the JSON (PostgreSQL writes it itself)
        for key in ("occurred_at", "recorded_at"):
            assert datetime.fromisoformat(body.pop(key)) == datetime.fromisoformat(contract[key])
        assert body == {k: v for k, v in contract.items() if not k.endswith("ed_at")}
    assert {r.status for r in rows(runtime, "erp")} == {"delivered"}


def test_failures_back_off_then_dead_letter_then_retry_delivers(runtime, ctx):
    [event_id] = emit(runtime, ctx, 1)
    clock = Clock()
    sub = subscriber("erp", max_attempts=3)
    worker, fakes = relay(runtime, [sub], clock)
    fake = fakes["erp"]
    fake.failing = "HTTP 503: down for maintenance"
    try:
        assert worker.run_once().failed == 1
        [row] = rows(runtime, "erp")
        assert (row.status, row.attempts) == ("pending", 1)
        assert timedelta(seconds=10) <= row.next_attempt_at - T0 <= timedelta(seconds=12.5)
        assert worker.run_once().claimed == 0  # not due yet
        clock.advance(seconds=13)
        assert worker.run_once().failed == 1
        clock.advance(seconds=30)
        assert worker.run_once().failed == 1
        [row] = rows(runtime, "erp")
        assert (row.status, row.attempts, row.last_error) == ("dead", 3, fake.failing)
        clock.advance(hours=5)
        assert worker.run_once().claimed == 0  # dead letters wait for a person

        with runtime.sessions() as session:
            [letter] = queries.dead_letters(session)
            assert (letter.event_id, letter.last_error) == (event_id, fake.failing)
            [state] = queries.status(session, ["erp"])
            assert state.count("dead") == 1
        with runtime.unit_of_work() as uow:
            assert admin.retry(uow.session, now=clock.now) == 1
            uow.commit()
        fake.failing = None
        assert worker.run_once().delivered == 1
    finally:
        worker.close()
    assert fake.ids() == [event_id]
    [row] = rows(runtime, "erp")
    assert (row.status, row.attempts, row.last_error) == ("delivered", 1, None)


def test_one_subscriber_down_does_not_hold_back_another(runtime, ctx):
    emit(runtime, ctx, 3)
    worker, fakes = relay(runtime, [subscriber("erp"), subscriber("mom")])
    fakes["erp"].failing = "connection refused"
    try:
        worker.run_once()
    finally:
        worker.close()
    assert len(fakes["mom"].received) == 3
    assert {r.status for r in rows(runtime, "mom")} == {"delivered"}
    assert {r.status for r in rows(runtime, "erp")} == {"pending"}


def test_a_crashed_relay_s_claims_are_sent_again_after_the_lease(runtime, ctx):
    ids = emit(runtime, ctx, 4)
    clock = Clock()
    sub = subscriber("erp")
    with runtime.unit_of_work() as uow:  # claimed, then the relay died before settling
        lease = timedelta(seconds=runtime.settings.relay_lease_seconds)
        claimed = service.claim(uow.session, [sub], now=clock.now, limit=10, token="dead-relay",
                                lease=lease)  # fmt: skip
        uow.commit()
    assert len(claimed) == 4
    worker, fakes = relay(runtime, [sub], clock)
    try:
        assert worker.run_once().claimed == 0
        clock.advance(seconds=runtime.settings.relay_lease_seconds)
        assert worker.run_once().delivered == 4
    finally:
        worker.close()
    assert fakes["erp"].ids() == ids
    assert {(r.status, r.attempts) for r in rows(runtime, "erp")} == {("delivered", 2)}


def test_replay_sends_delivered_events_again_with_the_same_ids(runtime, ctx):
    old = emit(runtime, ctx, 2)
    later = CommandContext(actor=ctx.actor, now=ctx.now + timedelta(hours=2), site=ctx.site)
    new = emit(runtime, later, 3)
    clock = Clock(T0 + timedelta(hours=3))
    worker, fakes = relay(runtime, [subscriber("erp")], clock)
    try:
        assert worker.run_once().delivered == 5
        with runtime.unit_of_work() as uow:
            count = admin.replay(uow.session, since=T0 + timedelta(hours=1), now=clock.now)
            uow.commit()
        assert count == 3
        assert worker.run_once().delivered == 3
    finally:
        worker.close()
    assert fakes["erp"].ids() == old + new + new


def test_operation_aggregation_sends_one_message_per_completed_operation(runtime, ctx):
    started = emit(runtime, ctx, 1, "operation.started", operation_no=10)
    reports = emit(runtime, ctx, 2, "production.reported", operation_no=10)
    lot = emit(runtime, ctx, 1, "lot.created")  # no operation: goes on its own
    other = emit(runtime, ctx, 1, "production.reported", operation_no=20)
    sub = subscriber("erp", aggregation="operation")
    worker, fakes = relay(runtime, [sub])
    try:
        worker.run_once()
        assert fakes["erp"].ids() == lot
        completed = emit(runtime, ctx, 1, "operation.completed", operation_no=10)
        worker.run_once()
        worker.run_once()
    finally:
        worker.close()
    [_single, aggregate] = fakes["erp"].received
    body = json.loads(aggregate.body)
    assert body["type"] == "operation.summary" and body["group"] == "operation|PO-1|10"
    assert [e["id"] for e in body["events"]] == started + reports + completed
    assert body["counts"] == {"operation.completed": 1, "operation.started": 1,
                              "production.reported": 2}  # fmt: skip
    from shopfloor.integration.domain import aggregate_id

    assert aggregate.message_id == aggregate_id("operation|PO-1|10", started + reports + completed)
    statuses = {r.position: r.status for r in rows(runtime, "erp")}
    assert sorted(statuses.values()).count("delivered") == 5
    assert list(statuses.values()).count("held") == 1  # operation 20 is still running
    assert other


def test_two_relays_side_by_side_never_send_one_event_twice(runtime, ctx):
    ids = emit(runtime, ctx, 1500)
    sub = subscriber("erp")
    shared = FakeTransport(sub)
    workers = [relay(runtime, [sub], utc_now,
                     erp=shared)[0] for _ in range(2)]  # fmt: skip
    for worker in workers:
        worker.batch = 100
        worker.poll = 0.05
    stop = threading.Event()
    threads = [threading.Thread(target=w.run, args=(stop,)) for w in workers]
    for thread in threads:
        thread.start()
    deadline = datetime.now(UTC) + timedelta(seconds=60)
    while len(shared.received) < len(ids) and datetime.now(UTC) < deadline:
        stop.wait(0.1)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    for worker in workers:
        worker.close()
    counts = Counter(shared.ids())
    assert set(counts) == set(ids)
    assert max(counts.values()) == 1
    if runtime.engine.dialect.name == "postgresql":
        # SKIP LOCKED lets both claim side by side; SQLite's single writer may let one relay
        # take every batch, which is correct too.
        assert all(w.totals.delivered > 0 for w in workers), [w.totals for w in workers]


def test_outbox_commands_show_and_act_on_the_delivery_state(runtime, ctx, db_url):
    emit(runtime, ctx, 2)
    sub = subscriber("erp", max_attempts=1)
    worker, fakes = relay(runtime, [sub])
    fakes["erp"].failing = "HTTP 500: boom"
    try:
        worker.run_once()
    finally:
        worker.close()
    config = json.dumps([{"name": "erp", "transport": "webhook", "url": sub.url,
                          "secrets": [SECRET]}])  # fmt: skip
    env = {"COLUMNS": "200", "SHOPFLOOR_SUBSCRIBERS": config}

    def cli(*args: str) -> str:
        result = CliRunner().invoke(app, [*args, "--database-url", db_url], env=env)
        assert result.exit_code == 0, result.output
        return result.output

    assert "erp" in cli("outbox", "status") and "not yet picked up by a relay: 0" in cli(
        "outbox", "status"
    )
    dead = cli("outbox", "dead")
    assert "Dead letters (2)" in dead and dead.count("boom") == 2
    assert "2 dead letter(s)" in cli("outbox", "retry", "--subscriber", "erp")
    assert {r.status for r in rows(runtime, "erp")} == {"pending"}
    assert "0 message(s)" in cli("outbox", "replay", "--since", "2026-03-01T00:00Z")


def test_a_pull_only_erp_is_sent_nothing_while_the_others_get_everything(runtime, ctx):
    emit(runtime, ctx, 3)
    planner = Subscriber("tryton", "erp", adapter="tryton", pull_seconds=60.0, post_facts=False)
    worker, fakes = relay(
        runtime, [planner, subscriber("mom")], mom=FakeTransport(subscriber("mom"))
    )
    try:
        report = worker.run_once()
    finally:
        worker.close()
    assert (report.claimed, report.delivered) == (3, 3)
    assert len(fakes["mom"].ids()) == 3
    assert rows(runtime, "tryton") == [] and len(rows(runtime, "mom")) == 3


def test_an_event_without_glue_keys_leaves_as_the_data_contract_says(runtime, ctx):
    with runtime.unit_of_work() as uow:
        outbox.emit(uow.session, ctx, "maintenance.requested", {"rule": "r1"}, glue={})
        uow.commit()
    worker, fakes = relay(runtime, [subscriber("mom")])
    try:
        assert worker.run_once().delivered == 1
    finally:
        worker.close()
    with runtime.sessions() as session:
        (event,) = session.scalars(select(outbox.OutboxEvent)).all()
        contract = event.as_message()
    body = json.loads(fakes["mom"].received[0].body)
    for key in ("occurred_at", "recorded_at"):
        assert datetime.fromisoformat(body.pop(key)) == datetime.fromisoformat(contract.pop(key))
    assert body == contract
