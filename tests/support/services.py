"""Real services the integration tests talk to: start one when it is absent, fail loudly
when it still does not come up (in CI nothing may be skipped for a missing service)."""

from __future__ import annotations

import fcntl
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def listening(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def ensure_running(name: str, port: int, command: list[str], *, wait: float = 10.0) -> None:
    """Start `command` when nothing listens on `port`; fail the test if it never does."""
    if listening(port):
        return
    subprocess.run(command, check=False, capture_output=True)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if listening(port):
            return
        time.sleep(0.1)
    pytest.fail(f"{name} is not listening on 127.0.0.1:{port} and could not be started",
                pytrace=False)  # fmt: skip


@contextmanager
def one_at_a_time(service: str) -> Iterator[None]:
    """Hold the machine-wide lock of a shared service (a locked file) for a test that stops
    it, or that would see it stopped under its feet: such tests run one after another
    whichever xdist worker they are on. (`xdist_group` markers do not group anything with
    pytest 9 and xdist 3.8: the group is never added to the node ids.)"""
    path = Path(tempfile.gettempdir()) / f"shopfloor-tests-{service}.lock"
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
