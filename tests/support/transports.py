"""A transport for relay tests: records what it is given, fails while told to."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import timedelta

from shopfloor.integration.messages import Outcome, Outgoing
from shopfloor.integration.subscribers import Subscriber


class FakeTransport:
    """Records what it was given; fails while `failing` is set."""

    def __init__(self, subscriber: Subscriber) -> None:
        self.subscriber = subscriber
        self.received: list[Outgoing] = []
        self.failing: str | None = None
        self._lock = threading.Lock()

    async def send(
        self, messages: Sequence[Outgoing], send_before: float | None = None
    ) -> list[Outcome]:
        if self.failing:
            return [Outcome.failed(m, self.failing) for m in messages]
        with self._lock:
            self.received.extend(messages)
        return [Outcome.delivered(m) for m in messages]

    def duplicate_window(self) -> timedelta | None:
        return None

    async def find_stored(self, messages: Sequence[Outgoing]) -> dict[str, bool | None]:
        return {}

    async def close(self) -> None:
        return None

    def ids(self) -> list[str]:
        return [m.message_id for m in self.received]
