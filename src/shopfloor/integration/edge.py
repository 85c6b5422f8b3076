"""The async edge: one event loop in a background thread, where the transports live.

The relay's core is synchronous (SQLAlchemy sessions); it hands a batch of messages to the
loop and waits for the outcomes. Connections (HTTP keep-alive, the NATS connection) stay
open on the loop between batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


class EdgeLoop:
    """`loop.run(coroutine)` from any thread; `close()` stops the loop and its thread."""

    def __init__(self, name: str = "relay-edge") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return self.submit(coroutine).result(timeout)

    def close(self) -> None:
        """Cancel what still runs on the loop (client background tasks), then stop it."""
        if self._loop.is_closed():
            return
        with contextlib.suppress(Exception):  # closing anyway
            self.run(_cancel_others(), timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


async def _cancel_others() -> None:
    current = asyncio.current_task()
    others = [task for task in asyncio.all_tasks() if task is not current]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)
