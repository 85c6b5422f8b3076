"""A worker as a daemon thread of the server process: the embedded default, where one
`shopfloor serve` (or `demo`) also relays the outbox, pulls ERP and watches the machines."""

from __future__ import annotations

import threading
from typing import Protocol

from shopfloor.bootstrap import Runtime


class Worker(Protocol):
    runtime: Runtime

    def run(self, stop: threading.Event) -> None:
        """Pass after pass until `stop` is set, finishing the work in hand."""
        ...

    def close(self) -> None: ...


class Background:
    def __init__(self, worker: Worker, name: str) -> None:
        self.worker = worker
        self._stop = threading.Event()
        self._thread = threading.Thread(target=worker.run, args=(self._stop,), name=name,
                                        daemon=True)  # fmt: skip

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the worker to stop, give it 30 s to settle what it holds, then close it."""
        self._stop.set()
        self._thread.join(timeout=30)
        self.worker.close()
