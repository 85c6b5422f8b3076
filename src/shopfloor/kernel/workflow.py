"""State machines as data: a table of allowed transitions and one check."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shopfloor.kernel.errors import InvalidTransition


@dataclass(frozen=True)
class Workflow:
    """Allowed transitions of one kind of record, keyed by the command's name."""

    subject: str
    transitions: Mapping[str, tuple[frozenset[str], str]]

    def target(self, command: str, current: str) -> str:
        """The status `command` leads to from `current`, or InvalidTransition."""
        if command not in self.transitions:
            raise InvalidTransition(f"{self.subject}: unknown command '{command}'")
        sources, target = self.transitions[command]
        if current not in sources:
            allowed = " or ".join(sorted(sources))
            article = "an" if self.subject[:1] in "aeiou" else "a"
            raise InvalidTransition(
                f"Cannot {command.replace('_', ' ')} {article} {self.subject} that is "
                f"{current}; only {article} {self.subject} that is {allowed} can be.",
                current=current,
                command=command,
            )
        return target

    def can(self, command: str, current: str) -> bool:
        sources, _ = self.transitions.get(command, (frozenset(), ""))
        return current in sources

    @property
    def statuses(self) -> frozenset[str]:
        found: set[str] = set()
        for sources, target in self.transitions.values():
            found.update(sources)
            found.add(target)
        return frozenset(found)


def transitions(**table: tuple[tuple[str, ...], str]) -> dict[str, tuple[frozenset[str], str]]:
    """Build a transition table: `start=(("dispatched", "queued"), "running")`."""
    return {name: (frozenset(sources), target) for name, (sources, target) in table.items()}
