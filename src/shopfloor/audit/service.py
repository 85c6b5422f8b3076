"""Append audit entries inside the command's transaction; seal and verify the chain.

Entries are appended without their hashes so concurrent commands never queue behind one
lock. The sealer gives every committed, unsealed entry its place in the chain in the order it
finds them (one sealer at a time: an advisory lock on PostgreSQL, the write lock on SQLite).
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any, cast

import orjson
from sqlalchemy import Table, bindparam, func, select, text, update
from sqlalchemy.orm import Session

from shopfloor.audit.domain import GENESIS, ChainBreak, SealedEntry, entry_hash, verify_chain
from shopfloor.audit.tables import CONTENT, AuditChainHead, AuditEntry, content_of
from shopfloor.kernel.context import CommandContext
from shopfloor.platform import deferred, direct
from shopfloor.platform.db import to_json

SEAL_LOCK_KEY = 74_110_001
SEAL_BATCH = 5000
_AUDIT = cast(Table, AuditEntry.__table__)


def record(
    session: Session,
    ctx: CommandContext,
    action: str,
    entity_type: str,
    entity_id: object,
    *,
    old: Any = None,
    new: Any = None,
    reason: str | None = None,
) -> None:
    """Append who did what to which record, with old and new value and the reason.

    Deferred to the end of the command (nothing in it needs the entry's id), where it is
    written with the command's other such rows in one round trip."""
    deferred.defer(
        session,
        _AUDIT,
        {
            "recorded_at": ctx.now,
            "actor_id": ctx.actor.user_id,
            "actor_name": ctx.actor.full_name,
            "action": action,
            "entity_type": entity_type,
            "entity_id": str(entity_id),
            "old_value": _plain(old),
            "new_value": _plain(new),
            "reason": reason,
        },
    )
    session.info["audit_appended"] = appended(session) + 1


def appended(session: Session) -> int:
    """How many audit entries the session has appended: a command that appended none changed
    nothing (how an import tells an updated record from one sent again unchanged)."""
    return int(session.info.get("audit_appended", 0))


def _plain(value: Any) -> Any:
    return None if value is None else orjson.loads(to_json(value))


def seal(session: Session, *, wait: bool = True) -> int:
    """Chain every committed entry not yet sealed; returns how many were sealed. With
    `wait=False` a sealer that finds another at work leaves the round to it (the server's
    processes each run one: the others would only queue behind it, holding a connection,
    to find nothing left)."""
    if session.get_bind().dialect.name == "postgresql":
        taken = session.execute(_LOCK if wait else _TRY_LOCK, {"k": SEAL_LOCK_KEY}).scalar()
        if taken is False:  # the waiting lock returns nothing
            return 0
    last = session.execute(
        select(AuditEntry.seq, AuditEntry.hash)
        .where(AuditEntry.seq.is_not(None))
        .order_by(AuditEntry.seq.desc())
        .limit(1)
    ).first()
    seq: int = last[0] if last and last[0] is not None else 0
    previous: str = last[1] if last and last[1] is not None else GENESIS
    sealed = 0
    while True:
        batch = [_Unsealed(*row) for row in direct.rows(session, _UNSEALED)]
        if not batch:
            if sealed:
                _move_head(session, seq, previous)
            return sealed
        seals = []
        for entry in batch:
            seq += 1
            content = content_of(entry)
            digest = entry_hash(previous, seq, content)
            seals.append({"entry": content["id"], "at": seq, "after": previous, "digest": digest})
            previous = digest
        _write_seals(session, seals)
        sealed += len(batch)


_Unsealed = namedtuple("_Unsealed", CONTENT)  # type: ignore[misc]  # the row, by name


def _write_seals(session: Session, seals: list[dict[str, Any]]) -> None:
    """The batch's seals in one statement on PostgreSQL (the rows as arrays), one
    executemany elsewhere; not the unit of work."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        connection.execute(_SEAL, seals)
        return
    columns = {key: [seal[key] for seal in seals] for key in ("entry", "at", "after", "digest")}
    connection.execute(_SEAL_ALL, columns)


_LOCK = text("SELECT pg_advisory_xact_lock(:k)")
_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:k)")
# Rows, not entities: sealing runs all day beside the commands, and loading thousands of
# entries into the session and flushing them back cost it several times what this does.
_UNSEALED = (
    select(*(getattr(AuditEntry, name) for name in CONTENT))
    .where(AuditEntry.seq.is_(None))
    .order_by(AuditEntry.id)
    .limit(SEAL_BATCH)
)
_SEAL_ALL = text(
    "UPDATE audit_entry SET seq = v.at, prev_hash = v.after, hash = v.digest"
    " FROM unnest(CAST(:entry AS bigint[]), CAST(:at AS bigint[]),"
    " CAST(:after AS varchar[]), CAST(:digest AS varchar[])) AS v(entry, at, after, digest)"
    " WHERE audit_entry.id = v.entry"
)
_SEAL = (
    update(AuditEntry)
    .where(AuditEntry.id == bindparam("entry"))
    .values(seq=bindparam("at"), prev_hash=bindparam("after"), hash=bindparam("digest"))
)


def _move_head(session: Session, seq: int, hash_: str) -> None:
    head = session.get(AuditChainHead, 1)
    if head is None:
        session.add(AuditChainHead(id=1, seq=seq, hash=hash_))
    else:
        head.seq, head.hash = seq, hash_
    session.flush()


def verify(session: Session) -> tuple[int, list[ChainBreak]]:
    """Walk the whole sealed chain; returns the number of entries and every break found."""
    rows = session.scalars(
        select(AuditEntry).where(AuditEntry.seq.is_not(None)).order_by(AuditEntry.seq)
    )
    entries = [SealedEntry(e.seq or 0, e.prev_hash or "", e.hash or "", e.content()) for e in rows]
    breaks = verify_chain(entries)
    head = session.get(AuditChainHead, 1)
    last = entries[-1] if entries else None
    if head is not None and (last is None or (last.seq, last.hash) != (head.seq, head.hash)):
        breaks.append(ChainBreak(head.seq, "the newest sealed entries were removed or altered"))
    return len(entries), breaks


def unsealed_count(session: Session) -> int:
    return session.scalar(select(func.count()).where(AuditEntry.seq.is_(None))) or 0


def trail(session: Session, entity_type: str, entity_id: object) -> list[AuditEntry]:
    """The audit trail of one record, oldest first."""
    return list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.entity_type == entity_type, AuditEntry.entity_id == str(entity_id))
            .order_by(AuditEntry.id)
        )
    )
