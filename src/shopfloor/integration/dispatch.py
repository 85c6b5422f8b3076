"""Sending one pass's claimed messages: every subscriber at once, each on its transport.

The JetStream rule lives here: a message whose first attempt is older than the stream's
duplicate window minus the safety margin is looked up on the stream before it is published
again. Found: it is settled as delivered without a second publish. Certainly absent: it is
published. Unknowable (the stream has dropped messages from that time): it is dead-lettered
with the reason, for a person to decide (`shopfloor outbox retry` publishes it again).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime

from shopfloor.integration.domain import needs_stream_check
from shopfloor.integration.messages import Outcome, Outgoing
from shopfloor.integration.transports import Transport

UNKNOWABLE = (
    "first attempted before the JetStream duplicate window and the stream no longer holds "
    "messages from that time: it cannot be told whether it was stored; check the consumers, "
    "then `shopfloor outbox retry` to publish it again"
)


async def deliver(
    transports: Mapping[str, Transport],
    messages: Sequence[Outgoing],
    now: datetime,
    send_before: float | None = None,
) -> list[Outcome]:
    """Outcomes for the messages sent; a transport's own crash fails its batch, not the
    pass. Nothing is started after `send_before` (monotonic time, the lease's end)."""
    by_subscriber: dict[str, list[Outgoing]] = {}
    for message in messages:
        by_subscriber.setdefault(message.subscriber, []).append(message)
    results = await asyncio.gather(
        *(
            _deliver_one(transports[name], batch, now, send_before)
            for name, batch in by_subscriber.items()
        ),
        return_exceptions=True,
    )
    outcomes: list[Outcome] = []
    for batch, result in zip(by_subscriber.values(), results, strict=True):
        if isinstance(result, BaseException):
            outcomes += [Outcome.failed(m, f"{type(result).__name__}: {result}") for m in batch]
        else:
            outcomes += result
    return outcomes


async def _deliver_one(
    transport: Transport, messages: list[Outgoing], now: datetime, send_before: float | None
) -> list[Outcome]:
    window = transport.duplicate_window()
    margin = transport.subscriber.window_margin
    suspect = [] if window is None else [
        m for m in messages if needs_stream_check(m.first_attempt_at, now, window, margin)
    ]  # fmt: skip
    outcomes: list[Outcome] = []
    if suspect:
        stored = await transport.find_stored(suspect)
        for message in suspect:
            verdict = stored.get(message.message_id)
            if verdict is True:
                outcomes.append(Outcome.delivered(message))
            elif verdict is None:
                outcomes.append(Outcome.failed(message, UNKNOWABLE, give_up=True))
        settled = {o.message.message_id for o in outcomes}
        messages = [m for m in messages if m.message_id not in settled]
    if messages:
        outcomes += await transport.send(messages, send_before)
    return outcomes
