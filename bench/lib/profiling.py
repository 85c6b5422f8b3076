"""Where a request spends its CPU: the real app, in-process, one request at a time — for
`python -m bench api --profile N`. Shopfloor and the floor are timed the same way (CPU and
SQL statements per request); shopfloor is then run once more under cProfile.

FastAPI runs sync endpoints and dependencies in worker threads, and shopfloor its commands on
threads of their own, which cProfile does not see; here they run inline on the event loop
thread instead (the code path is otherwise the one the server runs, minus uvicorn's HTTP
parsing).
"""

from __future__ import annotations

import asyncio
import cProfile
import os
import pstats
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg

from bench.lib.report import console
from bench.lib.wrk import Request


async def _inline(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


def run_sync_endpoints_inline() -> None:
    import fastapi.concurrency
    import fastapi.dependencies.utils
    import fastapi.routing

    import shopfloor.api.deps

    for module in (fastapi.routing, fastapi.dependencies.utils, fastapi.concurrency):
        module.run_in_threadpool = _inline  # type: ignore[attr-defined]
    shopfloor.api.deps.on_command_thread = _inline_command  # type: ignore[assignment]


async def _inline_command(run: Callable[[], Any], threads: int) -> Any:
    return run()


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")


@dataclass
class InProcess:
    """An app driven in-process with one client, one request at a time."""

    app: Any
    engine: Any
    slots: Sequence[Sequence[Request]]
    headers: Mapping[str, str]

    async def _send(self, count: int) -> int:
        sent = 0
        async with _client(self.app) as client:
            for n in range(count):
                for request in self.slots[n % len(self.slots)]:
                    key = {"Idempotency-Key": f"profile-{uuid.uuid4().hex}"}
                    answer = await client.post(
                        request.path, content=request.body, headers={**self.headers, **key}
                    )
                    if not answer.is_success:
                        raise SystemExit(f"POST {request.path}: {answer.status_code} {answer.text}")
                    sent += 1
        return sent

    def send(self, count: int) -> int:
        return asyncio.run(self._send(count))

    def timed(self, name: str, count: int) -> None:
        """Warm up, then print CPU, wall time and SQL statements per request."""
        self.send(min(20, count))
        statements: Counter[str] = Counter()

        def tally(statement: str) -> None:
            statements[statement.split(None, 1)[0].upper()] += 1

        with _statements_sent(tally):
            cpu, wall = time.process_time(), time.perf_counter()
            sent = self.send(count)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        kinds = ", ".join(f"{k} {v / sent:.1f}" for k, v in statements.most_common())
        console.print(
            f"[bold]{name:>10}[/]: {cpu / sent * 1000:6.2f} ms CPU, {wall / sent * 1000:6.2f} ms "
            f"wall, {sum(statements.values()) / sent:4.1f} SQL statements ({kinds}) per request"
        )

    def trace(self, count: int = 2) -> None:
        """Print every SQL statement of `count` requests (after a warm-up), to see what one
        command asks of the database."""
        self.send(min(20, count))
        lines: list[str] = []

        def keep(statement: str) -> None:
            lines.append(" ".join(statement.split())[: int(os.environ.get("BENCH_SQL_WIDTH", 160))])

        with _statements_sent(keep):
            self.send(count)
        for number, line in enumerate(lines, 1):
            console.print(f"{number:3} {line}", markup=False, highlight=False)

    def profile(self, count: int, top: int = 25) -> None:
        """Run under cProfile (CPU clock); print CPU by package and the costliest calls."""
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        self.send(count)
        profiler.disable()
        stats = pstats.Stats(profiler)
        areas: Counter[str] = Counter()
        for (filename, _, _), (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
            areas[_area(filename)] += own
        total = sum(areas.values()) or 1.0
        console.print("CPU by package (own time, profiler on):")
        for area, own in areas.most_common(8):
            console.print(f"  {area:<16} {own / total * 100:5.1f}%")
        console.print("shopfloor functions by cumulative CPU (profiler on):")
        stats.sort_stats("cumulative").print_stats(r"/shopfloor/", top)
        if os.environ.get("BENCH_PROFILE_DUMP"):
            stats.dump_stats(os.environ["BENCH_PROFILE_DUMP"])


@contextmanager
def _statements_sent(record: Callable[[str], None]) -> Iterator[None]:
    """Call `record` with every statement sent through a psycopg cursor — SQLAlchemy's and
    those shopfloor sends on the driver itself (`platform.direct`, `platform.deferred`);
    BEGIN and COMMIT are not statements of a cursor and are not counted."""
    original = psycopg.Cursor.execute

    def execute(cursor: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        text = query if isinstance(query, str) else str(query)
        record("PING (the pool's pre-ping, an empty statement)" if text.strip() == ";" else text)
        return original(cursor, query, *args, **kwargs)

    psycopg.Cursor.execute = execute  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        psycopg.Cursor.execute = original  # type: ignore[method-assign]


def _area(filename: str) -> str:
    """The package a profiled function belongs to (shopfloor, sqlalchemy, psycopg, ...)."""
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0]
    if "/shopfloor/" in filename:
        return "shopfloor"
    if filename.startswith(("~", "<")):
        return "builtins (C)"
    return "stdlib"


def sign_in(app: Any, request: Request) -> str:
    async def login() -> str:
        async with _client(app) as client:
            answer = await client.post(
                request.path, content=request.body, headers={"Content-Type": "application/json"}
            )
        if answer.status_code != 200:
            raise SystemExit(f"sign-in failed ({answer.status_code}): {answer.text}")
        return str(answer.json()["token"])

    return asyncio.run(login())
