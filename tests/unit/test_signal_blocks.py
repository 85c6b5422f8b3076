"""When a day may be sealed and when a sample is late for it (`signal_blocks`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shopfloor.kernel.errors import RuleViolation
from shopfloor.machines.signal_blocks import (
    LATE_MARGIN,
    SEAL_AFTER_MIN,
    SEALED_METRICS,
    late_before,
    late_days,
    sealable_before,
)
from shopfloor.machines.signal_store import SignalRow
from shopfloor.machines.signals_queries import CONTEXT_FIELDS, HISTORY_METRICS
from shopfloor.platform.settings import Settings, load_settings

NOW = datetime(2026, 3, 10, 2, 30, tzinfo=UTC)


def row(moment: datetime, metric: str = "total", equipment_id: int = 7) -> SignalRow:
    return SignalRow(equipment_id, metric, metric, moment, moment, 1.0)


def test_sealed_are_the_metrics_the_oee_arrays_read_as_arrays() -> None:
    assert set(SEALED_METRICS) == set(HISTORY_METRICS) - set(CONTEXT_FIELDS)


def test_a_day_is_sealable_once_it_ended_seal_after_ago() -> None:
    assert sealable_before(NOW, timedelta(hours=3)) == datetime(2026, 3, 9, tzinfo=UTC)
    assert sealable_before(NOW, timedelta(hours=2)) == datetime(2026, 3, 10, tzinfo=UTC)
    with pytest.raises(RuleViolation, match="at least 1 h"):
        sealable_before(NOW, timedelta(minutes=59))


def test_the_setting_cannot_go_below_what_ingest_counts_on() -> None:
    assert load_settings().signal_seal_after_hours >= SEAL_AFTER_MIN.total_seconds() / 3600
    with pytest.raises(ValueError):
        Settings(signal_seal_after_hours=SEAL_AFTER_MIN.total_seconds() / 3600 - 0.01)


def test_late_is_any_day_a_sealer_could_seal_with_a_margin() -> None:
    # the shortest setting lets a sealer seal yesterday from 01:00 on: ingest counts
    # yesterday's samples as late from 01:00 less the margin (00:45) on.
    today, yesterday = datetime(2026, 3, 10, tzinfo=UTC), datetime(2026, 3, 9, tzinfo=UTC)
    from_on = today + SEAL_AFTER_MIN - LATE_MARGIN
    assert from_on == datetime(2026, 3, 10, 0, 45, tzinfo=UTC)
    assert late_before(from_on - timedelta(microseconds=1)) == yesterday
    assert late_before(from_on) == today


def test_live_samples_are_not_late_and_late_ones_name_their_days() -> None:
    live = [row(NOW - timedelta(seconds=s)) for s in range(100)]
    assert late_days(live, NOW) == {}
    yesterday = datetime(2026, 3, 9, 23, 59, tzinfo=UTC)
    older = datetime(2026, 3, 1, 12, tzinfo=UTC)
    batch = [*live, row(yesterday), row(older, "state"), row(older, "order"), row(older, "speed"),
             row(older, "reject", equipment_id=8)]  # fmt: skip
    assert late_days(batch, NOW) == {
        7: {("total", yesterday.date()), ("state", older.date())},
        8: {("reject", older.date())},
    }
