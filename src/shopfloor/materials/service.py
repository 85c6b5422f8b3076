"""Material use cases: lots, serial numbers and the append-only move ledger. Never commits.

The commands live in `lots` and `ledger`; this module is where callers find them all.
"""

from __future__ import annotations

from shopfloor.materials.ledger import (
    EVENT_OF_KIND,
    load_move,
    order_totals,
    record_move,
    reverse_move,
)
from shopfloor.materials.lots import (
    LotState,
    find_lot,
    find_serial,
    lot_head,
    register_lot,
    register_serial,
    set_lot_status,
)

__all__ = [
    "EVENT_OF_KIND",
    "LotState",
    "find_lot",
    "find_serial",
    "load_move",
    "lot_head",
    "order_totals",
    "record_move",
    "register_lot",
    "register_serial",
    "reverse_move",
    "set_lot_status",
]
