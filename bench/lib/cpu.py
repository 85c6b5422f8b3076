"""Where the machine's CPU went during a measurement: the server's process group, PostgreSQL,
wrk and everything else, from /proc (Linux). Shown next to the figures, so a reader sees
whether a run was CPU-bound and who used the cores. wrk has exited when the window closes,
so its share comes from this process's reaped children (`getrusage`)."""

from __future__ import annotations

import os
import resource
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _processes() -> dict[int, tuple[str, int, int]]:
    """pid → (command, process group, utime+stime ticks)."""
    found: dict[int, tuple[str, int, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        found[int(entry.name)] = (name, int(fields[2]), int(fields[11]) + int(fields[12]))
    return found


def _classify(name: str, pgid: int, server_pgid: int) -> str:
    if pgid == server_pgid:
        return "server"
    if name.startswith("postgres"):
        return "postgres"
    return "other"


@dataclass
class CpuWindow:
    """Cores used per group over the window (1.0 = one core busy all the time)."""

    cores: dict[str, float]
    seconds: float

    def describe(self) -> str:
        order = ("server", "postgres", "wrk", "other")
        return " ".join(f"{k}={self.cores.get(k, 0.0):.2f}" for k in order)

    @staticmethod
    def merge(windows: list[CpuWindow]) -> CpuWindow:
        """Several windows as one (cores weighted by each window's length)."""
        seconds = sum(w.seconds for w in windows)
        keys = {k for w in windows for k in w.cores}
        cores = {k: sum(w.cores.get(k, 0.0) * w.seconds for w in windows) / seconds for k in keys}
        return CpuWindow(cores, seconds)


class CpuMeter:
    """`meter = CpuMeter(server_pgid); ...load...; window = meter.stop()`."""

    def __init__(self, server_pgid: int) -> None:
        self.server_pgid = server_pgid
        self.started = time.monotonic()
        self.before = _processes()
        self.children = _children_seconds()

    def stop(self) -> CpuWindow:
        after = _processes()
        seconds = time.monotonic() - self.started
        used: Counter[str] = Counter()
        for pid, (name, pgid, ticks) in after.items():
            previous = self.before.get(pid)
            delta = ticks - (previous[2] if previous and previous[0] == name else 0)
            used[_classify(name, pgid, self.server_pgid)] += max(delta, 0)
        cores = {k: v / TICKS / seconds for k, v in used.items()}
        cores["wrk"] = (_children_seconds() - self.children) / seconds
        return CpuWindow(cores, seconds)


def _children_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
