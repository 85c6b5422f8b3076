"""`python -m bench api`: operator transactions through HTTP on PostgreSQL.

A transaction is a production report (`POST /api/v1/operations/{id}/production`, 1 good)
and a material consumption (`POST /api/v1/orders/{id}/consumption`, the component's norm
for one unit) — two HTTP requests, each its own shopfloor command with its own
Idempotency-Key, audit entry and outbox event. N clients (one running order each) send them
over keep-alive connections for a fixed time after a warm-up.

The floor is `bench/lib/floor_app.py`: a bare FastAPI app inserting one row per POST,
served the same way (uvicorn, same workers, same host, same wrk clients and duration).

Last line: `api: ratio=<req/s shopfloor ÷ req/s floor> tx_per_s=<successful shopfloor
requests/s> p99_ms=<shopfloor p99> p99_ratio=<p99 shopfloor ÷ p99 floor>`.

`--against CHECKOUT` serves shopfloor from another checkout in the floor's place: the two
alternate rounds under the same load, so a change is measured against what it changes
(the machine's drift falls on both alike).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from bench.lib import floor_app, pg, wrk
from bench.lib.plant import Plant, seed
from bench.lib.report import (
    Side,
    Target,
    console,
    last_line,
    measure,
    summary_table,
    warn_if_busy,
)
from bench.lib.server import Server, serve

NAME = "api"
API = "/api/v1"
SHOPFLOOR_FACTORY = "shopfloor.api.factory:app_from_environment"
FLOOR_FACTORY = "bench.lib.floor_app:create_app"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench api",
        description="Operator transactions (production report + material consumption) "
        "through HTTP on PostgreSQL, against a bare FastAPI insert as the floor.",
    )
    parser.add_argument(
        "--seconds", type=int, default=15, help="measured seconds per side (default 15)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="alternating rounds the measured time is split into (default 3; 1 = one block)",
    )
    parser.add_argument("--warmup", type=int, default=3, help="warm-up seconds (default 3)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    parser.add_argument(
        "--workers", type=int, default=2, help="uvicorn workers, same for both (default 2)"
    )
    parser.add_argument(
        "--database-url-admin",
        default=pg.DEFAULT_ADMIN_URL,
        help=f"PostgreSQL admin URL to create/drop the database (default {pg.DEFAULT_ADMIN_URL})",
    )
    parser.add_argument(
        "--database", default="sf_bench_api", help="database created and dropped by the run"
    )
    parser.add_argument(
        "--profile",
        type=int,
        metavar="N",
        default=0,
        help="instead of the load test: profile N transactions in-process (cProfile)",
    )
    parser.add_argument(
        "--trace-sql",
        action="store_true",
        help="with --profile: print the SQL statements of one transaction instead",
    )
    parser.add_argument(
        "--against",
        metavar="CHECKOUT",
        help="instead of the floor: serve shopfloor from another checkout (say a git worktree "
        "of an earlier commit) the same way, and compare the two (an A/B of a change)",
    )
    args = parser.parse_args(argv)
    if min(args.clients, args.workers, args.seconds, args.rounds) < 1 or args.warmup < 0:
        parser.error("clients, workers, seconds and rounds must be ≥ 1, warm-up ≥ 0")
    return args


# --- requests -------------------------------------------------------------------------


def _body(value: Mapping[str, object]) -> str:
    return json.dumps(value, separators=(",", ":"))


def shopfloor_slots(plant: Plant) -> list[list[wrk.Request]]:
    """Per client: report 1 good at its operation, then consume the norm for one unit."""
    production = _body({"kind": "good", "quantity": "1"})
    consumption = _body(
        {"item_code": plant.component, "quantity": str(plant.consume_per_unit),
         "lot_code": plant.lot}
    )  # fmt: skip
    return [
        [
            wrk.Request(f"{API}/operations/{o.operation_id}/production", production),
            wrk.Request(f"{API}/orders/{o.order_id}/consumption", consumption),
        ]
        for o in plant.orders
    ]


def floor_slots(clients: int) -> list[list[wrk.Request]]:
    """The same shape of traffic for the floor: two POSTs per client, one row each."""
    return [
        [
            wrk.Request(f"/floor/{n}/facts", _body({"kind": "good", "quantity": "1"})),
            wrk.Request(f"/floor/{n}/facts", _body({"kind": "consume", "quantity": "2"})),
        ]
        for n in range(clients)
    ]


def _post(url: str, body: str, headers: Mapping[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body.encode(), headers=dict(headers), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def sign_in(server: Server, plant: Plant) -> str:
    status, text = _post(
        f"{server.base_url}{API}/auth/login",
        _body({"username": plant.operator, "password": plant.password}),
        {"Content-Type": "application/json"},
    )
    if status != 200:
        raise SystemExit(f"signing in the operator failed ({status}): {text[:500]}")
    return str(json.loads(text)["token"])


def smoke(target: Target) -> None:
    """Send each kind of request once, so a wrong route or body fails fast and clearly."""
    server = target.server
    for request in target.slots[0]:
        headers = {**target.headers, "Idempotency-Key": f"smoke-{uuid.uuid4().hex}"}
        status, text = _post(server.base_url + request.path, request.body, headers)
        if not 200 <= status < 300:
            raise SystemExit(
                f"{server.name}: POST {request.path} answered {status}: {text[:800]}\n"
                f"server log (tail):\n{server.log_tail()}"
            )


# --- the run --------------------------------------------------------------------------


def prepare(url: str, clients: int) -> Plant:
    """Migrate the fresh database, seed the plant in-process through the services, and
    create the floor's table."""
    from shopfloor.bootstrap import build_runtime
    from shopfloor.platform.migrate import upgrade
    from shopfloor.platform.settings import load_settings

    settings = load_settings(database_url=url, secret_key=secrets.token_urlsafe(32))
    runtime = build_runtime(settings)
    try:
        upgrade(runtime.engine)
        floor_app.create_table(runtime.engine)
        return seed(runtime, clients)
    finally:
        runtime.close()


def measure_both(url: str, plant: Plant, args: argparse.Namespace) -> tuple[Side, Side]:
    """Serve shopfloor and the floor side by side, the same way; measure both."""
    shopfloor_env = {
        "SHOPFLOOR_DATABASE_URL": url,
        "SHOPFLOOR_SECRET_KEY": secrets.token_urlsafe(32),
        "SHOPFLOOR_DEMO": "false",
    }
    floor_env = {"BENCH_FLOOR_DATABASE_URL": url}
    with contextlib.ExitStack() as stack:
        with console.status(f"starting both servers with {args.workers} worker(s) each"):
            if args.against:  # the other checkout's package first on the path
                other = {**shopfloor_env, "PYTHONPATH": str(Path(args.against, "src").resolve())}
                fsrv = stack.enter_context(
                    serve("against", SHOPFLOOR_FACTORY, "/healthz", args.workers, other)
                )
            else:
                fsrv = stack.enter_context(
                    serve("floor", FLOOR_FACTORY, floor_app.HEALTH_PATH, args.workers, floor_env)
                )
            ssrv = stack.enter_context(
                serve("shopfloor", SHOPFLOOR_FACTORY, "/healthz", args.workers, shopfloor_env)
            )
        token = sign_in(ssrv, plant)
        targets = [Target("shopfloor", ssrv, shopfloor_slots(plant), _headers(token))]
        if args.against:
            targets.append(
                Target("against", fsrv, shopfloor_slots(plant), _headers(sign_in(fsrv, plant)))
            )
        else:  # the floor gets a bearer header of the same size, which it ignores
            targets.append(
                Target("floor", fsrv, floor_slots(args.clients), _headers("x" * len(token)))
            )
        for target in targets:
            smoke(target)
        shopfloor, floor = measure(
            targets, warmup=args.warmup, seconds=args.seconds, rounds=args.rounds
        )
    return shopfloor, floor


def _headers(token: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}


def profile(url: str, plant: Plant, transactions: int, trace: bool = False) -> None:
    """Time shopfloor and the floor in-process, then profile shopfloor's request path."""
    from bench.lib import profiling
    from shopfloor.api.app import create_app
    from shopfloor.bootstrap import build_runtime
    from shopfloor.platform.db import make_engine
    from shopfloor.platform.settings import load_settings

    profiling.run_sync_endpoints_inline()
    runtime = build_runtime(load_settings(database_url=url, secret_key=secrets.token_urlsafe(32)))
    floor_engine = make_engine(url)
    try:
        app = create_app(runtime, background=False)
        login = wrk.Request(
            f"{API}/auth/login", _body({"username": plant.operator, "password": plant.password})
        )
        token = profiling.sign_in(app, login)
        shopfloor = profiling.InProcess(
            app, runtime.engine, shopfloor_slots(plant), _headers(token)
        )
        floor = profiling.InProcess(
            floor_app.create_app(floor_engine), floor_engine, floor_slots(len(plant.orders)),
            _headers("x" * len(token)),
        )  # fmt: skip
        if trace:
            shopfloor.trace()
            return
        shopfloor.timed("shopfloor", transactions)
        floor.timed("floor", transactions)
        shopfloor.profile(transactions)
    finally:
        floor_engine.dispose()
        runtime.close()


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    if not args.profile:
        wrk.require_wrk()
    warn_if_busy()
    if args.profile:
        console.print(f"[bold]api benchmark[/]: profiling {args.profile} transactions in-process")
    else:
        console.print(
            f"[bold]api benchmark[/]: {args.clients} clients, {args.workers} uvicorn worker(s), "
            f"{args.warmup} s warm-up + {args.seconds} s measured in {args.rounds} round(s) "
            f"per side, PostgreSQL database {args.database}"
        )
    with pg.fresh_database(args.database_url_admin, args.database) as url:
        started = time.monotonic()
        with console.status("migrating and seeding the plant"):
            plant = prepare(url, args.clients)
        console.print(
            f"seeded {len(plant.orders)} running orders in {time.monotonic() - started:.1f} s"
        )
        if args.profile:
            profile(url, plant, args.profile, trace=args.trace_sql)
            return 0
        shopfloor, floor = measure_both(url, plant, args)
    console.print(summary_table("API benchmark (requests of all rounds)", [shopfloor, floor]))
    failed = shopfloor.failures + floor.failures
    if failed:
        console.print(f"[bold red]{failed} request(s) failed[/] (every answer must be 2xx)")
    name = f"{NAME} (this checkout ÷ {args.against})" if args.against else NAME
    print(last_line(name, shopfloor, floor), flush=True)
    return 1 if failed else 0
