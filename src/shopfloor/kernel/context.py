"""Who is acting and when: handed by an entry point to every command."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from shopfloor.kernel.boundary import DEFAULT_BOUNDARY, Boundary
from shopfloor.kernel.clock import utc_now


@dataclass(frozen=True)
class Actor:
    """A signed-in person or integration client."""

    user_id: int
    username: str
    full_name: str
    roles: frozenset[str] = field(default_factory=frozenset)

    def has_any(self, *roles: str) -> bool:
        return "admin" in self.roles or bool(self.roles.intersection(roles))


SYSTEM = Actor(
    user_id=0, username="system", full_name="shopfloor system", roles=frozenset({"admin"})
)


@dataclass(frozen=True)
class CommandContext:
    """The actor, the server time of the command, the site it runs for, and the plant's
    boundary decisions (where orders and lots may originate) the command must respect.
    The boundary defaults to `Boundary()`, so a context built without settings behaves as a
    plant that configured nothing."""

    actor: Actor
    now: datetime = field(default_factory=utc_now)
    site: str = "default"
    boundary: Boundary = DEFAULT_BOUNDARY
