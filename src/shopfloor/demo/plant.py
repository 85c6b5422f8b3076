"""Seeding the demo plant through the same service functions the API and the import use.

One enterprise with one site, one hall and two lines of three work centers each; units,
items, BOM and routing versions; skills, people and their certificates; a two-shift calendar
with breaks and two crews; the downtime reason tree and the quality codes; component lots;
and ten production orders in every execution status (see `demo.floor`).

Seeding is idempotent: every master-data service is an upsert that changes nothing when
sent the same record, people and lots are only added when missing, and an order's floor
scenario is only played while the order is still queued.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from shopfloor.demo import catalog
from shopfloor.demo.floor import seed_orders
from shopfloor.identity import service as identity
from shopfloor.kernel.context import Actor, CommandContext
from shopfloor.kernel.errors import NotFound
from shopfloor.masterdata import queries as md
from shopfloor.masterdata import service as masterdata
from shopfloor.materials import service as materials


@dataclass(frozen=True)
class DemoUser:
    username: str
    full_name: str
    roles: tuple[str, ...]
    password: str


@dataclass(frozen=True)
class DemoPlant:
    """What was seeded: the people to sign in as, and each order's execution status."""

    users: tuple[DemoUser, ...]
    orders: Mapping[str, str]  # ERP order id → execution status


def seed_demo_plant(session: Session, ctx: CommandContext) -> DemoPlant:
    """Seed (or complete) the demo plant in the caller's transaction; never commits."""
    people = _people(session, ctx)
    _units(session, ctx)
    _calendar(session, ctx)
    _equipment(session, ctx)
    _skills(session, ctx)
    _items(session, ctx)
    _codes(session, ctx)
    _crews(session, ctx)
    _versions(session, ctx)
    _lots(session, ctx)
    statuses = seed_orders(session, ctx, people)
    users = tuple(
        DemoUser(username, full_name, roles, catalog.DEMO_PASSWORD)
        for username, full_name, roles in catalog.USERS
    )
    return DemoPlant(users=users, orders=statuses)


def _people(session: Session, ctx: CommandContext) -> dict[str, Actor]:
    """The demo users (added when missing), as actors to act in their names."""
    actors = {}
    for username, full_name, roles in catalog.USERS:
        try:
            user = md.user_by(session, username)
        except NotFound:
            user = identity.add_user(
                session,
                ctx,
                username=username,
                full_name=full_name,
                password=catalog.DEMO_PASSWORD,
                roles=list(roles),
            )
        actors[username] = identity.actor_of(user)
    return actors


def _units(session: Session, ctx: CommandContext) -> None:
    for code, name, dimension in catalog.UNITS:
        masterdata.upsert_uom(session, ctx, code=code, name=name, dimension=dimension)


def _calendar(session: Session, ctx: CommandContext) -> None:
    code, name, timezone = catalog.CALENDAR
    masterdata.upsert_shift_calendar(session, ctx, code=code, name=name, timezone=timezone)
    for shift, shift_name, starts_at, minutes in catalog.SHIFTS:
        masterdata.upsert_shift(
            session,
            ctx,
            calendar_code=code,
            code=shift,
            name=shift_name,
            starts_at=starts_at,
            minutes=minutes,
            weekdays=catalog.WEEKDAYS,
            breaks=catalog.BREAKS,
        )


def _equipment(session: Session, ctx: CommandContext) -> None:
    calendar = catalog.CALENDAR[0]
    for code, name, level, parent in catalog.EQUIPMENT:
        masterdata.upsert_equipment(
            session,
            ctx,
            code=code,
            name=name,
            level=level,
            parent_code=parent,
            calendar_code=calendar if level in ("site", "line", "work_center") else None,
        )


def _skills(session: Session, ctx: CommandContext) -> None:
    for code, name in catalog.SKILLS:
        masterdata.upsert_skill(session, ctx, code=code, name=name)
    for username, skill, valid_from, expires_on in catalog.CERTIFICATIONS:
        masterdata.grant_certification(
            session,
            ctx,
            username=username,
            skill_code=skill,
            valid_from=valid_from,
            expires_on=expires_on,
        )


def _items(session: Session, ctx: CommandContext) -> None:
    for code, name, unit, lot_tracked in catalog.ITEMS:
        masterdata.upsert_item(
            session,
            ctx,
            code=code,
            name=name,
            uom_code=unit,
            lot_tracked=lot_tracked,
            erp_version="1",
        )
    for source, target, factor, item in catalog.CONVERSIONS:
        masterdata.upsert_uom_conversion(
            session, ctx, from_uom_code=source, to_uom_code=target, factor=factor, item_code=item
        )


def _codes(session: Session, ctx: CommandContext) -> None:
    for code, name, level, parent, planned in catalog.DOWNTIME_REASONS:
        masterdata.upsert_downtime_reason(
            session, ctx, code=code, name=name, level=level, parent_code=parent, planned=planned
        )
    for code, name, kind in catalog.QUALITY_CODES:
        masterdata.upsert_quality_code(session, ctx, code=code, name=name, kind=kind)


def _crews(session: Session, ctx: CommandContext) -> None:
    for code, name, shift, members in catalog.CREWS:
        masterdata.upsert_crew(
            session,
            ctx,
            code=code,
            name=name,
            shift_code=shift,
            calendar_code=catalog.CALENDAR[0],
            members=members,
        )


def _versions(session: Session, ctx: CommandContext) -> None:
    for item, version, effective_from, effective_to, lines in catalog.BOMS:
        masterdata.upsert_bom_version(
            session,
            ctx,
            item_code=item,
            version=version,
            quantity=catalog.D(1),
            effective_from=effective_from,
            effective_to=effective_to,
            lines=lines,
        )
    for item, version, effective_from, operations in catalog.ROUTINGS:
        masterdata.upsert_routing_version(
            session,
            ctx,
            item_code=item,
            version=version,
            effective_from=effective_from,
            operations=operations,
        )


def _lots(session: Session, ctx: CommandContext) -> None:
    for item, lot, status in catalog.LOTS:
        materials.register_lot(
            session,
            ctx,
            item_code=item,
            lot_code=lot,
            origin="erp_receipt",
            expires_on=catalog.LOT_EXPIRY,
            status=status,
        )
