"""Putting a simulated plant in place: its equipment (when missing) and its tag map."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopfloor.kernel.context import CommandContext
from shopfloor.machines.simulator import PlantLayout
from shopfloor.machines.tables import MchTagMap
from shopfloor.machines.tag_map import set_tags
from shopfloor.masterdata import service as masterdata
from shopfloor.masterdata.tables import Equipment

SIM_ENTERPRISE, SIM_SITE, SIM_AREA = "SIM", "SIM-SITE", "SIM-AREA"


def install_layout(session: Session, ctx: CommandContext, layout: PlantLayout) -> int:
    """Create the lines and machines the layout names that do not exist yet (under a
    simulated enterprise, site and area) and the tags that are missing; returns the
    number of tags added. Existing equipment (the demo plant's) is used as it is."""
    known = set(session.scalars(select(Equipment.code)))
    for line, machines in layout.lines:
        if line not in known:
            _ensure_area(session, ctx, known)
            masterdata.upsert_equipment(
                session, ctx, code=line, name=f"Simulated {line}", level="line",
                parent_code=SIM_AREA,
            )  # fmt: skip
        for code in machines:
            if code not in known:
                masterdata.upsert_equipment(
                    session, ctx, code=code, name=f"Simulated machine {code}",
                    level="work_center", parent_code=line,
                )  # fmt: skip
    present = set(session.execute(select(MchTagMap.source, MchTagMap.address, MchTagMap.metric)))
    missing = [t for t in layout.tags() if (t.source, t.address, t.metric) not in present]
    set_tags(session, ctx, missing)
    return len(missing)


def _ensure_area(session: Session, ctx: CommandContext, known: set[str]) -> None:
    chain = ((SIM_ENTERPRISE, "enterprise", None), (SIM_SITE, "site", SIM_ENTERPRISE),
             (SIM_AREA, "area", SIM_SITE))  # fmt: skip
    for code, level, parent in chain:
        if code not in known:
            masterdata.upsert_equipment(
                session, ctx, code=code, name=f"Simulated {level}", level=level,
                parent_code=parent,
            )  # fmt: skip
            known.add(code)
