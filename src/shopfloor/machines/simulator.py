"""A simulated plant that speaks Sparkplug B: for `shopfloor simulate`, the demo, tests and
the ingest benchmark. Seeded, so the same seed gives the same plant and the same story.

Each line is one edge node (`<group>/<line>`), each machine one of its devices. A machine
runs at its ideal cycle time and counts pieces (a few rejects, more right after a
changeover); it fails now and then (mean time between failures, a repair of several
minutes), has micro-stops (a jam, a starved infeed: seconds to a minute), and changes
product every few hours (a setup of 10-20 minutes). Optional process values (temperature,
pressure, then `Process/V<n>`) wander around their set points while it runs.

Messages follow Sparkplug: NBIRTH (seq 0, bdSeq, `Node Control/Rebirth`) then a DBIRTH per
machine naming every metric with its alias; after that DDATA carries aliases only, with
the changed state and counters and every process value; seq runs 0-255 and wraps. A Rebirth
NCMD is answered with fresh births. `tags()` gives the tag map that fits the plant.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from shopfloor.machines.sparkplug import (
    BDSEQ,
    BOOLEAN,
    DOUBLE,
    INT64,
    REBIRTH,
    STRING,
    UINT64,
    MetricOut,
    encode,
    parse_topic,
    topic_for,
)
from shopfloor.machines.tag_map import TagSpec, Value

Message = tuple[str, bytes]
FAULTS = ("jam", "overload", "sensor", "tool_break")
PRODUCTS = ("WS-100", "WS-200", "WS-300")
BASE_VALUES = (("Process/Temperature", 62.0, 1.5), ("Process/Pressure", 5.2, 0.2))
STATE, TOTAL, REJECT, PRODUCT = "State", "Count/Total", "Count/Reject", "Product"


@dataclass(frozen=True)
class PlantLayout:
    """`lines`: line code → the equipment codes of its machines (all in md_equipment)."""

    group: str = "plant"
    lines: tuple[tuple[str, tuple[str, ...]], ...] = (("SIM-L1", ("SIM-L1-M01",)),)
    process_values: int = 2
    cycle_seconds: float = 6.0

    @staticmethod
    def generated(machines: int, per_line: int = 5, **options: object) -> PlantLayout:
        lines = []
        for start in range(0, machines, per_line):
            line = f"SIM-L{start // per_line + 1}"
            codes = tuple(
                f"{line}-M{n + 1:02d}" for n in range(start, min(machines, start + per_line))
            )
            lines.append((line, codes))
        return PlantLayout(lines=tuple(lines), **options)  # type: ignore[arg-type]

    def metric_names(self) -> list[str]:
        names = [STATE, TOTAL, REJECT, PRODUCT]
        names += [name for name, _, _ in BASE_VALUES[: self.process_values]]
        names += [f"Process/V{n}" for n in range(len(BASE_VALUES), self.process_values)]
        return names

    def tags(self) -> list[TagSpec]:
        specs = []
        for line, machines in self.lines:
            for code in machines:
                address = f"{self.group}/{line}/{code}"
                specs += [
                    TagSpec("sparkplug", address, STATE, code, "state"),
                    TagSpec("sparkplug", address, TOTAL, code, "total"),
                    TagSpec("sparkplug", address, REJECT, code, "reject"),
                    TagSpec("sparkplug", address, PRODUCT, code, "context", "product"),
                    TagSpec("sparkplug", address, "*", code, "value"),
                ]
        return specs


@dataclass
class _Machine:
    code: str
    rng: random.Random
    cycle: float
    values: list[tuple[str, float, float]]
    state: str = "running"
    until: float = 0.0  # when the current stop or setup ends
    total: int = 0
    reject: int = 0
    product: str = PRODUCTS[0]
    progress: float = 0.0
    since_setup: float = 1e9
    readings: dict[str, float] = field(default_factory=dict)

    def step(self, now: float, dt: float) -> dict[str, Value]:
        """Advance by `dt` seconds; the metrics that changed (process values always)."""
        changed: dict[str, Value] = {}
        rng = self.rng
        if self.state != "running" and now >= self.until:
            if self.state == "setup":
                self.since_setup = 0.0
            self.state = "running"
            changed[STATE] = self.state
        elif self.state == "running":
            self._maybe_stop(now, dt, changed)
        if self.state == "running":
            self.since_setup += dt
            self.progress += dt / self.cycle
            pieces = int(self.progress)
            self.progress -= pieces
            if pieces:
                reject_rate = 0.15 if self.since_setup < 300 else 0.02
                rejects = sum(1 for _ in range(pieces) if rng.random() < reject_rate)
                self.total += pieces
                changed[TOTAL] = self.total
                if rejects:
                    self.reject += rejects
                    changed[REJECT] = self.reject
        for name, target, spread in self.values:
            level = target if self.state == "running" else target * 0.9
            value = self.readings.get(name, level)
            value += (level - value) * 0.1 + rng.gauss(0, spread * 0.1)
            self.readings[name] = value
            changed[name] = round(value, 3)
        return changed

    def _maybe_stop(self, now: float, dt: float, changed: dict[str, Value]) -> None:
        rng = self.rng
        if rng.random() < dt / 2700:  # a failure about every 45 minutes of running
            self.state = f"down:{rng.choice(FAULTS)}"
            self.until = now + rng.lognormvariate(math.log(420), 0.5)
        elif rng.random() < dt / 400:  # a micro-stop every few minutes
            self.state = rng.choice(("down:jam", "idle:starved", "idle:blocked"))
            self.until = now + rng.uniform(5, 75)
        elif rng.random() < dt / 10_800:  # a changeover every three hours or so
            self.state = "setup"
            self.until = now + rng.uniform(600, 1200)
            self.product = rng.choice([p for p in PRODUCTS if p != self.product])
            changed[PRODUCT] = self.product
        else:
            return
        changed[STATE] = self.state

    def current(self) -> dict[str, Value]:
        metrics: dict[str, Value] = {STATE: self.state, TOTAL: self.total,
                                      REJECT: self.reject, PRODUCT: self.product}  # fmt: skip
        for name, target, _ in self.values:
            metrics[name] = round(self.readings.setdefault(name, target), 3)
        return metrics


def _datatype(name: str) -> int:
    if name in (TOTAL, REJECT):
        return UINT64
    return STRING if name in (STATE, PRODUCT) else DOUBLE


class PlantSimulator:
    """The plant's machines and the Sparkplug session of each line's edge node."""

    def __init__(self, layout: PlantLayout, seed: int = 1) -> None:
        self.layout = layout
        names = layout.metric_names()
        self._aliases = {name: n + 1 for n, name in enumerate(names)}
        self.machines: dict[str, list[_Machine]] = {}
        for line_no, (line, codes) in enumerate(layout.lines):
            machines = []
            for n, code in enumerate(codes):
                rng = random.Random(f"{seed}/{line_no}/{n}")
                values = [(nm, t, s) for nm, t, s in BASE_VALUES[: layout.process_values]]
                values += [(nm, rng.uniform(10, 100), 1.0) for nm in names[4 + len(values) :]]
                cycle = layout.cycle_seconds * rng.uniform(0.8, 1.2)
                machines.append(_Machine(code, rng, cycle, values, total=rng.randrange(10_000)))
            self.machines[line] = machines
        self._seq = dict.fromkeys(self.machines, 0)
        self.bd_seq = dict.fromkeys(self.machines, 0)

    def _alias(self, line: str, machine: int, name: str) -> int:
        return machine * 1000 + self._aliases[name]

    def _next_seq(self, line: str) -> int:
        seq = self._seq[line] = (self._seq[line] + 1) % 256
        return seq

    def births(self, now_ms: int, line: str | None = None) -> list[Message]:
        """NBIRTH + DBIRTHs of one line (or all), starting its seq afresh."""
        out: list[Message] = []
        g = self.layout.group
        for name in [line] if line else list(self.machines):
            self._seq[name] = 0
            node = [MetricOut(BDSEQ, None, INT64, self.bd_seq[name]),
                    MetricOut(REBIRTH, None, BOOLEAN, False)]  # fmt: skip
            out.append((topic_for(g, "NBIRTH", name), encode(now_ms, 0, node)))
            for index, machine in enumerate(self.machines[name]):
                metrics = [
                    MetricOut(m, self._alias(name, index, m), _datatype(m), v)
                    for m, v in machine.current().items()
                ]
                topic = topic_for(g, "DBIRTH", name, machine.code)
                out.append((topic, encode(now_ms, self._next_seq(name), metrics)))
        return out

    def death(self, line: str) -> Message:
        """The NDEATH (the MQTT Will of the line's connection) for the current bdSeq."""
        payload = encode(0, None, [MetricOut(BDSEQ, None, INT64, self.bd_seq[line])])
        return topic_for(self.layout.group, "NDEATH", line), payload

    def step(self, now_ms: int, dt: float) -> list[Message]:
        """Advance every machine by `dt` seconds; DDATA for each machine with news."""
        out: list[Message] = []
        now = now_ms / 1000
        for line, machines in self.machines.items():
            for index, machine in enumerate(machines):
                changed = machine.step(now, dt)
                if not changed:
                    continue
                metrics = [
                    MetricOut(None, self._alias(line, index, m), _datatype(m), v)
                    for m, v in changed.items()
                ]
                topic = topic_for(self.layout.group, "DDATA", line, machine.code)
                out.append((topic, encode(now_ms, self._next_seq(line), metrics)))
        return out

    def command(self, topic: str, now_ms: int) -> list[Message]:
        """Answer an NCMD: a Rebirth request gets fresh births of that line."""
        parsed = parse_topic(topic)
        if parsed is None or parsed.message_type != "NCMD" or parsed.edge_node not in self.machines:
            return []
        return self.births(now_ms, parsed.edge_node)

    def lines(self) -> Sequence[str]:
        return list(self.machines)
