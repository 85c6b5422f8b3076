"""A small plant for execution and materials tests, written straight into the tables.

WS-100 (lot-tracked) is made from housing, board, cable, fastener and packaging
(BOM "B1" per unit: 1/1/2/8/1) along routing "R1": 10 assembly (WC-ASSY) → 20 test
(WC-TEST) → 30 pack (WC-PACK), each needing its own skill. BOARD-B is an approved
alternative for BOARD (ratio 1); CABLE-X is not approved for anything.
Users: 1 admin, 2 Olga (certified for all three skills), 3 Tom (assembly certificate
expired on 2026-02-28), 4 Nina (no certificate). The tests' clock is 2026-03-02 06:00 UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TypeVar

from sqlalchemy.orm import Session

from shopfloor.identity.tables import User
from shopfloor.kernel.context import Actor, CommandContext
from shopfloor.masterdata.tables import (
    Bom,
    BomAlternative,
    BomLine,
    Certification,
    DowntimeReason,
    Equipment,
    Item,
    QualityCode,
    Routing,
    RoutingOperation,
    Skill,
    UnitOfMeasure,
)
from shopfloor.materials.tables import Lot
from shopfloor.orders.tables import Operation, OrderComponent, ProductionOrder

T = TypeVar("T")

NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)

# item code → (per unit of WS-100, lot-tracked, tolerance %)
COMPONENTS = {
    "HOUSING": (Decimal(1), False, Decimal(0)),
    "BOARD": (Decimal(1), True, Decimal(0)),
    "CABLE": (Decimal(2), True, Decimal(0)),
    "FASTENER": (Decimal(8), False, Decimal(5)),
    "PACKAGING": (Decimal(1), False, Decimal(0)),
}
ROUTING = (
    (10, "assembly", "WC-ASSY", "assembly"),
    (20, "test", "WC-TEST", "testing"),
    (30, "pack", "WC-PACK", "packing"),
)
# component → operation where it is used
COMPONENT_OPERATION = {"HOUSING": 10, "BOARD": 10, "CABLE": 10, "FASTENER": 10, "PACKAGING": 30}


@dataclass
class Plant:
    items: dict[str, Item] = field(default_factory=dict)
    uom: dict[str, UnitOfMeasure] = field(default_factory=dict)
    centers: dict[str, Equipment] = field(default_factory=dict)
    skills: dict[str, Skill] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    bom: Bom | None = None
    routing: Routing | None = None
    bom_lines: dict[str, BomLine] = field(default_factory=dict)

    def ctx(self, username: str = "olga", now: datetime = NOW) -> CommandContext:
        user = self.users[username]
        actor = Actor(user.id, user.username, user.full_name, frozenset(user.roles))
        return CommandContext(actor=actor, now=now, site="plant-1")


def build_plant(session: Session) -> Plant:
    """Master data of the WS-100 line (see the module docstring); flushed, not committed."""
    plant = Plant()
    plant.uom["pcs"] = _add(session, UnitOfMeasure(code="pcs", name="pieces", dimension="count"))
    plant.uom["m"] = _add(session, UnitOfMeasure(code="m", name="metre", dimension="length"))
    _users(session, plant)
    _items(session, plant)
    _work_centers_and_skills(session, plant)
    _bom_and_routing(session, plant)
    for code, name, kind in (
        ("defective-board", "defective board", "defect"),
        ("scrap-damaged", "damaged in handling", "scrap"),
        ("rework-solder", "re-solder joint", "rework"),
    ):
        _add(session, QualityCode(code=code, name=name, kind=kind))
    _add(session, DowntimeReason(code="material", name="material", level="category", planned=False))
    _add(
        session,
        DowntimeReason(
            code="waiting-for-material", name="waiting for material", level="reason", planned=False
        ),
    )
    _add(
        session,
        DowntimeReason(
            code="planned-maintenance", name="planned maintenance", level="reason", planned=True
        ),
    )
    return plant


def _add(session: Session, row: T) -> T:
    session.add(row)
    session.flush()
    return row


def _users(session: Session, plant: Plant) -> None:
    for username, full_name, roles in (
        ("admin", "Ada Admin", ["admin"]),
        ("olga", "Olga Operator", ["operator"]),
        ("tom", "Tom Trainee", ["operator"]),
        ("nina", "Nina Newcomer", ["operator"]),
        ("sam", "Sam Supervisor", ["supervisor"]),
    ):
        plant.users[username] = _add(
            session,
            User(
                username=username,
                full_name=full_name,
                password_hash="x",
                roles=roles,
                active=True,
                failed_attempts=0,
                created_at=NOW,
            ),
        )


def _items(session: Session, plant: Plant) -> None:
    pcs = plant.uom["pcs"].id
    plant.items["WS-100"] = _add(
        session,
        Item(
            code="WS-100",
            name="weather station",
            uom_id=pcs,
            lot_tracked=True,
            serial_tracked=False,
            attributes={},
            updated_at=NOW,
        ),
    )
    for code, (_, lot_tracked, _) in COMPONENTS.items():
        plant.items[code] = _add(
            session,
            Item(
                code=code,
                name=code.lower(),
                uom_id=pcs,
                lot_tracked=lot_tracked,
                serial_tracked=False,
                attributes={},
                updated_at=NOW,
            ),
        )
    for code in ("BOARD-B", "CABLE-X"):
        plant.items[code] = _add(
            session,
            Item(
                code=code,
                name=code.lower(),
                uom_id=pcs,
                lot_tracked=False,
                serial_tracked=False,
                attributes={},
                updated_at=NOW,
            ),
        )


def _work_centers_and_skills(session: Session, plant: Plant) -> None:
    site = _add(session, Equipment(code="SITE-1", name="plant 1", level="site", active=True))
    for _, _, center, skill in ROUTING:
        plant.centers[center] = _add(
            session,
            Equipment(
                code=center,
                name=center.lower(),
                level="work_center",
                parent_id=site.id,
                active=True,
            ),
        )
        plant.skills[skill] = _add(session, Skill(code=skill, name=skill))
    for skill in plant.skills.values():
        _add(
            session,
            Certification(
                user_id=plant.users["olga"].id,
                skill_id=skill.id,
                valid_from=date(2025, 1, 1),
                expires_on=None,
                revoked=False,
            ),
        )
    _add(
        session,
        Certification(
            user_id=plant.users["tom"].id,
            skill_id=plant.skills["assembly"].id,
            valid_from=date(2025, 3, 1),
            expires_on=date(2026, 2, 28),
            revoked=False,
        ),
    )


def _bom_and_routing(session: Session, plant: Plant) -> None:
    product = plant.items["WS-100"]
    plant.bom = _add(
        session,
        Bom(
            item_id=product.id,
            version="B1",
            quantity=Decimal(1),
            effective_from=date(2026, 1, 1),
            recorded_at=NOW,
        ),
    )
    for line_no, (code, (per_unit, _, tolerance)) in enumerate(COMPONENTS.items(), start=1):
        plant.bom_lines[code] = _add(
            session,
            BomLine(
                bom_id=plant.bom.id,
                line_no=line_no * 10,
                item_id=plant.items[code].id,
                quantity=per_unit,
                uom_id=plant.uom["pcs"].id,
                tolerance_pct=tolerance,
                operation_no=COMPONENT_OPERATION[code],
            ),
        )
    _add(
        session,
        BomAlternative(
            bom_line_id=plant.bom_lines["BOARD"].id,
            item_id=plant.items["BOARD-B"].id,
            ratio=Decimal(1),
        ),
    )
    plant.routing = _add(
        session,
        Routing(item_id=product.id, version="R1", effective_from=date(2026, 1, 1), recorded_at=NOW),
    )
    for number, name, center, skill in ROUTING:
        _add(
            session,
            RoutingOperation(
                routing_id=plant.routing.id,
                operation_no=number,
                name=name,
                work_center_id=plant.centers[center].id,
                setup_minutes=Decimal(10),
                ideal_cycle_seconds=Decimal(60),
                required_skill_id=plant.skills[skill].id,
            ),
        )


def make_order(
    session: Session,
    plant: Plant,
    *,
    erp_order_id: str = "PO-4711",
    quantity: Decimal | int = 20,
    erp_status: str = "released",
    execution_status: str = "dispatched",
) -> ProductionOrder:
    """An order of WS-100 with its operations (dispatched with the order) and execution BOM."""
    assert plant.bom is not None and plant.routing is not None
    amount = Decimal(quantity)
    order = _add(
        session,
        ProductionOrder(
            erp_order_id=erp_order_id,
            erp_version=1,
            origin="erp",
            site="plant-1",
            item_id=plant.items["WS-100"].id,
            quantity=amount,
            uom_id=plant.uom["pcs"].id,
            due_date=date(2026, 3, 6),
            priority=5,
            bom_id=plant.bom.id,
            routing_id=plant.routing.id,
            erp_status=erp_status,
            execution_status=execution_status,
            received_at=NOW,
            released_at=NOW if execution_status != "queued" else None,
        ),
    )
    op_status = "queued" if execution_status == "queued" else "dispatched"
    for number, name, center, skill in ROUTING:
        _add(
            session,
            Operation(
                order_id=order.id,
                operation_no=number,
                name=name,
                work_center_id=plant.centers[center].id,
                required_skill_id=plant.skills[skill].id,
                setup_minutes=Decimal(10),
                ideal_cycle_seconds=Decimal(60),
                status=op_status,
            ),
        )
    for code, line in plant.bom_lines.items():
        _add(
            session,
            OrderComponent(
                order_id=order.id,
                line_no=line.line_no,
                bom_line_id=line.id,
                item_id=plant.items[code].id,
                norm_quantity=line.quantity * amount,
                uom_id=line.uom_id,
                tolerance_pct=line.tolerance_pct,
                operation_no=line.operation_no,
            ),
        )
    return order


def receive_lot(
    session: Session,
    plant: Plant,
    item_code: str,
    lot_code: str,
    *,
    status: str = "released",
    expires_on: date | None = None,
) -> Lot:
    """A lot received from ERP, written straight into the table (no event)."""
    return _add(
        session,
        Lot(
            code=lot_code,
            item_id=plant.items[item_code].id,
            status=status,
            origin="erp_receipt",
            expires_on=expires_on,
            created_at=NOW,
        ),
    )
