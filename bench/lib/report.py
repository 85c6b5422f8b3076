"""Measuring shopfloor and its floor the same way, and the benchmark's last line.

Both servers run at the same time (idle while the other is measured); the measured time is
split into rounds that alternate between them (A B, B A, A B, ...), so a slow moment of
the machine — another process, a checkpoint — falls on both sides alike. Every round uses
the same wrk clients, script shape and length; the rounds of a side are merged exactly
(request counts, times and latency histograms add).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from bench.lib import wrk
from bench.lib.cpu import CpuMeter, CpuWindow
from bench.lib.server import Server

_terminal = Console(highlight=False)
console = _terminal if _terminal.is_terminal else Console(highlight=False, width=120)


def warn_if_busy() -> None:
    """Say so when other work keeps the machine busy: the figures would be noisy."""
    load1 = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    if load1 > 0.5 * cores:
        console.print(
            f"[yellow]warning:[/] the machine is busy before the run (load {load1:.1f} on "
            f"{cores} cores); figures will be noisy — see 'CPU other' in the table"
        )


@dataclass
class Target:
    """What one side is measured with: its server, its clients' requests and headers."""

    name: str
    server: Server
    slots: Sequence[Sequence[wrk.Request]]
    headers: Mapping[str, str]

    def run(self, seconds: int) -> wrk.LoadResult:
        return wrk.run(self.server.base_url, self.slots, self.headers, seconds=seconds)


@dataclass
class Side:
    name: str
    load: wrk.LoadResult
    cpu: CpuWindow
    warmup_failures: int = 0

    @property
    def failures(self) -> int:
        """Failed requests of the warm-up and of the measurement."""
        return self.load.failures + self.warmup_failures

    @property
    def p99_ms(self) -> float:
        return self.load.percentile_ms(99)


def round_lengths(seconds: int, rounds: int) -> list[int]:
    """`seconds` split into `rounds` whole-second rounds (wrk takes whole seconds)."""
    rounds = max(1, min(rounds, seconds))
    base, extra = divmod(seconds, rounds)
    return [base + (1 if n < extra else 0) for n in range(rounds)]


def measure(targets: Sequence[Target], *, warmup: int, seconds: int, rounds: int) -> list[Side]:
    """Warm every side up (not counted), then measure them in alternating rounds."""
    warm_failures = {t.name: 0 for t in targets}
    for target in targets:
        if warmup > 0:
            with console.status(f"[bold]{target.name}[/]: warming up {warmup} s"):
                warm = target.run(warmup)
            warm_failures[target.name] = warm.failures
            if warm.failures:
                explain_failures(target.name, warm, target.server)
    loads: dict[str, list[wrk.LoadResult]] = {t.name: [] for t in targets}
    cpus: dict[str, list[CpuWindow]] = {t.name: [] for t in targets}
    lengths = round_lengths(seconds, rounds)
    for number, length in enumerate(lengths, start=1):
        order = targets if number % 2 else list(reversed(targets))
        for target in order:
            with console.status(
                f"round {number}/{len(lengths)}: [bold]{target.name}[/] for {length} s "
                f"with {len(target.slots)} clients"
            ):
                meter = CpuMeter(target.server.pgid)
                result = target.run(length)
                cpus[target.name].append(meter.stop())
            loads[target.name].append(result)
            console.print(
                f"  round {number} {target.name:>10}: {result.ok_per_s:8,.1f} req/s  "
                f"p99 {result.percentile_ms(99):7.1f} ms  failed {result.failures}"
            )
    sides = []
    for target in targets:
        load = wrk.LoadResult.merge(loads[target.name])
        if load.failures:
            explain_failures(target.name, load, target.server)
        sides.append(
            Side(target.name, load, CpuWindow.merge(cpus[target.name]), warm_failures[target.name])
        )
    return sides


def explain_failures(name: str, load: wrk.LoadResult, server: Server) -> None:
    console.print(
        f"[red]{name}: {load.bad} non-2xx answers, {load.socket_errors} socket errors/timeouts[/]"
    )
    if load.first_bad:
        console.print(f"[red]first failed answer:[/] {load.first_bad}", markup=False)
    console.print(f"server log (tail):\n{server.log_tail()}", markup=False)


CPU_GROUPS = ("server", "postgres", "wrk", "other")


def summary_table(title: str, sides: Sequence[Side]) -> Table:
    table = Table(title=title, caption="CPU: cores busy during the measured rounds")
    table.add_column("")
    for column in ("req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "failed"):
        table.add_column(column, justify="right")
    for group in CPU_GROUPS:
        table.add_column(f"CPU {group}", justify="right")
    for side in sides:
        r = side.load
        table.add_row(
            side.name,
            f"{r.ok_per_s:,.1f}",
            *(f"{r.percentile_ms(p):.1f}" for p in (50, 90, 99)),
            f"{r.max_ms:.1f}",
            str(side.failures),
            *(f"{side.cpu.cores.get(group, 0.0):.2f}" for group in CPU_GROUPS),
        )
    return table


def last_line(name: str, shopfloor: Side, floor: Side) -> str:
    """`NAME: ratio=… tx_per_s=… p99_ms=… p99_ratio=…` (tx = successful requests)."""
    s, f = shopfloor.load, floor.load
    ratio = s.ok_per_s / f.ok_per_s if f.ok_per_s else 0.0
    p99_ratio = shopfloor.p99_ms / floor.p99_ms if floor.p99_ms else float("inf")
    return (
        f"{name}: ratio={ratio:.3f} tx_per_s={s.ok_per_s:.1f} "
        f"p99_ms={shopfloor.p99_ms:.1f} p99_ratio={p99_ratio:.2f}"
    )
