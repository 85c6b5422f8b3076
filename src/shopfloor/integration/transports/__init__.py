"""Transports: how a message reaches a subscriber. Async, living on the relay's edge loop.

A transport sends a batch and answers one `Outcome` per message it sent; it never raises
for a receiver's failure (that is an outcome to retry). A message it could only start after
`send_before` (a `time.monotonic()` instant near the end of the batch's lease, when another
relay may take the rows over) is not sent and has no outcome: it stays claimed till then.
`find_stored` is for transports with a log of their own (NATS JetStream): which messages
already made it, when that is knowable.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol

from shopfloor.integration.messages import Outcome, Outgoing
from shopfloor.integration.subscribers import Subscriber


class Transport(Protocol):
    subscriber: Subscriber

    async def send(
        self, messages: Sequence[Outgoing], send_before: float | None = None
    ) -> list[Outcome]: ...

    def duplicate_window(self) -> timedelta | None:
        """How long the receiver itself drops a repeated message id; None: forever
        (the receiver deduplicates), so resending is always safe."""
        ...

    async def find_stored(self, messages: Sequence[Outgoing]) -> dict[str, bool | None]:
        """Per message id: stored already (True), certainly not (False), unknowable (None)."""
        ...

    async def close(self) -> None: ...


def transport_for(subscriber: Subscriber) -> Transport:
    """The transport a subscriber's configuration names."""
    if subscriber.transport == "erp":
        from shopfloor.integration.transports.erp import ErpTransport

        return ErpTransport(subscriber)
    if subscriber.transport == "nats":
        from shopfloor.integration.transports.nats import NatsTransport

        return NatsTransport(subscriber)
    from shopfloor.integration.transports.webhook import WebhookTransport

    return WebhookTransport(subscriber)
