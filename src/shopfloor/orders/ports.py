"""What orders need to know from packages above them, as `Protocol`s wired by `bootstrap.py`.

Equipment under maintenance is out of dispatch: its operations leave the dispatch list and
cannot be started until the maintenance ends. Maintenance belongs to machines, which sits
above orders and execution; they ask through this port instead of importing it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopfloor.kernel.errors import RuleViolation
from shopfloor.masterdata.tables import Equipment


class MaintenanceBoard(Protocol):
    def __call__(self, session: Session, at: datetime) -> frozenset[str]:
        """The codes of the equipment under maintenance at `at`."""
        ...


def _nothing_under_maintenance(session: Session, at: datetime) -> frozenset[str]:
    return frozenset()


_board: MaintenanceBoard = _nothing_under_maintenance


def wire_maintenance(board: MaintenanceBoard) -> None:
    """Called once by the composition root."""
    global _board
    _board = board


def out_of_dispatch(session: Session, at: datetime) -> frozenset[int]:
    """Ids of the equipment out of dispatch at `at`: under maintenance itself, or inside
    a line, area or site that is (a line in maintenance stops every work center on it)."""
    codes = _board(session, at)
    if not codes:
        return frozenset()
    rows = session.execute(select(Equipment.id, Equipment.parent_id, Equipment.code)).all()
    parent = {row.id: row.parent_id for row in rows}
    stopped = {row.id for row in rows if row.code in codes}
    out = set()
    for equipment_id in parent:
        node: int | None = equipment_id
        while node is not None and node not in stopped:
            node = parent.get(node)
        if node is not None:
            out.add(equipment_id)
    return frozenset(out)


def check_in_dispatch(session: Session, work_center: Equipment, at: datetime) -> None:
    """Refuse work on a work center that is out of dispatch for maintenance."""
    if work_center.id in out_of_dispatch(session, at):
        raise RuleViolation(
            f"{work_center.code} is under maintenance: it is out of dispatch until the "
            "maintenance ends"
        )
