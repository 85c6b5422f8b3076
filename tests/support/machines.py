"""Equipment and tags for the machine tests, written straight into the tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from shopfloor.kernel.context import Actor, CommandContext
from shopfloor.machines.tag_map import TagSpec, set_tags
from shopfloor.masterdata.tables import Equipment

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
ADMIN = Actor(1, "admin", "Ada Admin", frozenset({"admin"}))


def make_line(session: Session, line: str, machines: Sequence[str]) -> dict[str, int]:
    """site S1 → area A1 → `line` → one equipment per code; returns code → id."""
    site = Equipment(code=f"S-{line}", name="Site", level="site")
    session.add(site)
    session.flush()
    area = Equipment(code=f"A-{line}", name="Area", level="area", parent_id=site.id)
    session.add(area)
    session.flush()
    line_row = Equipment(code=line, name=line, level="line", parent_id=area.id)
    session.add(line_row)
    session.flush()
    ids = {}
    for code in machines:
        machine = Equipment(code=code, name=code, level="work_center", parent_id=line_row.id)
        session.add(machine)
        session.flush()
        ids[code] = machine.id
    return ids


def standard_tags(source: str, address: str, equipment: str) -> list[TagSpec]:
    """State, counters, one context field and a temperature, named as the simulator does."""
    return [
        TagSpec(source, address, "State", equipment, "state"),
        TagSpec(source, address, "Count/Total", equipment, "total"),
        TagSpec(source, address, "Count/Reject", equipment, "reject"),
        TagSpec(source, address, "Product", equipment, "context", "product"),
        TagSpec(source, address, "Temperature", equipment, "value", "temperature"),
    ]


def add_tags(session: Session, specs: Sequence[TagSpec]) -> None:
    set_tags(session, CommandContext(ADMIN, T0, "plant-1"), specs)
