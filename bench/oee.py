"""`python -m bench oee`: a full recompute of OEE per equipment per shift from the stored
raw events, against DuckDB computing the same figures over the same rows.

The data (see `bench.lib.oee_data`): 200 machines x 30 days by default, a state change
every 2-5 minutes each, the total counter every minute, the reject counter every five,
product changes, a counter reset and a data gap per machine — COPYed into PostgreSQL.

Storage, untimed, as a plant has it: after the COPY the closed days are sealed
(`shopfloor signals seal`, what the machine watch does each pass): every equipment-day's
states, counters, heartbeats and deaths as one lossless compressed block per metric
(`machines.signal_blocks*`); the run prints how long sealing took and the size of the
blocks against the raw rows. `mch_signal` keeps every raw row.

shopfloor's side is `machines.oee_queries.oee(group_by=["equipment", "shift"])` as the API
and `shopfloor oee` call it: the sealed days' blocks (and raw rows for whatever no block
covers) read into arrays (`machines.signal_arrays`), the states, shift calendar, counters
and figures through the pure domain (`domain.tallies`, over arrays). Nothing derived from
the samples is stored or reused between runs: a block is the raw rows themselves, columnar
and compressed, and the timed call recomputes everything from them. The floor is DuckDB
over the same rows exported to CSV and loaded into DuckDB tables (neither timed), with the
same threads as this machine has cores. Both must give the same figures; the run says how
many groups differ.

Last line: `oee: ratio=<shopfloor seconds ÷ duckdb seconds> seconds=<shopfloor seconds>`.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.table import Table

from bench.lib import pg
from bench.lib.oee_data import HEARTBEAT_S, MICRO_STOP_S, START, Layout, build_plant, copy_signals
from bench.lib.oee_duckdb import compute, export, load
from bench.lib.report import console, warn_if_busy

NAME = "oee"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench oee",
        description="OEE per equipment per shift recomputed from stored events, shopfloor "
        "against DuckDB over the same rows.",
    )
    parser.add_argument("--machines", type=int, default=200)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url-admin", default=pg.DEFAULT_ADMIN_URL)
    parser.add_argument("--database", default="sf_bench_oee")
    args = parser.parse_args(argv)
    if args.machines < 1 or not 1 <= args.days <= 365:
        parser.error("at least one machine, 1 to 365 days")
    return args


def shopfloor_side(url: str, layout: Layout) -> tuple[float, list[Any]]:
    from shopfloor.bootstrap import build_runtime
    from shopfloor.machines.oee_parallel import start_workers
    from shopfloor.machines.oee_queries import oee
    from shopfloor.platform.settings import load_settings

    runtime = build_runtime(load_settings(database_url=url, demo=False))
    started = start_workers(None)  # as `shopfloor serve` does at start-up
    console.print(f"shopfloor: {started} OEE worker process(es) started before the timed call")
    try:
        with runtime.sessions() as session:
            began = time.perf_counter()
            rows = oee(session, start=START, end=layout.end, group_by=["equipment", "shift"])
            return time.perf_counter() - began, rows
    finally:
        runtime.close()


def prepare(url: str, layout: Layout) -> dict[str, int]:
    from shopfloor.bootstrap import build_runtime
    from shopfloor.platform.migrate import upgrade
    from shopfloor.platform.settings import load_settings

    runtime = build_runtime(load_settings(database_url=url, demo=False))
    try:
        upgrade(runtime.engine)
        with runtime.unit_of_work() as uow:
            machines = build_plant(uow.session, layout)
            uow.commit()
    finally:
        runtime.close()
    return machines


def seal(url: str, dsn: str) -> str:
    """Seal every closed day (untimed: storage); a line on what it took and made."""
    import psycopg

    from shopfloor.bootstrap import build_runtime
    from shopfloor.kernel.clock import utc_now
    from shopfloor.platform.settings import load_settings
    from shopfloor.workers.machine_watch import seal_all

    settings = load_settings(database_url=url, demo=False)
    runtime = build_runtime(settings)
    try:
        began = time.perf_counter()
        seal_after = timedelta(hours=settings.signal_seal_after_hours)
        report = seal_all(runtime, now=utc_now(), seal_after=seal_after)
        took = time.perf_counter() - began
    finally:
        runtime.close()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ANALYZE mch_signal_block")
        sizes = conn.execute(
            "SELECT pg_total_relation_size('mch_signal_block'), "
            "pg_total_relation_size('mch_signal')"
        ).fetchone()
    assert sizes is not None
    blocks, raw = sizes
    return (
        f"  sealed {report.days:,} equipment-days ({report.samples:,} samples) into "
        f"{report.blocks:,} blocks in {took:.1f} s: {blocks / 2**20:.0f} MB of blocks "
        f"beside {raw / 2**20:,.0f} MB of raw rows (table and index)"
    )


def differences(ours: list[Any], floor: list[tuple[Any, ...]], ids: dict[str, int]) -> int:
    """Groups whose planned production, run time, counts or ideal time differ."""
    code_of = {i: code for code, i in ids.items()}
    theirs = {(code_of[r[0]], r[1], r[2]): r[3:] for r in floor}
    differ = 0
    for row in ours:
        key = (row.group["equipment"], row.group["production_day"], row.group["shift"])
        run, planned, total, reject, ideal, ideal_reject = theirs.pop(key, (0,) * 6)
        mine = (
            row.minutes["run"] * 60_000,
            row.minutes["planned_production"] * 60_000,
            row.total_count,
            row.reject_count,
            row.minutes["net_run"] * 60_000,
            (row.minutes["net_run"] - row.minutes["fully_productive"]) * 60_000,
        )
        other = (run, planned, total, reject, ideal, ideal_reject)
        if any(
            abs(Decimal(str(a)) - Decimal(str(b))) > Decimal("0.01")
            for a, b in zip(mine, other, strict=True)
        ):
            differ += 1
    return differ + len(theirs)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    warn_if_busy()
    layout = Layout(args.machines, args.days, args.seed)
    cores = os.cpu_count() or 1
    console.print(
        f"[bold]oee[/]: {layout.machines} machines x {layout.days} days, OEE per "
        f"equipment per shift; DuckDB on {cores} threads"
    )
    with pg.fresh_database(args.database_url_admin, args.database) as url:
        ids = prepare(url, layout)
        dsn = pg.app_url(args.database_url_admin, args.database).replace("+psycopg", "")
        with console.status("COPY of the signals into PostgreSQL"):
            rows = copy_signals(dsn, ids, layout)
        console.print(f"  {rows:,} signal rows stored")
        with console.status("sealing the closed days (storage, untimed)"):
            console.print(seal(url, dsn))
        with tempfile.TemporaryDirectory() as folder, console.status("export for DuckDB"):
            export(dsn, Path(folder), layout)
            con = load(Path(folder), cores)
        with console.status("DuckDB"):
            compute(con, layout, int(HEARTBEAT_S * 1000), int(MICRO_STOP_S * 1000))  # warm-up
            floor_s, floor_rows = compute(
                con, layout, int(HEARTBEAT_S * 1000), int(MICRO_STOP_S * 1000)
            )
        with console.status("shopfloor"):
            ours_s, ours = shopfloor_side(url, layout)
    differ = differences(ours, floor_rows, ids)
    table = Table(title="OEE per equipment per shift, full recompute")
    for column in ("side", "seconds", "groups"):
        table.add_column(column, justify="right")
    table.add_row("shopfloor", f"{ours_s:.2f}", f"{len(ours):,}")
    table.add_row("duckdb", f"{floor_s:.2f}", f"{len(floor_rows):,}")
    console.print(table)
    console.print(f"groups whose figures differ: {differ}")
    print(f"{NAME}: ratio={ours_s / floor_s:.2f} seconds={ours_s:.2f}")
    return 1 if differ else 0
