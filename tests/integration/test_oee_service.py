"""OEE recomputed from stored signals, on SQLite and PostgreSQL.

Vorne's worked example (oee.com, "OEE Calculation"): an 8-hour shift with two 15-minute
breaks and a 30-minute meal, 47 minutes down, ideal cycle time 1.0 s, 19,271 pieces of
which 423 rejected -> availability 88.81 %, performance 86.11 %, quality 97.80 %, OEE
74.79 %. Here it is stored as machine signals and recomputed through the whole read side.
"""

from __future__ import annotations

from datetime import time, timedelta
from decimal import Decimal

import pytest

from shopfloor.kernel.errors import RuleViolation
from shopfloor.machines import maintenance
from shopfloor.machines import oee_queries as queries
from shopfloor.machines.domain import as_percent
from tests.support.oee import (
    DAY,
    MACHINE,
    VORNE_BREAKS,
    at,
    context,
    counter_ramp,
    machine_plant,
    store,
    vorne_samples,
)


def one(rows):
    assert len(rows) == 1, rows
    return rows[0]


def percent(row):
    return tuple(
        as_percent(getattr(row, n)) for n in ("availability", "performance", "quality", "oee")
    )


VORNE = (Decimal("88.81"), Decimal("86.11"), Decimal("97.80"), Decimal("74.79"))


def test_vorne_example_recomputed_from_stored_signals(session):
    plant = machine_plant(session)
    store(session, plant.machine_id, vorne_samples())
    row = one(queries.oee(session, start=at(6), end=at(14), group_by=["equipment", "shift"]))
    assert row.group == {"equipment": MACHINE, "production_day": DAY.date(), "shift": "A"}
    assert percent(row) == VORNE
    assert row.minutes["planned_production"] == 420 and row.minutes["run"] == 373
    assert (row.total_count, row.good_count, row.reject_count) == (19_271, 18_848, 423)
    assert row.losses["breakdowns"] == 47
    assert row.oee == Decimal(18_848) / Decimal(420 * 60)
    by_order = one(queries.oee(session, start=at(6), end=at(14), group_by=["order", "product"]))
    assert by_order.group == {"order": "PO-4711", "product": "WS-100"}
    assert percent(by_order) == VORNE


def test_a_wider_window_adds_unscheduled_time_for_teep_only(session):
    plant = machine_plant(session)
    store(session, plant.machine_id, [*vorne_samples(), (at(14, 0, 30), "heartbeat", None)])
    row = one(queries.oee(session, start=at(0), end=at(24), group_by=["equipment"]))
    assert percent(row) == VORNE
    assert row.minutes["calendar"] == 24 * 60
    assert row.minutes["offline"] == 0  # outside the shift: unscheduled, not offline
    assert row.teep == row.oee * Decimal(420) / Decimal(1440)


def test_corrected_ideal_cycle_time_changes_history(session):
    plant = machine_plant(session)
    store(session, plant.machine_id, vorne_samples())
    before = one(queries.oee(session, start=at(6), end=at(14), group_by=["equipment"]))
    plant.operation(session).ideal_cycle_seconds = Decimal("0.9")
    session.flush()
    after = one(queries.oee(session, start=at(6), end=at(14), group_by=["equipment"]))
    assert after.availability == before.availability and after.quality == before.quality
    assert after.performance == before.performance * Decimal("0.9")
    assert after.oee == Decimal(18_848) * Decimal("0.9") / Decimal(420 * 60)


def test_counter_reset_mid_shift_keeps_the_counts(session):
    plant = machine_plant(session)
    samples = [s for s in vorne_samples() if s[1] != "total"]
    samples += counter_ramp(at(6), at(10, 40), 0, 9_000)
    samples += counter_ramp(at(10, 40), at(14), 0, 10_271)  # the PLC restarted at 10:40
    store(session, plant.machine_id, samples)
    row = one(queries.oee(session, start=at(6), end=at(14), group_by=["equipment"]))
    assert row.total_count == 19_271
    assert percent(row) == VORNE


def test_a_data_gap_is_offline_not_downtime(session):
    plant = machine_plant(session)
    gap = (at(9), at(9, 30))
    samples = [s for s in vorne_samples() if not gap[0] <= s[0] < gap[1]]
    store(session, plant.machine_id, samples)
    row = one(queries.oee(session, start=at(6), end=at(14), group_by=["equipment"]))
    assert row.minutes["offline"] == 31  # from the last sample at 08:59
    assert row.minutes["down"] == 47
    assert row.minutes["planned_production"] == 420 - 31
    assert row.availability == Decimal(373 - 31) / Decimal(420 - 31)


def test_a_stop_across_a_shift_change_and_a_break(session):
    plant = machine_plant(
        session, shifts=[("A", time(6), 480, ()), ("B", time(14), 480, (("break", 30, 30),))]
    )
    samples = [
        (at(6), "state", "running"),
        *context(at(6), "PO-4711", "10", "WS-100"),
        (at(13, 40), "state", "down:jam"),  # 20 min in A, 80 in B of which 30 are a break
        (at(15, 20), "state", "running"),
        *counter_ramp(at(6), at(22), 0, 30_000),
    ]
    store(session, plant.machine_id, samples)
    rows = queries.oee(session, start=at(6), end=at(22), group_by=["shift"])
    by_shift = {r.group["shift"]: r for r in rows}
    assert by_shift["A"].minutes["down"] == 20
    assert by_shift["B"].minutes["down"] == 50 and by_shift["B"].minutes["planned_stop"] == 30
    assert by_shift["B"].availability == Decimal(400) / Decimal(450)
    assert sum(r.total_count for r in rows) == 30_000


def test_product_change_mid_shift_uses_each_operations_ideal_cycle_time(session):
    plant = machine_plant(session)
    second = plant.operation(session, 20)  # WC-TEST in the routing; runs here for this test
    second.work_center_id, second.ideal_cycle_seconds = plant.machine_id, Decimal("2.0")
    samples = [
        (at(6), "state", "running"),
        *context(at(6), "PO-4711", "10", "WS-100"),
        *context(at(11), "PO-4711", "20", "WS-100"),
        *counter_ramp(at(6), at(11), 0, 10_000),
        *counter_ramp(at(11), at(14), 10_000, 14_000),
        *counter_ramp(at(6), at(11), 0, 1_000, "reject"),
        *counter_ramp(at(11), at(14), 1_000, 1_500, "reject"),
    ]
    store(session, plant.machine_id, samples)
    row = one(queries.oee(session, start=at(6), end=at(14), group_by=["equipment"]))
    assert row.oee == Decimal(9_000 * 1 + 3_500 * 2) / Decimal(420 * 60)
    assert row.quality == Decimal(16_000) / Decimal(18_000)
    ops = queries.oee(session, start=at(6), end=at(14), group_by=["order", "equipment"])
    assert len(ops) == 1  # the same order: one row, both operations summed
    by_day = one(queries.oee(session, start=at(6), end=at(14), group_by=["day"]))
    assert by_day.oee == row.oee


def test_maintenance_time_leaves_planned_production_time(session, ctx):
    plant = machine_plant(session)
    store(session, plant.machine_id, vorne_samples())
    maintenance.put_under_maintenance(session, ctx, MACHINE, note="bearing", at=at(12, 30))
    maintenance.end_maintenance(session, ctx, MACHINE, at=at(13, 30))
    row = one(queries.oee(session, start=at(6), end=at(14), group_by=["equipment"]))
    assert row.minutes["planned_stop"] == 60 + 60
    assert row.minutes["planned_production"] == 420 - 60
    assert row.minutes["run"] == 373 - 60


def test_bad_windows_and_groupings_are_refused(session):
    machine_plant(session)
    with pytest.raises(RuleViolation, match="group by"):
        queries.oee(session, start=at(6), end=at(14), group_by=["colour"])
    with pytest.raises(RuleViolation, match="after the start"):
        queries.oee(session, start=at(14), end=at(6), group_by=["equipment"])
    with pytest.raises(RuleViolation, match="at most"):
        queries.oee(session, start=at(0), end=at(0) + timedelta(days=800), group_by=["line"])


def test_live_window_is_the_running_shift(session):
    plant = machine_plant(session, shifts=[("A", time(6), 480, VORNE_BREAKS)])
    store(session, plant.machine_id, vorne_samples())
    start, end = queries.running_shift(session, at(9, 30), [MACHINE])
    assert (start, end) == (at(6), at(9, 30))
    with pytest.raises(RuleViolation, match="no shift"):
        queries.running_shift(session, at(20), [MACHINE])


def test_shopfloor_oee_json_and_the_pareto_from_the_command_line(db_url, session, ctx):
    import json

    from typer.testing import CliRunner

    from shopfloor.cli.main import app

    plant = machine_plant(session)
    store(session, plant.machine_id, vorne_samples())
    session.commit()
    window = ["--start", "2026-03-01T06:00:00Z", "--end", "2026-03-01T14:00"]
    runner = CliRunner()
    result = runner.invoke(
        app, ["oee", *window, "--by", "equipment,shift", "--json", "--database-url", db_url]
    )
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    assert row["group"] == {"equipment": MACHINE, "production_day": "2026-03-01", "shift": "A"}
    figures = [row[k] for k in ("availability", "performance", "quality", "oee")]
    assert figures == ["88.81", "86.11", "97.8", "74.79"]
    assert (row["good_count"], row["minutes"]["planned_production"]) == (18_848, "420")
    table = runner.invoke(app, ["oee", *window, "--database-url", db_url], env={"COLUMNS": "150"})
    assert table.exit_code == 0 and "74.79" in table.output, table.output
    bad = runner.invoke(app, ["oee", *window, "--by", "colour", "--database-url", db_url])
    assert bad.exit_code == 1 and "group by" in bad.output
    detected = runner.invoke(app, ["downtime", "detect", *window, "--database-url", db_url])
    assert detected.exit_code == 0 and "2 stop(s) recorded" in detected.output, detected.output
    again = runner.invoke(app, ["downtime", "detect", *window, "--database-url", db_url])
    assert "0 stop(s) recorded" in again.output
    pareto = runner.invoke(app, ["downtime", "pareto", *window, "--json", "--database-url", db_url])
    assert pareto.exit_code == 0, pareto.output
    bars = json.loads(pareto.output)
    assert [(b["label"], b["minutes"], b["events"]) for b in bars] == [("unclassified", "47", 2)]


def test_oee_and_downtime_over_the_api(api, runtime):
    with runtime.unit_of_work() as uow:
        plant = machine_plant(uow.session)
        store(uow.session, plant.machine_id, vorne_samples())
        uow.commit()
    window = {"start": "2026-03-01T06:00:00Z", "end": "2026-03-01T14:00:00Z"}
    got = api.get("/api/v1/oee", role="planner", params={**window, "group_by": "line,shift"})
    assert got.status_code == 200, got.text
    (row,) = got.json()
    assert row["oee"] == "74.79" and row["group"]["shift"] == "A"
    detected = api.post("/api/v1/downtimes/detect", role="supervisor", json=window)
    assert detected.status_code == 200, detected.text
    first, second = detected.json()
    classified = api.post(
        f"/api/v1/downtimes/{first['id']}/classify",
        role="operator",
        json={"reason_code": "waiting-for-material"},
    )
    assert classified.status_code == 201, classified.text
    split = api.post(
        f"/api/v1/downtimes/{second['id']}/split",
        role="operator",
        json={"at": "2026-03-01T11:10:00Z", "first_reason_code": "waiting-for-material"},
    )
    assert split.status_code == 201 and len(split.json()) == 2
    merged = api.post(
        "/api/v1/downtimes/merge",
        role="operator",
        json={"ids": [p["id"] for p in split.json()], "reason_code": "waiting-for-material"},
    )
    assert merged.status_code == 201, merged.text
    pareto = api.get("/api/v1/downtime/pareto", role="quality", params=window).json()
    assert [(b["label"], b["minutes"]) for b in pareto] == [("waiting-for-material", "47")]
    waiting = api.get("/api/v1/downtime/unclassified", role="supervisor")
    assert waiting.status_code == 200 and waiting.json() == []
    assert (
        api.get("/api/v1/oee", role="operator", params={"start": window["start"]}).status_code
        == 422
    )
    started = api.post(
        f"/api/v1/equipment/{MACHINE}/maintenance", role="supervisor", json={"note": "belt"}
    )
    assert started.status_code == 201, started.text
    assert (
        api.post(f"/api/v1/equipment/{MACHINE}/maintenance/end", role="operator").status_code == 403
    )
    ended = api.post(f"/api/v1/equipment/{MACHINE}/maintenance/end", role="supervisor")
    assert ended.status_code == 200 and ended.json()["ended_at"] is not None


def without_context(samples):
    return [s for s in samples if s[1] not in ("order", "operation", "product")]


def test_execution_gives_the_context_when_the_machine_does_not(session):
    from shopfloor.execution import service as execution

    plant = machine_plant(session)
    store(session, plant.machine_id, without_context(vorne_samples()))
    operation = plant.operation(session)
    execution.start_operation(session, plant.plant.ctx(), operation.id, at=at(6))
    row = one(queries.oee(session, start=at(6), end=at(14), group_by=["order", "product"]))
    assert row.group == {"order": "PO-4711", "product": "WS-100"}
    assert percent(row) == VORNE
    execution.pause_operation(session, plant.plant.ctx(), operation.id, reason="lunch", at=at(13))
    with pytest.raises(RuleViolation, match="without an ideal cycle time"):
        queries.oee(session, start=at(6), end=at(14), group_by=["equipment"])


def test_the_products_routing_gives_the_ideal_cycle_time_without_an_order(session):
    plant = machine_plant(session)
    samples = [*without_context(vorne_samples()), (at(6), "product", "WS-100")]
    store(session, plant.machine_id, samples)
    row = one(queries.oee(session, start=at(6), end=at(14), group_by=["product"]))
    assert row.performance == Decimal(19_271 * 60) / Decimal(373 * 60)  # routing R1: 60 s
    assert row.availability == Decimal(373) / Decimal(420)
