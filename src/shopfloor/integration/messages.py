"""What travels: one message to one subscriber, and what became of sending it.

Plain data handed between the sync core (claim, settle) and the async transports: named
tuples, because the relay makes one of each per event and message, and a tuple costs a
third of a frozen dataclass to make.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple


class Outgoing(NamedTuple):
    """A message claimed for one subscriber: one event, or an aggregate of several.

    `lead` is the delivery row that carries the attempts (the event's own row, or the
    newest row of an aggregated group); `first_attempt_at` is when an earlier attempt was
    first made (None on the first try), which the JetStream window rule needs.
    """

    subscriber: str
    message_id: str
    event_type: str
    site: str
    body: bytes
    lead: int
    attempts: int
    first_attempt_at: datetime | None
    aggregated: bool = False
    fresh: bool = False  # a first attempt claimed through `int_claim`, no row yet


class Outcome(NamedTuple):
    """The receiver's answer: acknowledged, failed (try again later), or `give_up` (a
    failure that no retry can fix, dead-lettered at once with its reason)."""

    message: Outgoing
    ok: bool
    error: str | None = None
    give_up: bool = False

    @classmethod
    def delivered(cls, message: Outgoing) -> Outcome:
        return cls(message, True)

    @classmethod
    def failed(cls, message: Outgoing, error: str, *, give_up: bool = False) -> Outcome:
        return cls(message, False, error[:2000], give_up)
