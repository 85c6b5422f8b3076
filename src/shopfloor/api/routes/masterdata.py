"""Master data: units, the equipment hierarchy, items with their BOM and routing versions.

Writes are upserts keyed on the plant's codes (sending the same record again changes
nothing); planners and admins write, every role reads. Skills, calendars, crews and the
reason and quality code lists are in `masterdata_people`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from shopfloor.api import reads
from shopfloor.api.deps import Command, ReadSession, require
from shopfloor.api.schemas_fields import EVERY_ROLE, CodePath
from shopfloor.api.schemas_masterdata import (
    BomIn,
    BomOut,
    EquipmentIn,
    EquipmentNodeOut,
    EquipmentOut,
    ItemIn,
    ItemOut,
    RoutingIn,
    RoutingOut,
    UomConversionIn,
    UomConversionOut,
    UomIn,
    UomOut,
)
from shopfloor.kernel.context import Actor
from shopfloor.masterdata import queries
from shopfloor.masterdata import service as masterdata
from shopfloor.masterdata.domain import AlternativeSpec, BomLineSpec, OperationSpec
from shopfloor.masterdata.tables import UnitOfMeasure

router = APIRouter(tags=["master data"])

Planner = Annotated[Actor, require("planner")]
Anyone = Annotated[Actor, require(*EVERY_ROLE)]


# --- units --------------------------------------------------------------------------------


@router.post("/uoms", response_model=UomOut, summary="Create or change a unit of measure")
async def upsert_uom(body: UomIn, run: Command, actor: Planner) -> JSONResponse:
    """A unit (pcs, kg, m …) and the dimension it measures. The dimension of a unit that
    conversions already use cannot change (409)."""
    return await run(
        actor,
        lambda s, ctx: masterdata.upsert_uom(
            s, ctx, code=body.code, name=body.name, dimension=body.dimension
        ),
        UomOut,
    )


@router.get("/uoms", response_model=list[UomOut], summary="List units of measure")
def list_uoms(session: ReadSession, actor: Anyone) -> list[UnitOfMeasure]:
    """Every unit of measure with the dimension it measures, by code."""
    return queries.list_uoms(session)


@router.post(
    "/uom-conversions", response_model=UomConversionOut, summary="Record a unit conversion"
)
async def upsert_uom_conversion(
    body: UomConversionIn, run: Command, actor: Planner
) -> JSONResponse:
    """`1 from_uom = factor * to_uom`, for every item (same dimension only: kg ↔ g) or for one
    item (across dimensions: 1 box = 12 pcs). The inverse direction is derived, never stored
    twice."""
    return await run(
        actor,
        lambda s, ctx: masterdata.upsert_uom_conversion(
            s,
            ctx,
            from_uom_code=body.from_uom,
            to_uom_code=body.to_uom,
            factor=body.factor,
            item_code=body.item_code,
        ),
        lambda row: UomConversionOut(
            id=row.id,
            from_uom=body.from_uom,
            to_uom=body.to_uom,
            factor=row.factor,
            item_code=body.item_code,
        ),
    )


# --- equipment hierarchy ------------------------------------------------------------------


@router.post("/equipment", response_model=EquipmentOut, summary="Create or change equipment")
async def upsert_equipment(body: EquipmentIn, run: Command, actor: Planner) -> JSONResponse:
    """A node of the ISA-95 hierarchy: enterprise → site → area → line → work center →
    equipment. Each node sits exactly one level below its parent; only an enterprise has
    none. A calendar gives the node its shifts."""
    return await run(
        actor,
        lambda s, ctx: masterdata.upsert_equipment(
            s,
            ctx,
            code=body.code,
            name=body.name,
            level=body.level,
            parent_code=body.parent_code,
            calendar_code=body.calendar_code,
        ),
        lambda row: EquipmentOut(
            id=row.id,
            code=row.code,
            name=row.name,
            level=row.level,
            parent_code=body.parent_code,
            calendar_code=body.calendar_code,
            active=row.active,
        ),
    )


@router.get("/equipment", response_model=list[EquipmentNodeOut], summary="The equipment hierarchy")
def equipment_tree(session: ReadSession, actor: Anyone) -> list[queries.EquipmentNode]:
    """The whole plant as a tree, from each enterprise down to single machines."""
    return queries.equipment_tree(session)


@router.get("/work-centers", response_model=list[EquipmentNodeOut], summary="List work centers")
def list_work_centers(session: ReadSession, actor: Anyone) -> list[queries.EquipmentNode]:
    """Every work center with its line and the equipment below it."""
    return queries.list_work_centers(session)


# --- items --------------------------------------------------------------------------------


@router.post("/items", response_model=ItemOut, summary="Create or change an item")
async def upsert_item(body: ItemIn, run: Command, actor: Planner) -> JSONResponse:
    """The cached copy of an ERP item, with its unit, whether it is tracked by lot or serial
    number, and local attributes (line code, label template)."""
    return await run(
        actor,
        lambda s, ctx: masterdata.upsert_item(
            s,
            ctx,
            code=body.code,
            name=body.name,
            uom_code=body.uom_code,
            lot_tracked=body.lot_tracked,
            serial_tracked=body.serial_tracked,
            erp_version=body.erp_version,
            attributes=body.attributes,
        ),
        lambda row: ItemOut(
            code=row.code,
            name=row.name,
            uom_code=body.uom_code,
            lot_tracked=row.lot_tracked,
            serial_tracked=row.serial_tracked,
            erp_version=row.erp_version,
            attributes=dict(row.attributes or {}),
        ),
    )


@router.get("/items", response_model=list[ItemOut], summary="List items")
def list_items(session: ReadSession, actor: Anyone) -> list[queries.ItemEntry]:
    """Every item cached from ERP, by code, with its unit and tracking."""
    return queries.list_items(session)


@router.get("/items/{code}", response_model=ItemOut, summary="One item")
def get_item(code: CodePath, session: ReadSession, actor: Anyone) -> queries.ItemEntry:
    """The item with this code (404 when ERP has not sent it)."""
    return reads.item_entry(session, code)


@router.post("/items/{code}/boms", response_model=BomOut, summary="Record a BOM version")
async def upsert_bom(code: CodePath, body: BomIn, run: Command, actor: Planner) -> JSONResponse:
    """A BOM version of the item: the components per `quantity` of it, with tolerances and
    approved substitutes. A recorded version never changes its composition (409: send a new
    version); only its effective window may move. Facts keep pointing at the version they
    were recorded against."""
    lines = [
        BomLineSpec(
            line_no=line.line_no,
            item_code=line.item_code,
            quantity=line.quantity,
            uom_code=line.uom_code,
            tolerance_pct=line.tolerance_pct,
            operation_no=line.operation_no,
            alternatives=tuple(AlternativeSpec(a.item_code, a.ratio) for a in line.alternatives),
        )
        for line in body.lines
    ]
    return await run(
        actor,
        lambda s, ctx: reads.bom_view(
            s,
            code,
            masterdata.upsert_bom_version(
                s,
                ctx,
                item_code=code,
                version=body.version,
                quantity=body.quantity,
                effective_from=body.effective_from,
                effective_to=body.effective_to,
                lines=lines,
            ),
        ),
        BomOut,
    )


@router.get("/items/{code}/boms", response_model=list[BomOut], summary="BOM versions of an item")
def list_boms(code: CodePath, session: ReadSession, actor: Anyone) -> list[reads.BomView]:
    """Every recorded BOM version of the item with its lines, oldest effective first."""
    return reads.boms_of_item(session, code)


@router.post(
    "/items/{code}/routings", response_model=RoutingOut, summary="Record a routing version"
)
async def upsert_routing(
    code: CodePath, body: RoutingIn, run: Command, actor: Planner
) -> JSONResponse:
    """A routing version of the item: its operations in order, each at a work center with
    setup and ideal cycle times and the skill an operator needs. Immutable like a BOM
    version: only the effective window may move."""
    operations = [
        OperationSpec(
            operation_no=op.operation_no,
            name=op.name,
            work_center_code=op.work_center_code,
            setup_minutes=op.setup_minutes,
            ideal_cycle_seconds=op.ideal_cycle_seconds,
            required_skill_code=op.required_skill_code,
        )
        for op in body.operations
    ]
    return await run(
        actor,
        lambda s, ctx: reads.routing_view(
            s,
            code,
            masterdata.upsert_routing_version(
                s,
                ctx,
                item_code=code,
                version=body.version,
                effective_from=body.effective_from,
                effective_to=body.effective_to,
                operations=operations,
            ),
        ),
        RoutingOut,
    )


@router.get(
    "/items/{code}/routings",
    response_model=list[RoutingOut],
    summary="Routing versions of an item",
)
def list_routings(code: CodePath, session: ReadSession, actor: Anyone) -> list[reads.RoutingView]:
    """Every recorded routing version of the item with its operations."""
    return reads.routings_of_item(session, code)
