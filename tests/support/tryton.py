"""A real Tryton 8.2 for the ERP tests, in its own virtualenv and its own process.

The initialised template database (modules activated, reference data of
`tryton_seed.py` loaded) is built once per test run and shared by the xdist workers: a
file lock and a cache directory under var/ keyed by the hash of requirements/tryton.txt
and of the seed script. Each test copies the template, starts `trytond` on a free port
and waits until the adapter's user can log in. Tryton not starting is a failure, never a
skip. `make tryton` creates `.venv-tryton`.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import pytest

from shopfloor.integration.erp.tryton_rpc import decode, encode

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-tryton"
REQUIREMENTS = ROOT / "requirements" / "tryton.txt"
SEED = Path(__file__).with_name("tryton_seed.py")
CACHE = ROOT / "var" / "tryton-cache"
MODULES = ("production_work", "production_routing", "stock_lot")
ADMIN_PASSWORD = "admin-password-for-tests"
ADAPTER_USER, ADAPTER_PASSWORD = "shopfloor", "adapter-password-for-tests"
DATABASE = "erp"
MOVE_FIELDS = ("product", "unit", "quantity", "from_location", "to_location", "company", "currency",
               "unit_price")  # fmt: skip


def _bin(name: str) -> Path:
    path = VENV / "bin" / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make tryton` (Tryton's own virtualenv)", False)
    return path


def _conf(directory: Path, port: int) -> Path:
    conf = directory / "trytond.conf"
    conf.write_text(
        f"[database]\nuri = sqlite://\npath = {directory}\n"
        f"[web]\nlisten = 127.0.0.1:{port}\n[session]\nmax_attempt = 100\n"
    )
    return conf


def template() -> Path:
    """The initialised template database, built once for all workers of this run."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes() + SEED.read_bytes()).hexdigest()[:16]
    ready = CACHE / digest / f"{DATABASE}.sqlite"
    if ready.exists():
        return ready
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not ready.exists():
            _build(ready)
    return ready


def _build(ready: Path) -> None:
    work = ready.parent.with_suffix(".building")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (work / f"{DATABASE}.sqlite").touch()
    conf = _conf(work, 0)
    secret = work / "admin-password"
    secret.write_text(ADMIN_PASSWORD)
    env = {**os.environ, "TRYTONPASSFILE": str(secret)}
    admin = [str(_bin("trytond-admin")), "-c", str(conf), "-d", DATABASE, "--all", "-u",
             *MODULES, "--activate-dependencies", "--email", "admin@example.com"]  # fmt: skip
    for command in (admin, [str(_bin("python")), str(SEED), str(conf), DATABASE,
                            ADAPTER_PASSWORD]):  # fmt: skip
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            pytest.fail(f"building the Tryton template failed:\n{done.stderr[-3000:]}", False)
    secret.unlink()
    work.rename(ready.parent)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Rpc:
    """A small synchronous JSON-RPC client for the tests (the ERP user's side)."""

    def __init__(self, url: str, user: str, password: str) -> None:
        self.endpoint, self.user, self.password = f"{url}/{DATABASE}/rpc/", user, password
        self.http = httpx.Client(timeout=30)
        self.ids = count(1)
        self.context: dict[str, Any] = {}
        self.auth: dict[str, str] = {}

    def _post(self, method: str, params: list[Any]) -> Any:
        body = json.dumps({"id": next(self.ids), "method": method, "params": encode(params)})
        headers = {"Content-Type": "application/json", **self.auth}
        answer = decode(self.http.post(self.endpoint, content=body, headers=headers).content)
        if answer.get("error"):
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def login(self) -> None:
        user_id, session = self._post("common.db.login", [self.user, {"password": self.password},
                                                          "en"])[:2]  # fmt: skip
        import base64

        token = base64.b64encode(f"{self.user}:{user_id}:{session}".encode()).decode()
        self.auth = {"Authorization": f"Session {token}"}
        self.context = self._post("model.res.user.get_preferences", [True, {}])

    def __call__(self, model: str, method: str, *args: Any, **context: Any) -> Any:
        if not self.auth:
            self.login()
        return self._post(f"model.{model}.{method}", [*args, {**self.context, **context}])

    def one(self, model: str, domain: list[Any]) -> int:
        [found] = self(model, "search", domain, 0, None, None)
        return int(found)

    def close(self) -> None:
        self.http.close()


@dataclass
class TrytonServer:
    """One test's Tryton: its own copy of the template, its own port and process."""

    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    database = DATABASE
    user, password = ADAPTER_USER, ADAPTER_PASSWORD

    def options(self, **extra: Any) -> dict[str, Any]:
        """The adapter's options for this server."""
        return {"url": self.url, "database": DATABASE, "user": ADAPTER_USER,
                "password": ADAPTER_PASSWORD, "units": {"u": "pcs"}, **extra}  # fmt: skip

    def start(self, timeout: float = 60) -> None:
        conf = _conf(self.directory, self.port)
        log = open(self.directory / "trytond.log", "ab")  # noqa: SIM115 - the process keeps it
        self.process = subprocess.Popen(
            [str(_bin("trytond")), "-c", str(conf), "-d", DATABASE],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.directory,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                probe = Rpc(self.url, ADAPTER_USER, ADAPTER_PASSWORD)
                probe.login()
                probe.close()
                return
            except (httpx.HTTPError, RuntimeError, TypeError):
                time.sleep(0.3)
        tail = (self.directory / "trytond.log").read_text(errors="replace")[-3000:]
        self.stop()
        pytest.fail(f"Tryton did not start on {self.url}:\n{tail}", False)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def rpc(self, user: str = "admin") -> Rpc:
        password = ADMIN_PASSWORD if user == "admin" else ADAPTER_PASSWORD
        return Rpc(self.url, user, password)

    # --- the ERP user's side ----------------------------------------------------------

    def create_production(self, quantity: int = 20, due: date = date(2026, 3, 6)) -> str:
        """A WS-100 production with its BOM and routing, waiting (numbered); its number."""
        rpc = self.rpc()
        try:
            values: dict[str, Any] = {
                "product": rpc.one("product.product", [("code", "=", "WS-100")]),
                "bom": rpc.one("production.bom", [("name", "=", "WS-100")]),
                "routing": rpc.one("production.routing", [("name", "=", "WS-100")]),
                "work_center": rpc.one("production.work.center", [("name", "=", "LINE-1")]),
                "warehouse": rpc.one("stock.location", [("code", "=", "WH")]),
                "location": rpc.one("stock.location", [("code", "=", "PROD")]),
                "quantity": float(quantity), "unit": 1, "type": "assembly",
                "company": rpc.context["company"],
                "planned_date": due, "planned_start_date": due - timedelta(days=4),
            }  # fmt: skip
            changes = rpc("production", "on_change", values, ["bom"])
            for key in ("inputs", "outputs"):
                moves = [{k: v for k, v in m.items() if k in MOVE_FIELDS}
                         for _, m in changes[key]["add"]]  # fmt: skip
                values[key] = [("create", moves)]
            [production] = rpc("production", "create", [values])
            rpc("production", "wait", [production])
            [row] = rpc("production", "read", [production], ["number"])
            return str(row["number"])
        finally:
            rpc.close()

    def production(self, number: str) -> dict[str, Any]:
        rpc = self.rpc()
        try:
            [row] = rpc("production", "search_read", [("number", "=", number)], 0, None, None,
                        ["state", "inputs", "outputs", "works"])  # fmt: skip
            return dict(row)
        finally:
            rpc.close()

    def stock(self, product: str, location: str, lot: str | None = None) -> Decimal:
        """The quantity of a product (of one lot) in a location, as Tryton counts it."""
        rpc = self.rpc()
        try:
            where = rpc.one("stock.location", [("code", "=", location)])
            product_id = rpc.one("product.product", [("code", "=", product)])
            if lot is None:
                [row] = rpc("product.product", "read", [product_id], ["quantity"],
                            locations=[where])  # fmt: skip
            else:
                lot_id = rpc.one("stock.lot", [("number", "=", lot), ("product", "=", product_id)])
                [row] = rpc("stock.lot", "read", [lot_id], ["quantity"], locations=[where])
            return Decimal(str(row["quantity"])).normalize()
        finally:
            rpc.close()

    def ledger(self, number: str) -> dict[str, Any]:
        """The adapter's ledger attached to the production (event id → fact)."""
        rpc = self.rpc()
        try:
            production = rpc.one("production", [("number", "=", number)])
            rows = rpc("ir.attachment", "search_read",
                       [("resource", "=", f"production,{production}")], 0, None, None,
                       ["name", "data"])  # fmt: skip
            return dict(json.loads(rows[0]["data"])) if rows else {}
        finally:
            rpc.close()


def started(directory: Path) -> TrytonServer:
    """A running Tryton on a fresh copy of the template."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template(), directory / f"{DATABASE}.sqlite")
    server = TrytonServer(directory)
    server.start()
    return server


@pytest.fixture
def tryton(tmp_path: Path) -> Any:
    """A running Tryton ERP with the WS-100 reference data (see `tryton_seed.py`)."""
    server = started(tmp_path / "tryton")
    try:
        yield server
    finally:
        server.stop()


def pull_into(runtime: Any, server: TrytonServer, cursor: str | None = None) -> list[Any]:
    """One pull of the `tryton` adapter, filed and applied by shopfloor's ERP inbox."""
    import asyncio

    from shopfloor.integration.erp.tryton import TrytonAdapter
    from shopfloor.integration.inbox import service as inbox
    from shopfloor.kernel.context import SYSTEM

    async def pull() -> Any:
        adapter = TrytonAdapter(server.options())
        try:
            return await adapter.pull(cursor)
        finally:
            await adapter.close()

    pulled = asyncio.run(pull())
    with runtime.unit_of_work() as uow:
        received = inbox.receive(uow.session, runtime.context(SYSTEM), "tryton", pulled.documents)
        uow.commit()
    return list(received)
