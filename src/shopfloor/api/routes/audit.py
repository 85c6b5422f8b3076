"""The audit trail of a record and the chain check."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel

from shopfloor.api.deps import ReadSession, require
from shopfloor.api.schemas import AuditEntryOut
from shopfloor.audit import service as audit
from shopfloor.audit.tables import AuditEntry
from shopfloor.kernel.context import Actor

router = APIRouter(tags=["audit"])


class ChainCheck(BaseModel):
    entries: int
    intact: bool
    problems: list[str]


@router.get("/audit/verify", response_model=ChainCheck, summary="Check the audit hash chain")
def verify_chain(session: ReadSession, actor: Annotated[Actor, require("quality")]) -> ChainCheck:
    count, breaks = audit.verify(session)
    return ChainCheck(
        entries=count, intact=not breaks, problems=[f"entry {b.seq}: {b.problem}" for b in breaks]
    )


@router.get(
    "/audit/{entity_type}/{entity_id}",
    response_model=list[AuditEntryOut],
    summary="Audit trail of one record (who, what, when, old, new, why)",
)
def record_trail(
    session: ReadSession,
    actor: Annotated[Actor, require("supervisor", "quality")],
    entity_type: Annotated[str, Path(max_length=64)],
    entity_id: Annotated[str, Path(max_length=64)],
) -> list[AuditEntry]:
    return audit.trail(session, entity_type, entity_id)
