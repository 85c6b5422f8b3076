"""Machine counters turned into counts.

Machines publish cumulative counters (total pieces, rejected pieces). The count of a period
is the sum of the increments between consecutive samples, never "last minus first":

- a counter that goes down was reset: the new value counts from zero;
- a counter with a known modulus (2^16, 2^32) that goes down by wrapping past its maximum
  rolled over: the increment is new + modulus - old. A decrease is taken as a rollover when
  that wrapped increment is at most `max_step` (by default half the modulus); otherwise it
  is a reset;
- samples are ordered by device time; a re-delivered sample (same equipment, counter,
  device time and value) is ignored and counted.

An increment belongs to the context (shift, order, product) the machine was in just before
the sample that revealed it: the sampling period bounds the error at a product change, so a
machine should publish its counters when the product changes. Rejects seen within the
startup window after a setup ends are startup rejects (reduced yield).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import TypeVar

from shopfloor.kernel.clock import as_utc
from shopfloor.kernel.errors import RuleViolation
from shopfloor.machines.domain.states import (
    Context,
    EquipmentState,
    StateInterval,
    count_out_of_order,
)

K = TypeVar("K", bound=Hashable)


class CounterKind(StrEnum):
    TOTAL = "total"  # every piece the machine made, good or not
    REJECT = "reject"


@dataclass(frozen=True)
class CounterSample:
    equipment: str
    counter: CounterKind
    device_time: datetime
    value: int
    received_at: datetime | None = None


@dataclass(frozen=True)
class CounterSettings:
    """`modulus`: the counter wraps to 0 on reaching it (65536 for a 16-bit counter)."""

    modulus: int | None = None
    max_step: int | None = None

    def __post_init__(self) -> None:
        if self.modulus is not None and self.modulus <= 1:
            raise RuleViolation("a counter modulus must be above 1")
        if self.max_step is not None and self.max_step < 0:
            raise RuleViolation("a counter's largest step cannot be negative")

    @property
    def rollover_limit(self) -> int | None:
        if self.modulus is None:
            return None
        return self.max_step if self.max_step is not None else self.modulus // 2


@dataclass(frozen=True)
class CounterIncrement:
    """Pieces counted in (start, end]; `discontinuity` is "reset" or "rollover" if any."""

    equipment: str
    counter: CounterKind
    start: datetime
    end: datetime
    amount: int
    discontinuity: str | None = None


@dataclass(frozen=True)
class CounterReport:
    increments: tuple[CounterIncrement, ...]
    duplicates: int
    out_of_order: int
    resets: int
    rollovers: int


def counter_increments(
    samples: Iterable[CounterSample], settings: CounterSettings = CounterSettings()
) -> CounterReport:
    """Increments between consecutive samples of each (equipment, counter). The first
    sample of each counter is its baseline; pass the last sample before the window."""
    received = list(samples)
    limit, modulus = settings.rollover_limit, settings.modulus
    seen: set[tuple[str, CounterKind, datetime, int]] = set()
    series: dict[tuple[str, CounterKind], list[tuple[datetime, int]]] = defaultdict(list)
    for sample in received:
        if sample.value < 0 or (modulus is not None and sample.value >= modulus):
            raise RuleViolation(
                f"{sample.equipment} {sample.counter} counter value {sample.value} is out of range"
            )
        key = (sample.equipment, sample.counter, as_utc(sample.device_time), sample.value)
        if key not in seen:
            seen.add(key)
            series[(sample.equipment, sample.counter)].append((key[2], sample.value))
    increments: list[CounterIncrement] = []
    resets = rollovers = 0
    for (equipment, counter), points in sorted(series.items()):
        points.sort()
        for (t0, v0), (t1, v1) in pairwise(points):
            amount, discontinuity = v1 - v0, None
            if amount < 0:
                wrapped = v1 + modulus - v0 if modulus is not None else None
                if wrapped is not None and limit is not None and wrapped <= limit:
                    amount, discontinuity = wrapped, "rollover"
                    rollovers += 1
                else:
                    amount, discontinuity = v1, "reset"
                    resets += 1
            if amount or discontinuity:
                increments.append(
                    CounterIncrement(equipment, counter, t0, t1, amount, discontinuity)
                )
    return CounterReport(
        increments=tuple(increments),
        duplicates=len(received) - len(seen),
        out_of_order=count_out_of_order(s.device_time for s in received),
        resets=resets,
        rollovers=rollovers,
    )


@dataclass(frozen=True)
class CountTotals:
    total: int = 0
    reject: int = 0
    startup_reject: int = 0  # part of `reject`

    @property
    def good(self) -> int:
        return self.total - self.reject

    def __add__(self, other: CountTotals) -> CountTotals:
        return CountTotals(
            self.total + other.total,
            self.reject + other.reject,
            self.startup_reject + other.startup_reject,
        )


@dataclass(frozen=True)
class ProductionCount:
    """Pieces counted up to `at`, in the context the machine was in."""

    context: Context
    at: datetime
    counts: CountTotals


def attribute_counts(
    increments: Iterable[CounterIncrement],
    intervals: Iterable[StateInterval],
    startup_window: timedelta | None = None,
) -> tuple[ProductionCount, ...]:
    """Give every increment the context of the interval that holds the instant just
    before its sample (start < at <= end); rejects within `startup_window` after the end
    of a setup are startup rejects."""
    by_equipment: dict[str, list[StateInterval]] = defaultdict(list)
    for interval in intervals:
        by_equipment[interval.equipment].append(interval)
    ends: dict[str, list[datetime]] = {}
    setups: dict[str, list[datetime]] = {}
    for equipment, timeline in by_equipment.items():
        timeline.sort(key=lambda i: as_utc(i.start))
        ends[equipment] = [as_utc(i.end) for i in timeline]
        setups[equipment] = _setup_ends(timeline)
    counted = []
    for increment in increments:
        at = as_utc(increment.end)
        timeline = by_equipment.get(increment.equipment, [])
        index = bisect_left(ends.get(increment.equipment, []), at)
        if index < len(timeline) and as_utc(timeline[index].start) < at:
            context = timeline[index].context
        else:
            context = Context(increment.equipment)
        if increment.counter is CounterKind.TOTAL:
            totals = CountTotals(total=increment.amount)
        else:
            startup = _after_setup(at, setups.get(increment.equipment, []), startup_window)
            totals = CountTotals(
                reject=increment.amount, startup_reject=increment.amount if startup else 0
            )
        counted.append(ProductionCount(context, at, totals))
    return tuple(counted)


def _setup_ends(timeline: Sequence[StateInterval]) -> list[datetime]:
    """When each setup (touching setup pieces are one setup) ended, in time order."""
    found: list[datetime] = []
    for interval in timeline:
        if interval.reported_state is not EquipmentState.SETUP:
            continue
        if found and found[-1] == as_utc(interval.start):
            found[-1] = as_utc(interval.end)
        else:
            found.append(as_utc(interval.end))
    return found


def _after_setup(at: datetime, setup_ends: Sequence[datetime], window: timedelta | None) -> bool:
    if window is None:
        return False
    index = bisect_left(setup_ends, at) - 1
    return index >= 0 and at - setup_ends[index] <= window


def count_totals(
    counts: Iterable[ProductionCount], key: Callable[[Context], K]
) -> dict[K, CountTotals]:
    """Counts summed per grouping key (shift, order, product, …)."""
    totals: dict[K, CountTotals] = {}
    for count in counts:
        group = key(count.context)
        totals[group] = totals.get(group, CountTotals()) + count.counts
    return totals


def counts_per_minute(
    counts: Iterable[ProductionCount], key: Callable[[Context], K]
) -> dict[tuple[K, datetime], CountTotals]:
    """Counts per grouping key and per minute of the sample that revealed them."""
    totals: dict[tuple[K, datetime], CountTotals] = {}
    for count in counts:
        minute = as_utc(count.at).replace(second=0, microsecond=0)
        group = (key(count.context), minute)
        totals[group] = totals.get(group, CountTotals()) + count.counts
    return totals
