"""The ERP transport: outbox messages handed to an ERP adapter (`erp/ports.py`).

An adapter answers for its own idempotency (it looks a message id up in ERP before posting),
so a resend is always safe and there is no duplicate window to respect.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta

from shopfloor.integration.erp.ports import ErpAdapter, load_adapter
from shopfloor.integration.messages import Outcome, Outgoing
from shopfloor.integration.subscribers import Subscriber


class ErpTransport:
    def __init__(self, subscriber: Subscriber, adapter: ErpAdapter | None = None) -> None:
        self.subscriber = subscriber
        self.adapter = adapter or load_adapter(subscriber.adapter, subscriber.options)

    async def send(
        self, messages: Sequence[Outgoing], send_before: float | None = None
    ) -> list[Outcome]:
        if send_before is not None and time.monotonic() >= send_before:
            return []
        return await self.adapter.post(messages)

    def duplicate_window(self) -> timedelta | None:
        return None

    async def find_stored(self, messages: Sequence[Outgoing]) -> dict[str, bool | None]:
        return {m.message_id: None for m in messages}

    async def close(self) -> None:
        await self.adapter.close()
