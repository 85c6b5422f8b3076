"""Serving an app for a benchmark: uvicorn in its own process group, started the same way
for shopfloor and for the floor, waited for on a health path, and always stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[2]  # the checkout, so `bench.lib...` imports


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running server: where it listens, and its process group (for CPU accounting)."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pgid(self) -> int:
        return self.process.pid  # started with start_new_session: it leads its group

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def uvicorn_command(factory: str, port: int, workers: int) -> list[str]:
    """The one way both apps are served: uvicorn, app factory, N workers, quiet logs."""
    return [
        sys.executable, "-m", "uvicorn", factory, "--factory",
        "--host", HOST, "--port", str(port), "--workers", str(workers),
        "--log-level", "warning", "--no-access-log", "--app-dir", str(ROOT),
    ]  # fmt: skip


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError):
        return False


def _stop(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM to the server's own process group (its workers too), then SIGKILL."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def serve(
    name: str,
    factory: str,
    health_path: str,
    workers: int,
    env: Mapping[str, str],
    *,
    startup_seconds: float = 60.0,
) -> Iterator[Server]:
    """Start `factory` under uvicorn, wait until `health_path` answers 2xx, yield, stop."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix=f"bench-{name}-", suffix=".log")[1])
    with log.open("wb") as sink:
        process = subprocess.Popen(
            uvicorn_command(factory, port, workers),
            env={**os.environ, **env},
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = Server(name, port, process, log)
    try:
        deadline = time.monotonic() + startup_seconds
        while not _healthy(server.base_url + health_path):
            if process.poll() is not None:
                raise SystemExit(f"{name} server exited on start-up:\n{server.log_tail()}")
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"{name} server not healthy after {startup_seconds:.0f} s:\n{server.log_tail()}"
                )
            time.sleep(0.2)
        yield server
    finally:
        _stop(process)
        log.unlink(missing_ok=True)
