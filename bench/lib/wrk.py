"""The load generator: wrk (C, epoll, keep-alive connections) driven by `load.lua`.

wrk is used because a Python client would compete with the servers for the same two cores.
Each client is one keep-alive connection that sends its next request when the last answer
arrived (a closed loop), so requests/s and latency are those of the server.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import tempfile
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "load.lua"
INSTALL_HINT = "wrk is not installed: run `apt-get install -y wrk` (Debian/Ubuntu package 'wrk')"


@dataclass(frozen=True)
class Request:
    path: str
    body: str


@dataclass(frozen=True)
class LoadResult:
    """What wrk measured in one or more runs: counts, time, and the latency histogram."""

    requests: int
    seconds: float
    bad: int  # non-2xx answers
    socket_errors: int  # connect, read, write errors and timeouts
    latency_us: Mapping[int, int] = field(default_factory=dict)  # microseconds → count
    first_bad: str = ""

    @property
    def failures(self) -> int:
        return self.bad + self.socket_errors

    @property
    def ok_per_s(self) -> float:
        """Successful (2xx) requests per second."""
        return max(self.requests - self.bad, 0) / self.seconds if self.seconds else 0.0

    def percentile_ms(self, pct: float) -> float:
        """The latency below which `pct`% of the requests answered (nearest rank)."""
        total = sum(self.latency_us.values())
        if not total:
            return 0.0
        rank, seen = max(1, math.ceil(total * pct / 100)), 0
        for value in sorted(self.latency_us):
            seen += self.latency_us[value]
            if seen >= rank:
                return value / 1000
        return max(self.latency_us) / 1000

    @property
    def max_ms(self) -> float:
        return max(self.latency_us, default=0) / 1000

    @staticmethod
    def merge(results: Sequence[LoadResult]) -> LoadResult:
        """Several runs (rounds) as one: counts and times add, histograms add."""
        histogram: Counter[int] = Counter()
        for r in results:
            histogram.update(r.latency_us)
        return LoadResult(
            requests=sum(r.requests for r in results),
            seconds=sum(r.seconds for r in results),
            bad=sum(r.bad for r in results),
            socket_errors=sum(r.socket_errors for r in results),
            latency_us=dict(histogram),
            first_bad=next((r.first_bad for r in results if r.first_bad), ""),
        )


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit(INSTALL_HINT)
    return path


def _lua(value: str) -> str:
    if any(ord(ch) < 32 or ord(ch) > 126 for ch in value):
        raise ValueError(f"only printable ASCII goes into the wrk plan: {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def plan_script(
    slots: Sequence[Sequence[Request]], headers: Mapping[str, str], threads: int, prefix: str
) -> str:
    """The Lua plan (slots, headers, threads, key prefix) followed by `load.lua`."""
    lines = ["SLOTS = {"]
    for slot in slots:
        reqs = ", ".join(f"{{path={_lua(r.path)}, body={_lua(r.body)}}}" for r in slot)
        lines.append(f"  {{{reqs}}},")
    lines.append("}")
    pairs = ", ".join(f"[{_lua(k)}]={_lua(v)}" for k, v in headers.items())
    lines += [f"HEADERS = {{{pairs}}}", f"THREADS = {threads}", f"KEY_PREFIX = {_lua(prefix)}"]
    return "\n".join(lines) + "\n\n" + SCRIPT.read_text()


_LINE = re.compile(r"^BENCH-(RESULT|LATENCY|FIRST-BAD) ?(.*)$", re.MULTILINE)


def parse(output: str) -> LoadResult:
    lines = {kind: text.strip() for kind, text in _LINE.findall(output)}
    if "RESULT" not in lines:
        raise SystemExit(f"wrk printed no result:\n{output[-2000:]}")
    v = {k: int(x) for k, x in (pair.split("=") for pair in lines["RESULT"].split())}
    histogram = {
        int(value): int(count)
        for value, count in (pair.split(":") for pair in lines.get("LATENCY", "").split())
    }
    return LoadResult(
        requests=v["requests"],
        seconds=v["duration_us"] / 1e6,
        bad=v["bad"],
        socket_errors=v["connect"] + v["read"] + v["write"] + v["timeout"],
        latency_us=histogram,
        first_bad=lines.get("FIRST-BAD", ""),
    )


def run(
    base_url: str,
    slots: Sequence[Sequence[Request]],
    headers: Mapping[str, str],
    *,
    seconds: float,
    threads: int = 2,
    timeout_s: int = 10,
) -> LoadResult:
    """Drive `len(slots)` keep-alive connections for `seconds`; every request gets a fresh
    Idempotency-Key (unique across runs, so a warm-up never turns into replays)."""
    binary = require_wrk()
    clients = len(slots)
    threads = max(1, min(threads, clients))
    prefix = uuid.uuid4().hex[:12]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="bench-", delete=False) as f:
        f.write(plan_script(slots, headers, threads, prefix))
        script = Path(f.name)
    try:
        completed = subprocess.run(
            [binary, "-t", str(threads), "-c", str(clients), "-d", f"{max(1, round(seconds))}s",
             "--timeout", f"{timeout_s}s", "-s", str(script), base_url],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    finally:
        script.unlink(missing_ok=True)
    if completed.returncode != 0:
        raise SystemExit(f"wrk failed ({completed.returncode}):\n{completed.stderr[-2000:]}")
    return parse(completed.stdout)
