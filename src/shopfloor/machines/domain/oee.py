"""OEE, the six big losses and TEEP, from primitives that add up.

The time model (DESIGN §6, the standard Vorne/Nakajima waterfall):

    calendar time        = everything in the period
    shift time           = calendar time inside a shift
    planned production   = shift time - planned stops - offline (no data: not knowable,
                           so neither production time nor downtime; shown on its own)
    run time             = planned production - down - idle (above the micro-stop
                           threshold) - setup  (= running + micro-stops)
    net run time         = Σ ideal cycle time x total count
    fully productive     = Σ ideal cycle time x good count

    availability = run / planned production      performance = net run / run
    quality      = fully productive / net run    OEE = fully productive / planned production
    utilisation  = planned production / calendar TEEP = fully productive / calendar

For one product quality is good / total. Across products with different ideal cycle times it
is weighted by ideal time, which keeps OEE = A x P x Q exact; `count_quality` is the plain
good / total. Every figure is an exact Decimal ratio; a ratio whose denominator is zero is
None, never 0 and never an error. Performance above 1 is not clamped: it means the ideal
cycle time is too slow, and `performance_exceeds_ideal` says so.

Groups (line, shift, product, order, day) add primitives and then divide; ratios are never
averaged. The six big losses are in minutes and add up with fully productive time to the
planned production time: breakdowns (down and long idle: all unplanned stops, starved and
blocked included), setup and adjustments, minor stops (micro-stops), reduced speed (the
rest of the performance loss), process defects and reduced yield (startup rejects), the
last two valued at the ideal cycle time of the rejected pieces.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, fields
from decimal import ROUND_HALF_UP, Decimal, localcontext
from decimal import Context as DecimalContext
from typing import TypeVar

from shopfloor.kernel.errors import RuleViolation
from shopfloor.machines.domain.counters import ProductionCount
from shopfloor.machines.domain.states import Context, EquipmentState, StateInterval

K = TypeVar("K", bound=Hashable)

PRECISION = 28
_EXACT = DecimalContext(prec=PRECISION)  # the arithmetic of every ratio and duration
_MS_PER_MINUTE = Decimal(60_000)
_MS_PER_SECOND = Decimal(1_000)

GROUPINGS: Mapping[str, Callable[[Context], Hashable]] = {
    "equipment": lambda c: c.equipment,
    "line": lambda c: c.line,
    "shift": lambda c: (c.production_day, c.shift),
    "product": lambda c: c.product,
    "order": lambda c: c.order,
    "day": lambda c: c.production_day,
}


@dataclass(frozen=True)
class OeePrimitives:
    """Times in milliseconds by state, counts, and ideal times; the only thing summed."""

    running_ms: int = 0
    micro_stop_ms: int = 0
    down_ms: int = 0
    idle_ms: int = 0
    setup_ms: int = 0
    planned_stop_ms: int = 0
    offline_ms: int = 0
    unscheduled_ms: int = 0
    total_count: int = 0
    reject_count: int = 0
    startup_reject_count: int = 0
    ideal_ms: Decimal = Decimal(0)  # Σ ideal cycle time x total count
    ideal_reject_ms: Decimal = Decimal(0)
    ideal_startup_reject_ms: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        # `min` over the fields, not a loop of getattr: one is built per group
        whole = min(
            self.running_ms,
            self.micro_stop_ms,
            self.down_ms,
            self.idle_ms,
            self.setup_ms,
            self.planned_stop_ms,
            self.offline_ms,
            self.unscheduled_ms,
            self.total_count,
            self.reject_count,
            self.startup_reject_count,
        )
        exact = min(self.ideal_ms, self.ideal_reject_ms, self.ideal_startup_reject_ms)
        if whole < 0 or exact < 0:
            raise RuleViolation("OEE primitives cannot be negative")
        if not self.startup_reject_count <= self.reject_count <= self.total_count:
            raise RuleViolation(
                f"rejects ({self.reject_count}) cannot exceed the total count "
                f"({self.total_count}), nor startup rejects the rejects"
            )

    def __add__(self, other: OeePrimitives) -> OeePrimitives:
        with localcontext(prec=PRECISION):
            return OeePrimitives(
                **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
            )

    @property
    def calendar_ms(self) -> int:
        return self.shift_ms + self.unscheduled_ms

    @property
    def shift_ms(self) -> int:
        return self.planned_production_ms + self.planned_stop_ms + self.offline_ms

    @property
    def planned_production_ms(self) -> int:
        return self.run_ms + self.stop_ms

    @property
    def stop_ms(self) -> int:
        """Availability loss: down and idle above the micro-stop threshold, and setup."""
        return self.down_ms + self.idle_ms + self.setup_ms

    @property
    def run_ms(self) -> int:
        return self.running_ms + self.micro_stop_ms

    @property
    def good_count(self) -> int:
        return self.total_count - self.reject_count

    @property
    def fully_productive_ms(self) -> Decimal:
        return self.ideal_ms - self.ideal_reject_ms


def total(primitives: Iterable[OeePrimitives]) -> OeePrimitives:
    result = OeePrimitives()
    for item in primitives:
        result = result + item
    return result


_TIME_FIELD = {
    EquipmentState.RUNNING: "running_ms",
    EquipmentState.DOWN: "down_ms",
    EquipmentState.IDLE: "idle_ms",
    EquipmentState.SETUP: "setup_ms",
    EquipmentState.PLANNED_STOP: "planned_stop_ms",
    EquipmentState.OFFLINE: "offline_ms",
}


def _time_field(interval: StateInterval) -> str:
    if not interval.scheduled:
        return "unscheduled_ms"
    if interval.micro_stop and interval.state in (EquipmentState.DOWN, EquipmentState.IDLE):
        return "micro_stop_ms"
    return _TIME_FIELD[interval.state]


def ideal_cycle_ms(ideal_cycle_s: Mapping[str | None, Decimal], product: str | None) -> Decimal:
    """The ideal cycle time of a product in milliseconds; every counted product needs one."""
    if product not in ideal_cycle_s:
        raise RuleViolation(f"no ideal cycle time for product {product or '(none)'}")
    seconds = ideal_cycle_s[product]
    if seconds <= 0:
        raise RuleViolation(f"the ideal cycle time of product {product} must be positive")
    return seconds * _MS_PER_SECOND


def primitives_by(
    intervals: Iterable[StateInterval],
    counts: Iterable[ProductionCount],
    ideal_cycle_s: Mapping[str | None, Decimal],
    key: Callable[[Context], K],
) -> dict[K, OeePrimitives]:
    """OEE primitives per grouping key; each product's counts at its own ideal cycle time
    (seconds per piece)."""
    tallies: dict[K, dict[str, int | Decimal]] = defaultdict(lambda: defaultdict(int))
    for interval in intervals:
        tallies[key(interval.context)][_time_field(interval)] += interval.duration_ms
    with localcontext(prec=PRECISION):
        _add_counts(tallies, counts, ideal_cycle_s, key)
    return {group: primitives_of(tally) for group, tally in tallies.items()}


def add_counts(
    tallies: dict[K, dict[str, int | Decimal]],
    counts: Iterable[ProductionCount],
    ideal_cycle_s: Mapping[str | None, Decimal],
    key: Callable[[Context], K],
) -> None:
    """Add counts to per-group tallies (see `primitives_of`), each product's at its own
    ideal cycle time (seconds per piece)."""
    with localcontext(prec=PRECISION):
        _add_counts(tallies, counts, ideal_cycle_s, key)


def _add_counts(
    tallies: dict[K, dict[str, int | Decimal]],
    counts: Iterable[ProductionCount],
    ideal_cycle_s: Mapping[str | None, Decimal],
    key: Callable[[Context], K],
) -> None:
    for count in counts:
        tally = tallies[key(count.context)]
        pieces = count.counts
        if not (pieces.total or pieces.reject):
            continue
        cycle = ideal_cycle_ms(ideal_cycle_s, count.context.product)
        tally["total_count"] += pieces.total
        tally["reject_count"] += pieces.reject
        tally["startup_reject_count"] += pieces.startup_reject
        tally["ideal_ms"] += cycle * pieces.total
        tally["ideal_reject_ms"] += cycle * pieces.reject
        tally["ideal_startup_reject_ms"] += cycle * pieces.startup_reject


def primitives_of(tally: Mapping[str, int | Decimal]) -> OeePrimitives:
    """Primitives from a tally: the fields by name (missing ones are 0)."""
    get = tally.get
    return OeePrimitives(
        int(get("running_ms", 0)),
        int(get("micro_stop_ms", 0)),
        int(get("down_ms", 0)),
        int(get("idle_ms", 0)),
        int(get("setup_ms", 0)),
        int(get("planned_stop_ms", 0)),
        int(get("offline_ms", 0)),
        int(get("unscheduled_ms", 0)),
        int(get("total_count", 0)),
        int(get("reject_count", 0)),
        int(get("startup_reject_count", 0)),
        Decimal(get("ideal_ms", 0)),
        Decimal(get("ideal_reject_ms", 0)),
        Decimal(get("ideal_startup_reject_ms", 0)),
    )


def ratio(numerator: int | Decimal, denominator: int | Decimal) -> Decimal | None:
    """numerator / denominator as a Decimal (28 significant digits), None when undefined."""
    if not denominator:
        return None
    return _EXACT.divide(numerator, denominator)  # a whole number converts exactly


def minutes(milliseconds: int | Decimal) -> Decimal:
    return _EXACT.divide(milliseconds, _MS_PER_MINUTE)


def as_percent(value: Decimal | None, places: int = 2) -> Decimal | None:
    """A ratio as a percentage rounded half up, as OEE figures are published: 88.81."""
    if value is None:
        return None
    with localcontext(prec=PRECISION):
        return (value * 100).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class SixBigLosses:
    """Minutes lost to each of Nakajima's six big losses."""

    breakdowns: Decimal
    setup_adjustments: Decimal
    minor_stops: Decimal
    reduced_speed: Decimal
    process_defects: Decimal
    reduced_yield: Decimal

    @property
    def total(self) -> Decimal:
        with localcontext(prec=PRECISION):
            return sum((getattr(self, f.name) for f in fields(self)), Decimal(0))


@dataclass(frozen=True)
class OeeFigures:
    primitives: OeePrimitives
    availability: Decimal | None
    performance: Decimal | None
    quality: Decimal | None
    oee: Decimal | None
    utilisation: Decimal | None
    teep: Decimal | None
    count_quality: Decimal | None
    losses: SixBigLosses
    performance_exceeds_ideal: bool
    counts_without_run_time: bool

    @property
    def planned_production_minutes(self) -> Decimal:
        return minutes(self.primitives.planned_production_ms)

    @property
    def run_minutes(self) -> Decimal:
        return minutes(self.primitives.run_ms)

    @property
    def net_run_minutes(self) -> Decimal:
        return minutes(self.primitives.ideal_ms)

    @property
    def fully_productive_minutes(self) -> Decimal:
        return minutes(self.primitives.fully_productive_ms)


def oee_figures(
    p: OeePrimitives, in_minutes: Callable[[int | Decimal], Decimal] = minutes
) -> OeeFigures:
    """Availability, performance, quality, OEE, utilisation, TEEP and the six big losses.
    `in_minutes` is `minutes`, or a memo of it for callers working out many groups."""
    run = p.running_ms + p.micro_stop_ms
    planned = run + p.down_ms + p.idle_ms + p.setup_ms  # the properties, each worked out once
    calendar = planned + p.planned_stop_ms + p.offline_ms + p.unscheduled_ms
    ideal, fully_productive = p.ideal_ms, p.fully_productive_ms
    divide = _EXACT.divide  # `ratio`, written out: seven of them per group
    oee = divide(fully_productive, planned) if planned else None
    performance = divide(ideal, run) if run else None
    losses = SixBigLosses(
        breakdowns=in_minutes(p.down_ms + p.idle_ms),
        setup_adjustments=in_minutes(p.setup_ms),
        minor_stops=in_minutes(p.micro_stop_ms),
        reduced_speed=in_minutes(run - ideal - p.micro_stop_ms),
        process_defects=in_minutes(p.ideal_reject_ms - p.ideal_startup_reject_ms),
        reduced_yield=in_minutes(p.ideal_startup_reject_ms),
    )
    return OeeFigures(
        primitives=p,
        availability=divide(run, planned) if planned else None,
        performance=performance,
        quality=divide(fully_productive, ideal) if ideal else None,
        oee=oee,
        utilisation=divide(planned, calendar) if calendar else None,
        teep=None if oee is None or not calendar else divide(fully_productive, calendar),
        count_quality=divide(p.total_count - p.reject_count, p.total_count)
        if p.total_count
        else None,
        losses=losses,
        performance_exceeds_ideal=performance is not None and performance > 1,
        counts_without_run_time=run == 0 and p.total_count > 0,
    )


def oee_by(
    intervals: Iterable[StateInterval],
    counts: Iterable[ProductionCount],
    ideal_cycle_s: Mapping[str | None, Decimal],
    key: Callable[[Context], K],
) -> dict[K, OeeFigures]:
    """OEE figures per grouping key, each from that group's summed primitives."""
    grouped = primitives_by(intervals, counts, ideal_cycle_s, key)
    return {group: oee_figures(p) for group, p in grouped.items()}
