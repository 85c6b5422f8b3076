"""`oee()` recomputes over arrays (`machines.oee_tallies`); the object path
(`timelines.equipment_timelines`, what downtime detection uses) is the reference. Both read
the same stored signals — on PostgreSQL the arrays come from a binary COPY, the rows
before the window from their own query — and must give the same primitives per group.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import time, timedelta

import pytest

from shopfloor.machines import maintenance
from shopfloor.machines import oee_queries as queries
from shopfloor.machines.domain import OeePrimitives, primitives_by
from shopfloor.machines.domain.oee import primitives_of
from shopfloor.machines.oee_tallies import equipment_tallies
from shopfloor.machines.timelines import cycle_key, equipment_timelines
from tests.support.oee import DAY, MACHINE, VORNE_BREAKS, at, machine_plant, plant_day, store

GROUPINGS = (["equipment", "shift"], ["order", "product", "line"], ["day"])


def reference(session, start, end, group_by):
    """Per group, the primitives the object path gives (as `oee()` did before arrays)."""
    getters = [queries.GROUPINGS[k] for k in group_by]
    totals: dict = defaultdict(OeePrimitives)
    for timeline in equipment_timelines(session, start=start, end=end):

        def key(context):
            return tuple(get(context) for get in getters)

        for group, p in primitives_by(timeline.intervals, (), {}, key).items():
            totals[group] += p
        by_cycle = defaultdict(list)
        for count in timeline.counts:
            by_cycle[cycle_key(count.context)].append(count)
        for cycle, counts in by_cycle.items():
            if not any(c.counts.total or c.counts.reject for c in counts):
                continue
            seconds = {cycle[2]: timeline.ideal_cycle_s[cycle]}
            for group, p in primitives_by((), counts, seconds, key).items():
                totals[group] += p
    return totals


def recomputed(session, start, end, group_by):
    """Per group, the primitives `oee()` sums over arrays."""
    getters = [queries.GROUPINGS[k] for k in group_by]
    tallies: dict = defaultdict(lambda: defaultdict(int))
    for tallied in equipment_tallies(session, start=start, end=end):
        queries.add_equipment(tallies, tallied, lambda c: tuple(get(c) for get in getters), start)
    return {group: primitives_of(tally) for group, tally in tallies.items()}


@pytest.mark.parametrize("shift", [(0, 0), (13, 30)])
def test_recompute_over_arrays_equals_the_object_path(session, ctx, shift):
    plant = machine_plant(
        session,
        shifts=[("A", time(6), 480, VORNE_BREAKS), ("B", time(14), 480, (("break", 30, 30),))],
        heartbeat_s=120,
        micro_stop_s=180,
    )
    store(session, plant.machine_id, plant_day(seed=3))
    maintenance.put_under_maintenance(session, ctx, MACHINE, note="belt", at=at(16, 10))
    maintenance.end_maintenance(session, ctx, MACHINE, at=at(16, 50))
    start = DAY + timedelta(hours=4, minutes=shift[0], seconds=shift[1])
    end = DAY + timedelta(hours=35, seconds=20)
    for group_by in GROUPINGS:
        want = reference(session, start, end, group_by)
        whole = sum(want.values(), OeePrimitives())
        assert whole.total_count and whole.reject_count and whole.micro_stop_ms
        assert whole.offline_ms and whole.planned_stop_ms and whole.setup_ms
        assert recomputed(session, start, end, group_by) == want
        assert len(queries.oee(session, start=start, end=end, group_by=group_by)) == len(want)
