"""The machine watch records the stops of the stored signals and raises due maintenance
requests on its own, once each, in its own transactions. On SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from typer.testing import CliRunner

from shopfloor.cli.main import app
from shopfloor.execution.tables import Downtime
from shopfloor.kernel.context import SYSTEM
from shopfloor.machines import maintenance
from shopfloor.workers.machine_watch import MachineWatch
from tests.support.oee import MACHINE, at, machine_plant, store, vorne_samples


def test_the_watch_records_each_stop_once_and_raises_due_maintenance(runtime):
    with runtime.unit_of_work() as uow:
        plant = machine_plant(uow.session)
        store(uow.session, plant.machine_id, vorne_samples())
        early = replace(runtime.context(SYSTEM), now=at(5))
        maintenance.add_rule(uow.session, early, equipment_code=MACHINE, kind="run_hours",
                             threshold=5, name="bearings")  # fmt: skip
        uow.commit()

    watch = MachineWatch(runtime, clock=lambda: at(14, 1), settle=timedelta(seconds=30))
    first = watch.run_once()
    assert (first.stops_recorded, first.maintenance_requested) == (2, 1)
    again = watch.run_once()
    assert (again.stops_recorded, again.maintenance_requested) == (0, 0)
    with runtime.sessions() as session:
        stops = session.execute(
            select(Downtime.started_at, Downtime.ended_at).order_by(Downtime.started_at)
        ).all()
        assert [tuple(s) for s in stops] == [(at(7), at(7, 20)), (at(11), at(11, 27))]
        assert session.scalar(select(func.count()).select_from(Downtime)) == 2
        assert [r.rule for r in maintenance.maintenance_requests(session)] == ["bearings"]


def test_worker_machines_once_through_the_cli(runtime, db_url):
    with runtime.unit_of_work() as uow:
        plant = machine_plant(uow.session)
        store(uow.session, plant.machine_id, vorne_samples())
        uow.commit()
    year = str(24 * 366)  # the samples are of a past day: look back far enough
    argv = ["worker", "machines", "--once", "--window-hours", year, "--database-url", db_url]
    first = CliRunner().invoke(app, argv)
    assert first.exit_code == 0, first.output
    assert "2 stop(s) recorded, 0 maintenance request(s) raised" in first.output
    again = CliRunner().invoke(app, argv)
    assert "0 stop(s) recorded" in again.output


def test_the_supervisors_unclassified_list_waits_as_long_as_the_plant_says(api):
    runtime = api.runtime
    with runtime.unit_of_work() as uow:
        plant = machine_plant(uow.session)
        store(uow.session, plant.machine_id, vorne_samples())
        uow.commit()
    MachineWatch(runtime, clock=lambda: at(14, 1)).run_once()

    def waiting() -> list[str]:
        answer = api.get("/api/v1/downtime/unclassified", role="supervisor")
        assert answer.status_code == 200, answer.text
        return [row["started_at"][11:16] for row in answer.json()]

    assert waiting() == ["07:00", "11:00"]  # ended months ago: past the default 30 minutes
    longer = int((datetime.now(UTC) - at(7)).total_seconds() // 60) + 24 * 60
    runtime.settings = runtime.settings.model_copy(update={"unclassified_after_minutes": longer})
    assert waiting() == []
    explicit = api.get(
        "/api/v1/downtime/unclassified", role="supervisor", params={"older_than_minutes": 0}
    )
    assert len(explicit.json()) == 2
