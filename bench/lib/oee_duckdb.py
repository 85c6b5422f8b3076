"""The floor of `python -m bench oee`: DuckDB computing the same OEE figures per equipment
per shift from the same rows, exported from PostgreSQL (untimed) and loaded into DuckDB
tables (untimed); only the query is timed.

The query applies shopfloor's conventions (docs/oee.md): a gap between two signs of life
longer than the heartbeat timeout is offline from the earlier one; before the first sign of
life, and after the last one when the timeout passed before the end, the machine is
offline; a run of touching down/idle pieces shorter than the micro-stop threshold is a
micro-stop (run time); a break is a planned stop whatever the machine did; a counter that
goes down was reset; a count belongs to the shift and product of the instant just before
its sample.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import psycopg

from bench.lib.oee_data import BREAK, PRODUCTS, SHIFTS, START, Layout

EXPORT = (
    "COPY (SELECT equipment_id, metric, (extract(epoch FROM device_time) * 1000)::int8, "
    "num_value, text_value FROM mch_signal) TO STDOUT (FORMAT csv)"
)


def _ms(moment: datetime) -> int:
    return int((moment - datetime(1970, 1, 1, tzinfo=moment.tzinfo)).total_seconds() * 1000)


def export(dsn: str, folder: Path, layout: Layout) -> None:
    """The signal rows, the shift windows and breaks, and the ideal cycle times as CSV."""
    with (
        psycopg.connect(dsn) as conn,
        conn.cursor() as cursor,
        (folder / "sig.csv").open("wb") as out,
        cursor.copy(EXPORT) as copy,
    ):
        for chunk in copy:
            out.write(chunk)
    shifts, breaks = [], []
    day = START.date() - timedelta(days=1)
    while day <= layout.end.date():
        for code, starts_at in SHIFTS:
            begin = datetime.combine(day, starts_at, tzinfo=START.tzinfo)
            shifts.append((code, day.isoformat(), _ms(begin), _ms(begin + timedelta(hours=8))))
            pause = begin + timedelta(minutes=BREAK[1])
            breaks.append((_ms(pause), _ms(pause + timedelta(minutes=BREAK[2]))))
        day += timedelta(days=1)
    _write(folder / "shifts.csv", shifts)
    _write(folder / "breaks.csv", breaks)
    _write(folder / "cycles.csv", [(p, float(s) * 1000) for p, s in PRODUCTS.items()])


def _write(path: Path, rows: Sequence[tuple[Any, ...]]) -> None:
    with path.open("w", newline="") as out:
        csv.writer(out).writerows(rows)


def load(folder: Path, threads: int) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    con.execute(
        f"CREATE TABLE sig AS SELECT * FROM read_csv('{folder / 'sig.csv'}', header = false, "
        "columns = {'e': 'INTEGER', 'metric': 'VARCHAR', 't': 'BIGINT', 'num': 'DOUBLE', "
        "'txt': 'VARCHAR'})"
    )
    con.execute(
        f"CREATE TABLE shifts AS SELECT * FROM read_csv('{folder / 'shifts.csv'}', "
        "header = false, columns = {'shift': 'VARCHAR', 'day': 'DATE', 's': 'BIGINT', "
        "'f': 'BIGINT'})"
    )
    con.execute(
        f"CREATE TABLE breaks AS SELECT * FROM read_csv('{folder / 'breaks.csv'}', "
        "header = false, columns = {'s': 'BIGINT', 'f': 'BIGINT'})"
    )
    con.execute(
        f"CREATE TABLE cycles AS SELECT * FROM read_csv('{folder / 'cycles.csv'}', "
        "header = false, columns = {'product': 'VARCHAR', 'ms': 'DOUBLE'})"
    )
    return con


QUERY = """
WITH alive AS (SELECT DISTINCT e, t FROM sig),
lagged AS (SELECT e, t, lag(t) OVER (PARTITION BY e ORDER BY t) AS prev FROM alive),
gaps AS (SELECT e, prev AS gs, t AS ge FROM lagged WHERE t - prev > $timeout),
ends AS (SELECT e, min(t) AS first_t, max(t) AS last_t FROM alive GROUP BY e),
states AS (SELECT e, t, split_part(txt, ':', 1) AS st FROM sig WHERE metric = 'state'),
calendar_edges AS (
    SELECT s AS b FROM shifts UNION SELECT f FROM shifts UNION SELECT s FROM breaks
    UNION SELECT f FROM breaks UNION SELECT $win_start UNION SELECT $win_end),
edges AS (
    SELECT e, t AS b FROM states UNION SELECT e, gs FROM gaps UNION SELECT e, ge FROM gaps
    UNION SELECT e, first_t FROM ends
    UNION SELECT e, last_t FROM ends WHERE $win_end - last_t > $timeout
    UNION SELECT n.e, c.b FROM ends n CROSS JOIN calendar_edges c),
pieces AS (
    SELECT e, b AS s, lead(b) OVER (PARTITION BY e ORDER BY b) AS f
    FROM edges WHERE b >= $win_start AND b <= $win_end),
stated AS (
    SELECT p.e, p.s, p.f,
        CASE WHEN p.s < n.first_t THEN 'offline'
             WHEN g.ge IS NOT NULL AND p.s < g.ge THEN 'offline'
             WHEN $win_end - n.last_t > $timeout AND p.s >= n.last_t THEN 'offline'
             ELSE coalesce(st.st, 'offline') END AS st
    FROM pieces p JOIN ends n ON n.e = p.e
    ASOF LEFT JOIN gaps g ON p.e = g.e AND g.gs <= p.s
    ASOF LEFT JOIN states st ON p.e = st.e AND st.t <= p.s
    WHERE p.f IS NOT NULL),
flagged AS (
    SELECT *, st IN ('down', 'idle') AS stop,
        coalesce(lag(st IN ('down', 'idle')) OVER (PARTITION BY e ORDER BY s), false) AS after
    FROM stated),
runs AS (
    SELECT *, sum(CASE WHEN stop AND after THEN 0 ELSE 1 END)
        OVER (PARTITION BY e ORDER BY s) AS run FROM flagged),
runlen AS (SELECT e, run, sum(f - s) AS len FROM runs GROUP BY e, run),
placed AS (
    SELECT r.e, r.f - r.s AS ms, r.st, r.stop AND l.len < $micro AS micro,
        sh.shift, sh.day, (sh.s IS NOT NULL AND r.s < sh.f) AS sched,
        (b.s IS NOT NULL AND r.s < b.f) AS pause
    FROM runs r JOIN runlen l ON l.e = r.e AND l.run = r.run
    ASOF LEFT JOIN shifts sh ON sh.s <= r.s
    ASOF LEFT JOIN breaks b ON b.s <= r.s),
times AS (
    SELECT e, CASE WHEN sched THEN day END AS day, CASE WHEN sched THEN shift END AS shift,
        sum(ms) FILTER (WHERE sched AND NOT pause AND st = 'running') AS running,
        sum(ms) FILTER (WHERE sched AND NOT pause AND micro) AS micro,
        sum(ms) FILTER (WHERE sched AND NOT pause AND st IN ('down', 'idle', 'setup')
                        AND NOT micro) AS stopped,
        sum(ms) FILTER (WHERE sched AND pause) AS planned_stop,
        sum(ms) FILTER (WHERE sched AND NOT pause AND st = 'offline') AS offline
    FROM placed GROUP BY ALL),
incr AS (
    SELECT e, metric, t, CASE WHEN num >= prev THEN num - prev ELSE num END AS n
    FROM (SELECT e, metric, t, num,
                 lag(num) OVER (PARTITION BY e, metric ORDER BY t) AS prev
          FROM sig WHERE metric IN ('total', 'reject'))
    WHERE prev IS NOT NULL),
products AS (SELECT e, t, txt AS product FROM sig WHERE metric = 'product'),
counted AS (
    SELECT i.e, i.metric, i.n, c.ms AS cycle,
        CASE WHEN sh.s IS NOT NULL AND i.t <= sh.f THEN sh.day END AS day,
        CASE WHEN sh.s IS NOT NULL AND i.t <= sh.f THEN sh.shift END AS shift
    FROM incr i
    ASOF LEFT JOIN products pr ON i.e = pr.e AND pr.t < i.t
    ASOF LEFT JOIN shifts sh ON sh.s < i.t
    LEFT JOIN cycles c ON c.product = pr.product),
counts AS (
    SELECT e, day, shift,
        sum(n) FILTER (WHERE metric = 'total') AS total,
        sum(n) FILTER (WHERE metric = 'reject') AS reject,
        sum(n * cycle) FILTER (WHERE metric = 'total') AS ideal,
        sum(n * cycle) FILTER (WHERE metric = 'reject') AS ideal_reject
    FROM counted GROUP BY ALL)
SELECT t.e, t.day, t.shift,
    coalesce(running, 0) + coalesce(micro, 0) AS run,
    coalesce(running, 0) + coalesce(micro, 0) + coalesce(stopped, 0) AS planned,
    coalesce(total, 0) AS total, coalesce(reject, 0) AS reject,
    coalesce(ideal, 0) AS ideal, coalesce(ideal_reject, 0) AS ideal_reject
FROM times t LEFT JOIN counts c
    ON c.e = t.e AND c.day IS NOT DISTINCT FROM t.day AND c.shift IS NOT DISTINCT FROM t.shift
"""


def compute(
    con: duckdb.DuckDBPyConnection, layout: Layout, timeout_ms: int, micro_ms: int
) -> tuple[float, list[tuple[Any, ...]]]:
    """Seconds the query took, and its rows: (equipment id, day, shift, run ms, planned
    production ms, total, reject, ideal ms, ideal reject ms)."""
    params = {
        "timeout": timeout_ms,
        "micro": micro_ms,
        "win_start": _ms(START),
        "win_end": _ms(layout.end),
    }
    began = time.perf_counter()
    rows = con.execute(QUERY, params).fetchall()
    return time.perf_counter() - began, rows
